//! Which descriptors hold a socket this shim converted to MPTCP and has not
//! yet seen connected or listening: the only ones it may swap back to TCP.
//!
//! One bit per descriptor number below [`LIMIT`] in a static array of
//! atomics: lock-free, async-signal-safe, and right after `fork()` (the
//! child's copy describes the child's identical descriptor table). Higher
//! descriptors are never tracked, so never swapped.
//!
//! A bit is set by `socket()` when it converts, cleared when `socket()`
//! returns that number for anything else, and cleared by `close()`, by
//! `dup2`/`dup3` onto the number, once `connect()`/`listen()` has
//! decided, and when the socket is shared (`shared`: dup, fork, ...). A bit can go stale when a number is freed behind the shim's back
//! (`close_range`, `fclose` of an `fdopen`ed socket, libc-internal closes);
//! that is harmless because a swap first checks with the kernel that the
//! descriptor really is an MPTCP stream socket, neither connected nor
//! listening.
//!
//! Ordering: `close()` clears the bit *before* closing, so the number can
//! only be handed out again (and marked by another thread) afterwards.

use core::sync::atomic::{AtomicU64, Ordering};
use libc::c_int;

/// Descriptors below this are tracked (1024 words of 64 bits: 8 KiB).
pub const LIMIT: usize = 65536;

static CONVERTED: [AtomicU64; LIMIT / 64] = [const { AtomicU64::new(0) }; LIMIT / 64];

/// The word and bit for `fd`, if it is tracked.
#[inline]
fn slot(fd: c_int) -> Option<(&'static AtomicU64, u64)> {
    let fd = usize::try_from(fd).ok()?;
    Some((CONVERTED.get(fd / 64)?, 1 << (fd % 64)))
}

/// Records that `fd` was just converted to MPTCP.
pub fn mark(fd: c_int) {
    if let Some((word, bit)) = slot(fd) {
        word.fetch_or(bit, Ordering::SeqCst);
    }
}

/// Whether `fd` is a converted socket not yet connected or listening.
#[inline]
pub fn is_converted(fd: c_int) -> bool {
    slot(fd).is_some_and(|(word, bit)| word.load(Ordering::Relaxed) & bit != 0)
}

/// Forgets `fd` (closed, replaced, decided), and its recorded epoll
/// registrations. One load on the usual path,
/// where the bit is already clear; nothing else can set it meanwhile,
/// because the number is still open.
#[inline]
pub fn forget(fd: c_int) {
    if let Some((word, bit)) = slot(fd)
        && word.load(Ordering::Relaxed) & bit != 0
    {
        word.fetch_and(!bit, Ordering::SeqCst);
        crate::registrations::forget(fd);
    }
}

/// Forgets every descriptor: after `fork()` all of them are shared.
pub fn forget_all() {
    for word in &CONVERTED {
        if word.load(Ordering::Relaxed) != 0 {
            word.store(0, Ordering::SeqCst);
        }
    }
}

/// Forgets `fd` and says whether it was tracked.
pub fn take(fd: c_int) -> bool {
    let taken =
        slot(fd).is_some_and(|(word, bit)| word.fetch_and(!bit, Ordering::SeqCst) & bit != 0);
    if taken {
        crate::registrations::forget(fd);
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_per_descriptor() {
        assert!(!is_converted(100));
        mark(100);
        mark(163);
        assert!(is_converted(100) && is_converted(163));
        assert!(!is_converted(101) && !is_converted(99) && !is_converted(164));
        forget(100);
        assert!(!is_converted(100) && is_converted(163));
        assert!(take(163));
        assert!(!take(163));
        mark(7);
        mark(4000);
        forget_all();
        assert!(!is_converted(7) && !is_converted(4000));
    }

    #[test]
    fn out_of_range_is_never_tracked() {
        for fd in [-1, LIMIT as c_int, c_int::MAX] {
            mark(fd);
            assert!(!is_converted(fd));
            assert!(!take(fd));
            forget(fd);
        }
        mark(LIMIT as c_int - 1);
        assert!(take(LIMIT as c_int - 1));
    }
}
