//! What this process has learned about MPTCP being absent.
//!
//! Once an MPTCP `socket()` fails with an error that means MPTCP is missing
//! (see `policy::means_mptcp_absent`) and the same call as plain TCP succeeds,
//! later calls for that address family go straight to TCP instead of paying for
//! a failing system call. The memory is per process and per family (IPv6 MPTCP
//! can be missing where IPv4 MPTCP works); it is never re-checked within a
//! process, because `net.mptcp.enabled` rarely changes under a running program,
//! and a new program (every `exec`) starts with a clean slate. A forked child
//! inherits its parent's knowledge, which is right: same kernel, same namespace.
//!
//! Plain atomics: lock-free, async-signal-safe and fork-safe.

use core::sync::atomic::{AtomicI32, Ordering};
use libc::c_int;

/// The errno that showed MPTCP missing, per family; 0 while not known.
static ABSENT_V4: AtomicI32 = AtomicI32::new(0);
static ABSENT_V6: AtomicI32 = AtomicI32::new(0);

fn flag(domain: c_int) -> &'static AtomicI32 {
    if domain == libc::AF_INET6 {
        &ABSENT_V6
    } else {
        &ABSENT_V4
    }
}

/// The errno that showed MPTCP missing for this family, if it is known to be.
pub fn known_absent(domain: c_int) -> Option<c_int> {
    let errno = flag(domain).load(Ordering::Relaxed);
    (errno != 0).then_some(errno)
}

/// Remembers that MPTCP is missing for this family, and the errno that said so.
pub fn remember_absent(domain: c_int, errno: c_int) {
    flag(domain).store(errno, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_remembered_separately() {
        assert_eq!(known_absent(libc::AF_INET6), None);
        remember_absent(libc::AF_INET6, libc::ENOPROTOOPT);
        assert_eq!(known_absent(libc::AF_INET6), Some(libc::ENOPROTOOPT));
        assert_eq!(known_absent(libc::AF_INET), None);
    }
}
