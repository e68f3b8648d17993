//! The `connect()` detour: where a converted socket's destination is known
//! and the rules decide whether it stays MPTCP or is swapped to plain TCP.
//!
//! Cost for any other descriptor: one bounds check and one atomic load.

use crate::rules::Verdict;
use crate::{config, debug_log, fds, policy, real, swap, user_memory};
use libc::{c_int, sockaddr, socklen_t};

/// # Safety
/// As `connect(2)`; the shim itself never faults on a bad `addr`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if fds::is_converted(fd) {
        decide(fd, addr, len);
    }
    real::connect(fd, addr, len)
}

/// Applies the rules to the first `connect()` of a converted socket with an
/// inet destination. Out of line: it runs once per converted socket, and
/// inlined it would make every other `connect()` pay for its stack frame.
/// An address the shim cannot read or does not understand decides nothing:
/// the kernel answers that call (EFAULT, EAFNOSUPPORT, ...).
#[cold]
#[inline(never)]
fn decide(fd: c_int, addr: *const sockaddr, len: socklen_t) {
    let mut bytes = [0u8; size_of::<libc::sockaddr_in6>()];
    let len = (len as usize).min(bytes.len());
    if user_memory::read(addr.cast(), &mut bytes[..len]).is_err() {
        return;
    }
    let Some((ip, port)) = policy::destination(&bytes[..len]) else {
        return;
    };
    if let Verdict::Tcp(why) = config::rules().for_connect(&ip, port) {
        let result = swap::to_tcp(fd, None);
        if config::debug() {
            debug_log::swap(fd, "connect", None, why.describe(), result);
        }
    }
    // Decided once: from now on the kernel's answers stand.
    fds::forget(fd);
}
