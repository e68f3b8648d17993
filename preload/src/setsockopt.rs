//! The `setsockopt()` detour.
//!
//! - An option MPTCP rejects (ENOPROTOOPT, EOPNOTSUPP) on an MPTCP socket
//!   not yet connected or listening is tried on a fresh TCP socket. If it
//!   leaves that socket as it was (`TCP_USER_TIMEOUT=0`, as haproxy sets on
//!   its listeners), the call succeeds and the socket stays MPTCP. If TCP
//!   rejects it too, the program gets TCP's answer. If it is a real change
//!   and the socket is still the shim's to swap, the socket becomes that TCP
//!   socket (`swap`), as plain TCP would have had it; otherwise (shared, or
//!   `--require-mptcp`) the kernel's answer stands. After `connect()` or
//!   `listen()` the kernel's answer always stands.
//! - An option MPTCP accepts but a swap could not carry, set on a socket
//!   the shim may still swap, makes the shim forget the socket: it stays
//!   MPTCP rather than lose the option.
//!
//! Cost for a successful call on a descriptor the shim does not track:
//! one load after the real call.

use crate::swap::{self, Failure, Replacement};
use crate::{config, debug_log, fds, policy, real, shared};
use libc::{c_int, c_void, socklen_t};

/// # Safety
/// As `setsockopt(2)`: `value` points to `len` readable bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    let rc = real::setsockopt(fd, level, name, value, len);
    if rc == 0 {
        if fds::is_converted(fd) {
            configured(fd, level, name);
        }
        return rc;
    }
    refused(fd, level, name, value, len, rc)
}

/// An option set on a converted, undecided socket: a swap must carry it,
/// or there will be none.
#[cold]
#[inline(never)]
fn configured(fd: c_int, level: c_int, name: c_int) {
    if swap::carries(level, name) {
        fds::note_option(fd);
    } else {
        shared::pin_tracked(fd, "setsockopt", "an option a swap could not carry was set");
    }
}

/// The kernel refused the option. Out of line: errors are rare, and inlined
/// this would give every call its stack frame.
#[cold]
#[inline(never)]
fn refused(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
    rc: c_int,
) -> c_int {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let failure = unsafe { *errno };
    let Some(result) = judge(fd, level, name, value, len, failure) else {
        // SAFETY: as above; the kernel's own answer.
        unsafe { *errno = failure };
        return rc;
    };
    if config::debug() {
        let why = match result {
            Err(Failure::Rejected(_)) => "MPTCP and TCP both reject the option",
            Err(Failure::Unchanged) => "MPTCP rejects the option, but it changes nothing",
            _ => "MPTCP rejects the option",
        };
        debug_log::swap(fd, "setsockopt", Some((level, name)), why, result);
    }
    match result {
        Ok(()) => {
            fds::forget(fd);
            0
        }
        Err(Failure::Unchanged) => 0,
        Err(Failure::Rejected(tcp)) => {
            // SAFETY: as above; what plain TCP would have said.
            unsafe { *errno = tcp };
            -1
        }
        Err(_) => {
            // SAFETY: as above; the kernel's own answer.
            unsafe { *errno = failure };
            rc
        }
    }
}

/// What a refused option means: `None` when the kernel's answer stands,
/// otherwise the swap's result (`Unchanged` and `Rejected` included).
fn judge(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
    failure: c_int,
) -> Option<Result<(), Failure>> {
    if !policy::mptcp_rejects(failure) {
        return None;
    }
    let domain = swap::undecided(fd)?;
    let tcp = Replacement::new(domain).ok()?;
    match tcp.set_option(level, name, value, len) {
        Err(errno) => Some(Err(Failure::Rejected(errno))),
        Ok(false) => Some(Err(Failure::Unchanged)),
        Ok(true) if fds::is_converted(fd) && !config::require_mptcp() => {
            Some(swap::to_tcp(fd, Some(tcp)))
        }
        Ok(true) => None,
    }
}
