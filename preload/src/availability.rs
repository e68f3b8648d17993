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

use core::sync::atomic::{AtomicBool, Ordering};
use libc::c_int;

static ABSENT_V4: AtomicBool = AtomicBool::new(false);
static ABSENT_V6: AtomicBool = AtomicBool::new(false);

fn flag(domain: c_int) -> &'static AtomicBool {
    if domain == libc::AF_INET6 {
        &ABSENT_V6
    } else {
        &ABSENT_V4
    }
}

/// Whether MPTCP is known to be missing for this address family.
pub fn known_absent(domain: c_int) -> bool {
    flag(domain).load(Ordering::Relaxed)
}

/// Remembers that MPTCP is missing for this address family.
pub fn remember_absent(domain: c_int) {
    flag(domain).store(true, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_remembered_separately() {
        assert!(!known_absent(libc::AF_INET6));
        remember_absent(libc::AF_INET6);
        assert!(known_absent(libc::AF_INET6));
        assert!(!known_absent(libc::AF_INET));
    }
}
