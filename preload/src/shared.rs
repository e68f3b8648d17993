//! Sockets shared before their connection is decided are never swapped.
//!
//! A swap replaces what one descriptor number refers to. A duplicate made
//! before it (`dup`, `dup2`/`dup3` onto another number, `F_DUPFD`, a copy
//! sent with `SCM_RIGHTS`, or the child's copy after `fork()`) would keep
//! referring to the MPTCP socket while the program believes both are one
//! socket. So the moment a converted, undecided socket is shared, the shim
//! forgets it (`fds`): it stays MPTCP, which always works.
//!
//! What the shim cannot see (raw system calls, `vfork`/`posix_spawn`/`clone`
//! children that inherit a descriptor without close-on-exec, `pidfd_getfd`
//! from another process) is listed in the README with the rule that applies.

use crate::{config, debug_log, fds, registrations};
use libc::c_int;

/// `fd` is being shared by `call`: never swap it. Cheap when `fd` is not a
/// converted, undecided socket (one load).
#[inline]
pub fn pin(fd: c_int, call: &str) {
    if fds::is_converted(fd) {
        pin_tracked(fd, call, "shared before its connection was decided");
    }
}

/// Forgets a tracked `fd` for `why` and says so in the debug log.
#[cold]
#[inline(never)]
pub fn pin_tracked(fd: c_int, call: &str, why: &str) {
    if fds::take(fd) && config::debug() {
        debug_log::swap(fd, call, None, why, Err(crate::swap::Failure::Kept));
    }
}

/// Registered with `pthread_atfork` for both sides of `fork()`: after it,
/// every undecided socket is shared between parent and child.
pub extern "C" fn after_fork() {
    fds::forget_all();
    registrations::forget_all();
}

/// Registers `after_fork`. Called once from the load-time constructor.
pub fn watch_forks() {
    // SAFETY: registers plain functions with no preconditions.
    unsafe { libc::pthread_atfork(None, Some(after_fork), Some(after_fork)) };
}
