//! The `connect()` detour: where a converted socket's destination is known
//! and the rules decide whether it stays MPTCP or is swapped to plain TCP.
//!
//! Cost for any other descriptor: one bounds check and one atomic load.

use crate::rules::Verdict;
use crate::{config, debug_log, fds, policy, real, swap};
use libc::{c_int, sockaddr, socklen_t};

/// # Safety
/// As `connect(2)`: `addr` points to `len` readable bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if fds::is_converted(fd) {
        // SAFETY: forwarded from our caller's contract.
        unsafe { decide(fd, addr, len) };
    }
    real::connect(fd, addr, len)
}

/// Applies the rules to the first `connect()` of a converted socket. Out of
/// line: it runs once per converted socket, and inlined it would make every
/// other `connect()` pay for its stack frame.
///
/// # Safety
/// `addr` points to `len` readable bytes, or is null.
#[cold]
#[inline(never)]
unsafe fn decide(fd: c_int, addr: *const sockaddr, len: socklen_t) {
    if addr.is_null() {
        return;
    }
    let len = (len as usize).min(size_of::<libc::sockaddr_in6>());
    // SAFETY: the caller promises `len` readable bytes at `addr`; we read at
    // most that many.
    let bytes = unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len) };
    let Some((ip, port)) = policy::destination(bytes) else {
        return;
    };
    // Decided once: from now on the kernel's answers stand.
    fds::forget(fd);
    if let Verdict::Tcp(why) = config::rules().for_connect(&ip, port) {
        let result = swap::to_tcp(fd, None);
        if config::debug() {
            debug_log::swap(fd, "connect", None, why.describe(), result);
        }
    }
}
