//! The `dup()`, `dup2()` and `dup3()` detours. A converted, undecided
//! socket that gets a second number is shared and stays MPTCP (`shared`);
//! a number that `dup2`/`dup3` overwrite no longer names the socket the shim
//! converted (`fds`). Cost otherwise: one or two bounds checks and loads.

use crate::{fds, real, shared};
use libc::c_int;

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn dup(old: c_int) -> c_int {
    shared::pin(old, "dup");
    real::dup(old)
}

/// `dup2(old, new)` closes what `new` named (unless it equals `old`).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new {
        shared::pin(old, "dup2");
        fds::forget(new);
    }
    real::dup2(old, new)
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        shared::pin(old, "dup3");
        fds::forget(new);
    }
    real::dup3(old, new, flags)
}
