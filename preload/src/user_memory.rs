//! Reading memory a program passed to a wrapped call without trusting the
//! pointer: the kernel answers a bad address with EFAULT, so the shim must
//! too, never with a crash.
//!
//! `process_vm_readv` on the process itself copies like the kernel would
//! and fails with EFAULT on an unmapped or unreadable address. Where it is
//! unavailable (a seccomp filter or a container without CAP_SYS_PTRACE
//! answers EPERM or ENOSYS), the bytes are read directly, as the shim did
//! before: only a program that passes a bad pointer could notice.

use core::sync::atomic::{AtomicBool, Ordering};
use libc::c_int;

static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Copies `into.len()` bytes from `from`. `Err(EFAULT)` when the kernel
/// would refuse the address. `errno` is left as it was.
pub fn read(from: *const u8, into: &mut [u8]) -> Result<(), c_int> {
    if into.is_empty() {
        return Ok(());
    }
    if from.is_null() {
        return Err(libc::EFAULT);
    }
    if !UNAVAILABLE.load(Ordering::Relaxed) {
        // SAFETY: __errno_location() returns this thread's errno, always valid.
        let errno = unsafe { libc::__errno_location() };
        // SAFETY: as above.
        let saved = unsafe { *errno };
        let local = libc::iovec {
            iov_base: into.as_mut_ptr().cast(),
            iov_len: into.len(),
        };
        let remote = libc::iovec {
            iov_base: from.cast_mut().cast(),
            iov_len: into.len(),
        };
        // SAFETY: the kernel writes at most `into.len()` bytes into `into`
        // and checks `from` itself.
        let copied = unsafe { crate::sys::read_own_memory(&local, &remote) };
        // SAFETY: as above.
        let failure = unsafe { core::mem::replace(&mut *errno, saved) };
        if copied == into.len() as isize {
            return Ok(());
        }
        if copied >= 0 || failure == libc::EFAULT {
            return Err(libc::EFAULT);
        }
        UNAVAILABLE.store(true, Ordering::Relaxed);
    }
    // SAFETY: the fallback above: trust the caller's pointer for `len` bytes.
    unsafe { core::ptr::copy_nonoverlapping(from, into.as_mut_ptr(), into.len()) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::read;

    #[test]
    fn good_and_bad_addresses() {
        let source = [1u8, 2, 3, 4];
        let mut into = [0u8; 4];
        assert_eq!(read(source.as_ptr(), &mut into), Ok(()));
        assert_eq!(into, source);
        assert_eq!(
            read(core::ptr::dangling::<u8>(), &mut into),
            Err(libc::EFAULT)
        );
        assert_eq!(read(core::ptr::null(), &mut into), Err(libc::EFAULT));
        assert_eq!(read(core::ptr::dangling::<u8>(), &mut []), Ok(()));
    }
}
