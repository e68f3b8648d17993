//! The `fcntl()` and `fcntl64()` detours: `F_DUPFD` and `F_DUPFD_CLOEXEC`
//! share a converted, undecided socket, which then stays MPTCP (`shared`).
//! Every other command passes straight through; what they set on the
//! socket (owner, signal, `O_ASYNC`, `O_NONBLOCK`) is read back and carried
//! by a swap (`swap`).
//!
//! `fcntl` is variadic in C. Its optional third argument travels in the
//! same register or stack slot as a fixed `usize` argument would on the
//! System V ABIs Linux uses, so the detour declares it as one.

use crate::{real, shared};
use libc::c_int;

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    detour(fd, cmd, arg)
}

/// What programs built with `_FILE_OFFSET_BITS=64` call; the same function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    detour(fd, cmd, arg)
}

/// Both detours. A Rust function, not the exported `fcntl`: a call to that
/// from here would go through a symbol lookup the loader makes in every
/// process (it may be interposed).
#[inline(always)]
fn detour(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        shared::pin(fd, "fcntl");
    }
    real::fcntl(fd, cmd, arg)
}
