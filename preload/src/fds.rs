//! Which descriptors hold a socket this shim converted to MPTCP and has not
//! yet seen connected, listening or shared: the only ones it may swap back
//! to TCP.
//!
//! One bit per descriptor number below [`LIMIT`] in a static array of
//! atomics: lock-free, async-signal-safe, and right after `fork()` (the
//! child's copy describes the child's identical descriptor table). Higher
//! descriptors are never tracked, so never swapped. A second bit per
//! descriptor says whether the program set an option on it (`setsockopt`),
//! so that a swap reads the options back only when there can be any.
//!
//! A bit is set by `socket()` when it converts, cleared when `socket()`
//! returns that number for anything else, and cleared by `close()`, by
//! `dup2`/`dup3` onto the number, once `connect()`/`listen()` has
//! decided, and when the socket is shared (`shared`: dup, fork, ...). A bit
//! can go stale when a number is freed behind the shim's back
//! (`close_range`, `fclose` of an `fdopen`ed socket, libc-internal closes);
//! that is harmless because a swap first checks with the kernel that the
//! descriptor really is an MPTCP stream socket, neither connected nor
//! listening (and a stale option bit only makes a swap read all options).
//!
//! Ordering: `close()` clears the bit *before* closing, so the number can
//! only be handed out again (and marked by another thread) afterwards.

use core::sync::atomic::{AtomicU64, Ordering};
use libc::c_int;

/// Descriptors below this are tracked (1024 words of 64 bits: 8 KiB).
pub const LIMIT: usize = 65536;

const WORDS: usize = LIMIT / 64;

static CONVERTED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
/// Converted descriptors the program set an option on.
static CONFIGURED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// The word index and bit for `fd`, if it is tracked.
#[inline(always)]
fn slot(fd: c_int) -> Option<(usize, u64)> {
    let fd = usize::try_from(fd).ok()?;
    (fd < LIMIT).then(|| (fd / 64, 1 << (fd % 64)))
}

/// Records that `fd` was just converted to MPTCP.
pub fn mark(fd: c_int) {
    if let Some((i, bit)) = slot(fd) {
        CONVERTED[i].fetch_or(bit, Ordering::SeqCst);
    }
}

/// Whether `fd` is a converted socket not yet decided nor shared.
#[inline(always)]
pub fn is_converted(fd: c_int) -> bool {
    slot(fd).is_some_and(|(i, bit)| CONVERTED[i].load(Ordering::Relaxed) & bit != 0)
}

/// Records that the program set an option on the converted `fd`.
pub fn note_option(fd: c_int) {
    if let Some((i, bit)) = slot(fd) {
        CONFIGURED[i].fetch_or(bit, Ordering::Relaxed);
    }
}

/// Whether the program may have set an option on `fd` since `socket()`.
pub fn has_options(fd: c_int) -> bool {
    slot(fd).is_some_and(|(i, bit)| CONFIGURED[i].load(Ordering::Relaxed) & bit != 0)
}

/// Forgets `fd` (closed, replaced, decided), its options bit and its
/// recorded epoll registrations. One load on the usual path, where the bit
/// is already clear; nothing else can set it meanwhile, because the number
/// is still open.
#[inline(always)]
pub fn forget(fd: c_int) {
    if let Some((i, bit)) = slot(fd)
        && CONVERTED[i].load(Ordering::Relaxed) & bit != 0
    {
        CONVERTED[i].fetch_and(!bit, Ordering::SeqCst);
        forgotten(fd, i, bit);
    }
}

/// Forgets `fd` and says whether it was tracked.
pub fn take(fd: c_int) -> bool {
    slot(fd).is_some_and(|(i, bit)| {
        let taken = CONVERTED[i].fetch_and(!bit, Ordering::SeqCst) & bit != 0;
        if taken {
            forgotten(fd, i, bit);
        }
        taken
    })
}

/// What goes with a tracked descriptor once it is forgotten.
fn forgotten(fd: c_int, i: usize, bit: u64) {
    CONFIGURED[i].fetch_and(!bit, Ordering::Relaxed);
    crate::registrations::forget(fd);
}

/// Forgets every descriptor: after `fork()` all of them are shared.
pub fn forget_all() {
    for (converted, configured) in CONVERTED.iter().zip(&CONFIGURED) {
        if converted.load(Ordering::Relaxed) != 0 {
            converted.store(0, Ordering::SeqCst);
            configured.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test: `forget_all` would race with parallel tests.
    #[test]
    fn bits_are_per_descriptor_and_bounded() {
        assert!(!is_converted(100));
        mark(100);
        mark(163);
        note_option(163);
        assert!(is_converted(100) && is_converted(163));
        assert!(!is_converted(101) && !is_converted(99) && !is_converted(164));
        assert!(has_options(163) && !has_options(100));
        forget(100);
        assert!(!is_converted(100) && is_converted(163));
        assert!(take(163));
        assert!(!take(163));
        assert!(!has_options(163));

        for fd in [-1, LIMIT as c_int, c_int::MAX] {
            mark(fd);
            note_option(fd);
            assert!(!is_converted(fd) && !has_options(fd));
            assert!(!take(fd));
            forget(fd);
        }
        mark(LIMIT as c_int - 1);
        assert!(take(LIMIT as c_int - 1));

        mark(7);
        mark(4000);
        note_option(4000);
        forget_all();
        assert!(!is_converted(7) && !is_converted(4000) && !has_options(4000));
    }
}
