//! The `close()`, `dup2()` and `dup3()` detours: they only keep `fds` right
//! when a descriptor number stops naming the socket the shim converted.
//! Cost: one bounds check and one atomic load (a second atomic operation
//! only when the number was tracked).

use crate::{fds, real};
use libc::c_int;

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn close(fd: c_int) -> c_int {
    // Before closing: afterwards the number may already be someone else's.
    fds::forget(fd);
    real::close(fd)
}

/// `dup2(old, new)` closes what `new` named (unless it equals `old`).
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new {
        fds::forget(new);
    }
    real::dup2(old, new)
}

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        fds::forget(new);
    }
    real::dup3(old, new, flags)
}
