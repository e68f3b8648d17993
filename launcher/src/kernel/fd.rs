//! Descriptors the kernel hands out, as `OwnedFd`: sockets, socket pairs
//! and pidfds. Several rooms make them (the seccomp supervisor its MPTCP
//! sockets, its socket pair and its child's pidfd; `check` its self-test
//! sockets; `inspect` and `status` the pidfds they copy sockets through),
//! so each system call has one wrapper here, and one `unsafe` block that
//! says why taking ownership of the result is sound.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `socket(2)` in this process.
pub fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) with integer arguments.
    let fd = unsafe { libc::socket(domain, ty, protocol) };
    new_descriptor(fd.into())
}

/// `socketpair(AF_UNIX, ty, 0)`: both ends.
pub fn unix_socket_pair(ty: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into the array.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `pidfd_open(2)` (Linux 5.3+): a descriptor that names process `pid`
/// for good (it never names a process that reuses the PID).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    new_descriptor(fd)
}

/// `pidfd_open(2)` with `PIDFD_THREAD` (Linux 6.9+): a pidfd for thread
/// `tid` itself, which need not lead its thread group (`pidfd_getfd` then
/// reads that thread's descriptor table).
pub fn pidfd_open_thread(tid: libc::pid_t) -> io::Result<OwnedFd> {
    // PIDFD_THREAD is O_EXCL (include/uapi/linux/pidfd.h).
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, libc::O_EXCL) };
    new_descriptor(fd)
}

/// `pidfd_getfd(2)` (Linux 5.6+): a copy, in this process, of descriptor
/// `target_fd` of the process `pidfd` names.
pub fn pidfd_getfd(pidfd: &OwnedFd, target_fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes a pidfd, a descriptor number in the target
    // and flags, and returns a new descriptor in this process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0) };
    new_descriptor(fd)
}

/// The result of a system call (or ioctl) that returns a new descriptor
/// (or -1 and errno): only for a result just returned, owned by nothing.
pub fn new_descriptor(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the system call just returned this new descriptor; nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
