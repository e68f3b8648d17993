//! The `socket()` detour: the shim's only hot path.
//!
//! Kept as small as the reference hook: a pure decision, one call to the real
//! `socket()` with `IPPROTO_MPTCP`, and on failure the caller's own call, so the
//! program sees exactly what it would have seen without the shim (or, with
//! `--require-mptcp`, the MPTCP error itself). No allocation, no lock, no
//! environment access: safe after `fork()` and in signal handlers.

use crate::policy::{self, Outcome};
use crate::{availability, config, debug_log, fds, real, report};
use libc::c_int;

#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if !policy::should_convert(domain, ty, protocol) {
        return finish(domain, ty, protocol, Outcome::Untouched);
    }
    if let Some(failure) = availability::known_absent(domain) {
        return finish(domain, ty, protocol, Outcome::KnownAbsent { failure });
    }
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: `errno` points to this thread's errno (see above).
    let saved_errno = unsafe { *errno };
    let fd = real::socket(domain, ty, libc::IPPROTO_MPTCP);
    if fd >= 0 {
        fds::mark(fd);
        done(domain, ty, protocol, fd, Outcome::Converted);
        return fd;
    }
    if config::require_mptcp() {
        // SAFETY: as above.
        let failure = unsafe { *errno };
        debug_log::explain_refusal_once(failure);
        done(domain, ty, protocol, fd, Outcome::Refused { failure });
        return fd;
    }
    // SAFETY: as above; restore errno so a successful retry looks untouched.
    let failure = unsafe { core::mem::replace(&mut *errno, saved_errno) };
    let fd = real::socket(domain, ty, protocol);
    let remembered = fd >= 0 && policy::means_mptcp_absent(failure);
    if remembered {
        availability::remember_absent(domain, failure);
    }
    done(
        domain,
        ty,
        protocol,
        fd,
        Outcome::FellBack {
            failure,
            remembered,
        },
    );
    fd
}

/// The caller's own call, then the bookkeeping.
fn finish(domain: c_int, ty: c_int, protocol: c_int, outcome: Outcome) -> c_int {
    let fd = real::socket(domain, ty, protocol);
    done(domain, ty, protocol, fd, outcome);
    fd
}

/// Counts the decision for `--report` and logs it in debug mode. A
/// descriptor not converted is not the shim's to swap (a bit left stale by
/// a close the shim did not see is cleared here).
#[inline(always)]
fn done(domain: c_int, ty: c_int, protocol: c_int, fd: c_int, outcome: Outcome) {
    if outcome != Outcome::Converted {
        fds::forget(fd);
    }
    report::count(outcome);
    if config::debug() {
        debug_log::decision(domain, ty, protocol, fd, outcome);
    }
}
