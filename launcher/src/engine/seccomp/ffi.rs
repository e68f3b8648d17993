//! The kernel interface of seccomp user notification: the few constants the
//! libc crate lacks, and thin wrappers around the system calls and ioctls.
//! Every `unsafe` block of the engine that talks to seccomp is here, each
//! with the reason it is sound; the ABI sizes are checked in the tests.
//!
//! The structures themselves (`seccomp_data`, `seccomp_notif`,
//! `seccomp_notif_resp`, `seccomp_notif_addfd`, `seccomp_notif_sizes`,
//! `sock_filter`, `sock_fprog`) and the ioctl numbers come from libc.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

pub use libc::{
    seccomp_data, seccomp_notif, seccomp_notif_addfd, seccomp_notif_resp, seccomp_notif_sizes,
    sock_filter, sock_fprog,
};

/// `AUDIT_ARCH_X86_64` from `<linux/audit.h>` (EM_X86_64 | 64-bit | LE).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_AARCH64` (EM_AARCH64 | 64-bit | LE).
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `__X32_SYSCALL_BIT`: x32 ABI system calls arrive with the x86_64 audit
/// architecture and this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `socket(2)`'s number on x86_64.
pub const NR_SOCKET_X86_64: u32 = 41;
/// `socket(2)`'s number on aarch64 (the generic table).
pub const NR_SOCKET_AARCH64: u32 = 198;
/// `connect(2)` and `listen(2)` on x86_64 and aarch64: trapped only when a
/// rule can make a connection or a listener plain TCP.
pub const NR_CONNECT_X86_64: u32 = 42;
pub const NR_LISTEN_X86_64: u32 = 50;
pub const NR_CONNECT_AARCH64: u32 = 203;
pub const NR_LISTEN_AARCH64: u32 = 201;
/// `setsockopt(2)` and `getsockopt(2)`: trapped only for the option names
/// MPTCP rejects (the filter compares level and name).
pub const NR_SETSOCKOPT_X86_64: u32 = 54;
pub const NR_GETSOCKOPT_X86_64: u32 = 55;
pub const NR_SETSOCKOPT_AARCH64: u32 = 208;
pub const NR_GETSOCKOPT_AARCH64: u32 = 209;

/// `SECCOMP_RET_USER_NOTIF`, `SECCOMP_RET_ALLOW` as u32 (libc: c_uint).
pub const RET_USER_NOTIF: u32 = libc::SECCOMP_RET_USER_NOTIF;
pub const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

/// Offsets of `struct seccomp_data` fields, for the BPF loads.
pub const DATA_NR: u32 = 0;
pub const DATA_ARCH: u32 = 4;
/// `args[i]` is a u64 at 16 + 8 i; its low half is first on little-endian
/// machines (every architecture the engine supports).
pub const fn data_arg_low(index: u32) -> u32 {
    16 + 8 * index
}

/// A system call's or ioctl's return value: negative means failed, with
/// errno saying why.
fn result<T: Copy + Default + PartialOrd>(rc: T) -> io::Result<T> {
    if rc < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Whether the kernel knows the `SECCOMP_RET_USER_NOTIF` action (Linux
/// 5.0+). Changes nothing.
pub fn user_notif_action_available() -> io::Result<()> {
    let action: u32 = RET_USER_NOTIF;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer, which
    // points to a live local.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    result(rc).map(drop)
}

/// The kernel's sizes of the notification structures (Linux 5.0+).
pub fn notif_sizes() -> io::Result<seccomp_notif_sizes> {
    let mut sizes = seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one seccomp_notif_sizes to the
    // pointer, which points to a live local of that type.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0,
            &mut sizes as *mut seccomp_notif_sizes,
        )
    };
    result(rc).map(|_| sizes)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`. Async-signal-safe (one system call).
pub fn set_no_new_privs() -> Result<(), i32> {
    // SAFETY: plain prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc < 0 { Err(errno()) } else { Ok(()) }
}

/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19+).
const FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

/// Installs `program` on the calling thread with a new notification
/// listener, returning the listener's descriptor. Async-signal-safe (a
/// system call or two, no allocation): used between fork and exec.
///
/// With `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` where the kernel has it: a
/// call the supervisor has received waits for its answer without being
/// interrupted by a signal handler, so a trapped `connect()` or `socket()`
/// never returns EINTR once it is being answered (natively `socket()` and
/// `listen()` never do). A signal before that withdraws the notification
/// and the call restarts (or fails with EINTR, for a handler without
/// `SA_RESTART`, before anything happened).
pub fn install_filter_with_listener(program: &sock_fprog) -> Result<RawFd, i32> {
    let install = |flags: libc::c_ulong| {
        // SAFETY: the kernel copies the program from `program` (which points
        // to `len` live instructions) during the call.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                program as *const sock_fprog,
            )
        }
    };
    let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as libc::c_ulong;
    let mut rc = install(listener | FILTER_FLAG_WAIT_KILLABLE_RECV);
    if rc < 0 && errno() == libc::EINVAL {
        // Before Linux 5.19.
        rc = install(listener);
    }
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc as RawFd)
    }
}

/// Whether the listener accepts `SECCOMP_ADDFD_FLAG_SEND` (Linux 5.14+),
/// probed without side effects: an ADDFD for a notification id that does
/// not exist. Kernels that know the flag look the id up and say ENOENT;
/// older ones reject the flag first with EINVAL. Async-signal-safe.
pub fn addfd_send_supported(listener: RawFd) -> Result<(), i32> {
    let addfd = seccomp_notif_addfd {
        // Ids come from a per-filter counter seeded at random; nothing is
        // pending yet anyway (the program has not started).
        id: u64::MAX,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        // Any open descriptor: the kernel takes a reference and drops it.
        srcfd: listener as u32,
        newfd: 0,
        newfd_flags: 0,
    };
    // SAFETY: the ioctl reads one seccomp_notif_addfd from a live local.
    let rc = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) };
    match rc {
        0.. => Ok(()),
        _ => match errno() {
            libc::ENOENT => Ok(()),
            other => Err(other),
        },
    }
}

/// The calling thread's errno. Async-signal-safe.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// A zeroed buffer big enough for the kernel's `seccomp_notif` (which may
/// be larger than ours on a newer kernel), 8-byte aligned.
pub struct NotifBuffer {
    words: Vec<u64>,
}

impl NotifBuffer {
    pub fn new(kernel_size: u16) -> NotifBuffer {
        let bytes = usize::from(kernel_size).max(std::mem::size_of::<seccomp_notif>());
        NotifBuffer {
            words: vec![0; bytes.div_ceil(8)],
        }
    }

    /// `SECCOMP_IOCTL_NOTIF_RECV`: waits for (poll first) and takes the next
    /// notification. ENOENT means the target went away meanwhile.
    pub fn receive(&mut self, listener: BorrowedFd<'_>) -> io::Result<seccomp_notif> {
        // The kernel requires a zeroed buffer.
        self.words.fill(0);
        // SAFETY: the buffer is at least as large as the kernel's
        // seccomp_notif (NOTIF_SIZES), writable and 8-byte aligned.
        let rc = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                self.words.as_mut_ptr(),
            )
        };
        result(rc)?;
        // SAFETY: the buffer is at least size_of::<seccomp_notif>() bytes,
        // 8-byte aligned, and seccomp_notif is plain integers (any bit
        // pattern is valid).
        Ok(unsafe { std::ptr::read(self.words.as_ptr().cast::<seccomp_notif>()) })
    }
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6+).
pub const USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// Asks the kernel to hand each notification and its answer over on the
/// current CPU (`SECCOMP_IOCTL_NOTIF_SET_FLAGS` with
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6+): the caller and the
/// supervisor take turns, so the wake-ups need not go through another CPU
/// (the kernel feature was added for exactly this pattern, by gVisor). On
/// the busy 2-CPU development VM the difference was lost in the noise.
/// Older kernels refuse it; that only costs speed.
pub fn set_sync_wake_up(listener: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: this ioctl takes its flags by value, not through a pointer.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
    result(rc).map(drop)
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: whether notification `id` is still
/// pending (its task alive and still in that system call).
pub fn id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: the ioctl reads one u64 from a live local.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &id,
        )
    };
    rc == 0
}

/// Answers notification `id` with "run the system call as it was"
/// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
pub fn respond_continue(listener: BorrowedFd<'_>, id: u64) -> io::Result<()> {
    let flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32;
    respond(
        listener,
        seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags,
        },
    )
}

/// Answers notification `id` with a failure: the caller's system call
/// returns -1 with `errno` (`--require-mptcp`).
pub fn respond_error(listener: BorrowedFd<'_>, id: u64, errno: i32) -> io::Result<()> {
    respond(
        listener,
        seccomp_notif_resp {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        },
    )
}

/// Answers notification `id` with success (0) without running the call:
/// an option that changes nothing, or a value the supervisor wrote.
pub fn respond_success(listener: BorrowedFd<'_>, id: u64) -> io::Result<()> {
    respond(
        listener,
        seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: 0,
        },
    )
}

fn respond(listener: BorrowedFd<'_>, response: seccomp_notif_resp) -> io::Result<()> {
    // SAFETY: the ioctl reads one seccomp_notif_resp from a live local
    // (the kernel's size for it has been 24 bytes since 5.0).
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &response,
        )
    };
    result(rc).map(drop)
}

/// `SECCOMP_IOCTL_NOTIF_ADDFD` with `addfd`: the descriptor number the
/// target got.
fn add_fd(listener: BorrowedFd<'_>, addfd: &seccomp_notif_addfd) -> io::Result<RawFd> {
    // SAFETY: the ioctl reads one seccomp_notif_addfd from a live reference.
    let rc = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, addfd) };
    result(rc)
}

/// Installs `source` in the target of notification `id` and answers the
/// notification with the new descriptor's number, atomically
/// (`SECCOMP_ADDFD_FLAG_SEND`). Returns that number.
pub fn add_fd_and_send(
    listener: BorrowedFd<'_>,
    id: u64,
    source: BorrowedFd<'_>,
    cloexec: bool,
) -> io::Result<RawFd> {
    let addfd = seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd: source.as_raw_fd() as u32,
        newfd: 0,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    add_fd(listener, &addfd)
}

/// Puts `source` on descriptor number `newfd` of the target of
/// notification `id` (`SECCOMP_ADDFD_FLAG_SETFD`, Linux 5.9+), closing
/// what was there, as `dup3` would in the target; the notification stays
/// pending. The connect-time swap's move into place.
pub fn add_fd_at(
    listener: BorrowedFd<'_>,
    id: u64,
    source: BorrowedFd<'_>,
    newfd: RawFd,
    cloexec: bool,
) -> io::Result<()> {
    let addfd = seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
        srcfd: source.as_raw_fd() as u32,
        newfd: newfd as u32,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    add_fd(listener, &addfd).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    /// Sizes from the kernel's include/uapi/linux/seccomp.h and filter.h.
    #[test]
    fn abi_sizes() {
        assert_eq!(size_of::<seccomp_data>(), 64);
        assert_eq!(size_of::<seccomp_notif>(), 80);
        assert_eq!(size_of::<seccomp_notif_resp>(), 24);
        assert_eq!(size_of::<seccomp_notif_addfd>(), 24);
        assert_eq!(size_of::<seccomp_notif_sizes>(), 6);
        assert_eq!(size_of::<sock_filter>(), 8);
        assert_eq!(size_of::<sock_fprog>(), 16);
        assert_eq!(align_of::<seccomp_notif>(), 8);
    }

    #[test]
    fn seccomp_data_field_offsets() {
        let data = seccomp_data {
            nr: 0,
            arch: 0,
            instruction_pointer: 0,
            args: [0; 6],
        };
        let base = &data as *const seccomp_data as usize;
        assert_eq!(&data.nr as *const i32 as usize - base, DATA_NR as usize);
        assert_eq!(&data.arch as *const u32 as usize - base, DATA_ARCH as usize);
        for index in 0..6u32 {
            let arg = &data.args[index as usize] as *const u64 as usize;
            assert_eq!(arg - base, data_arg_low(index) as usize);
        }
    }

    /// The ioctl numbers as the kernel headers define them on x86_64 and
    /// aarch64 (_IOWR/_IOW with magic '!').
    #[test]
    // libc's Ioctl is u64 with glibc but c_int with musl.
    #[allow(clippy::unnecessary_cast)]
    fn ioctl_numbers() {
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_RECV as u64, 0xc050_2100);
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_SEND as u64, 0xc018_2101);
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_ID_VALID as u64, 0x4008_2102);
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_ADDFD as u64, 0x4018_2103);
    }

    #[test]
    fn kernel_sizes_fit_ours() {
        // The development kernel has user notification; a kernel without it
        // makes the engine unavailable, which other tests cover.
        let Ok(sizes) = notif_sizes() else { return };
        assert!(usize::from(sizes.seccomp_data) >= size_of::<seccomp_data>());
        assert!(usize::from(sizes.seccomp_notif_resp) >= size_of::<seccomp_notif_resp>());
        let buffer = NotifBuffer::new(sizes.seccomp_notif);
        assert!(buffer.words.len() * 8 >= usize::from(sizes.seccomp_notif));
    }
}
