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

use crate::{config, debug_log, fds, registrations, report};
use libc::c_int;

/// `fd` is being shared by `call`: never swap it. Cheap when `fd` is not a
/// converted, undecided socket (one load).
#[inline(always)]
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

/// Run in the parent after `fork()`: every undecided socket is now shared
/// with the child.
extern "C" fn after_fork_in_parent() {
    fds::forget_all();
    registrations::forget_all();
}

/// Run in the child after `fork()`: the same, and the child counts its
/// decisions in a `--report` slot of its own.
extern "C" fn after_fork_in_child() {
    after_fork_in_parent();
    report::claim_slot_in_child();
}

unsafe extern "C" {
    /// What glibc's `pthread_atfork` calls: `pthread_atfork` itself is a
    /// stub in `libc_nonshared.a` that passes the caller's `__dso_handle`,
    /// which the C start files define, and this library is linked without
    /// them (`build.rs`). The handle only lets glibc drop the handlers of a
    /// library being unloaded, and this one is never unloaded (`-z
    /// nodelete`), so it is null.
    fn __register_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
        dso_handle: *mut libc::c_void,
    ) -> libc::c_int;
}

/// Registers the fork handlers. Called once from the load-time constructor.
pub fn watch_forks() {
    // SAFETY: registers plain functions with no preconditions.
    unsafe {
        __register_atfork(
            None,
            Some(after_fork_in_parent),
            Some(after_fork_in_child),
            core::ptr::null_mut(),
        )
    };
}
