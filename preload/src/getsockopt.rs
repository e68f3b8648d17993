//! The `getsockopt()` detour: reading an option MPTCP rejects (such as
//! `TCP_USER_TIMEOUT`, which a program may read back after setting it to
//! its default) on an MPTCP socket answers what a fresh TCP socket of the
//! same family says: MPTCP never took another value, so that is the
//! socket's value as plain TCP would report it.
//!
//! Cost for a successful call: nothing but the real call.

use crate::{policy, real, swap};
use libc::{c_int, c_void, socklen_t};

/// # Safety
/// As `getsockopt(2)`; the kernel checks `value` and `len`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let rc = real::getsockopt(fd, level, name, value, len);
    if rc == 0 {
        return rc;
    }
    refused(fd, level, name, value, len, rc)
}

/// The kernel refused the option. (Its parameters are `setsockopt`'s
/// `refused`'s too: each error path takes its own call's arguments.)
#[cold]
#[inline(never)]
fn refused(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
    rc: c_int,
) -> c_int {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let failure = unsafe { *errno };
    if policy::mptcp_rejects(failure)
        && swap::rejected(level, name)
        && let Some(domain) = swap::mptcp_domain(fd)
        && let Ok(tcp) = swap::Replacement::new(domain)
    {
        // The kernel writes (and checks) the caller's buffers.
        return real::getsockopt(tcp.fd(), level, name, value, len);
    }
    // SAFETY: as above; the kernel's own answer.
    unsafe { *errno = failure };
    rc
}
