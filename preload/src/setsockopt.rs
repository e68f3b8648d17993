//! The `setsockopt()` detour: an option that MPTCP rejects (ENOPROTOOPT,
//! EOPNOTSUPP) on a converted socket that is not yet connected or
//! listening swaps it to plain TCP, where the option is set; the program
//! sees what plain TCP would have answered. If TCP rejects the option too,
//! the socket stays MPTCP and the call fails with TCP's error. After
//! `connect()`/`listen()`, and under `--require-mptcp`, the kernel's answer
//! is returned unchanged.
//!
//! Cost for a descriptor the shim did not convert: one atomic load.

use crate::swap::{self, Failure, Retry};
use crate::{config, debug_log, fds, policy, real};
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
    // Descriptors the shim did not convert (nearly all calls) pay one load.
    if !fds::is_converted(fd) || config::require_mptcp() {
        return real::setsockopt(fd, level, name, value, len);
    }
    converted(fd, level, name, value, len)
}

/// A converted, still undecided socket: try the option, swap to TCP if
/// MPTCP rejects it. Out of line, so other descriptors do not pay for its
/// stack frame.
#[cold]
#[inline(never)]
fn converted(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: socklen_t) -> c_int {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let before = unsafe { *errno };
    let rc = real::setsockopt(fd, level, name, value, len);
    if rc == 0 {
        return rc;
    }
    // SAFETY: as above.
    let failure = unsafe { *errno };
    if !policy::mptcp_rejects(failure) {
        return rc;
    }
    let retry = Retry {
        level,
        name,
        value,
        len,
    };
    let result = swap::to_tcp(fd, Some(&retry));
    if config::debug() {
        let why = match result {
            Err(Failure::Rejected(_)) => "MPTCP and TCP both reject the option",
            _ => "MPTCP rejects the option",
        };
        debug_log::swap(fd, "setsockopt", Some((level, name)), why, result);
    }
    match result {
        Ok(()) => {
            fds::forget(fd);
            // SAFETY: as above; the option is set, as on plain TCP.
            unsafe { *errno = before };
            0
        }
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
