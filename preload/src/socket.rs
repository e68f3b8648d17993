//! The `socket()` detour: the shim's only hot path.
//!
//! Kept as small as the reference hook: a pure decision, one call to the real
//! `socket()` with `IPPROTO_MPTCP`, and on failure the caller's own call, so the
//! program sees exactly what it would have seen without the shim. No allocation,
//! no lock, no environment access: safe after `fork()` and in signal handlers.

use crate::debug_log::{self, Outcome};
use crate::{availability, config, policy, real};
use libc::c_int;

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if !policy::should_convert(domain, ty, protocol) {
        return logged(domain, ty, protocol, Outcome::Untouched);
    }
    if availability::known_absent(domain) {
        return logged(domain, ty, protocol, Outcome::KnownAbsent);
    }
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: `errno` points to this thread's errno (see above).
    let saved_errno = unsafe { *errno };
    let fd = real::socket(domain, ty, policy::IPPROTO_MPTCP);
    if fd >= 0 {
        if config::debug() {
            debug_log::decision(domain, ty, protocol, fd, Outcome::Converted);
        }
        return fd;
    }
    // SAFETY: as above; restore errno so a successful retry looks untouched.
    let failure = unsafe { core::mem::replace(&mut *errno, saved_errno) };
    let fd = real::socket(domain, ty, protocol);
    let remembered = fd >= 0 && policy::means_mptcp_absent(failure);
    if remembered {
        availability::remember_absent(domain);
    }
    if config::debug() {
        let outcome = Outcome::FellBack {
            failure,
            remembered,
        };
        debug_log::decision(domain, ty, protocol, fd, outcome);
    }
    fd
}

/// The caller's own call, logged in debug mode.
fn logged(domain: c_int, ty: c_int, protocol: c_int, outcome: Outcome) -> c_int {
    let fd = real::socket(domain, ty, protocol);
    if config::debug() {
        debug_log::decision(domain, ty, protocol, fd, outcome);
    }
    fd
}
