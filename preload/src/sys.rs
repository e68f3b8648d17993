//! The system calls the shim makes for itself, through libc's `syscall()`.
//!
//! Why not libc's wrappers: each libc function the library names is one
//! more symbol the dynamic loader must look up when the library loads,
//! about 760 instructions each, in every process the shim is preloaded
//! into, whether or not it ever opens a socket (issue 20, BENCHMARKS.md).
//! One import, `syscall`, serves all of these. They are the shim's own
//! calls on its own descriptors and memory, so going past other preload
//! libraries is right; the program's calls go to the next definitions
//! (`real`), where other preload libraries still see them.
//!
//! Each function has the signature and the errno behaviour of the libc
//! function of the same name. Written for x86_64 Linux (as `real.rs`'s
//! `dup2` and `epoll_ctl` system calls are): the numbers and `struct stat`
//! are the kernel's there, and equal to glibc's.
//! `tests/tests/startup.rs` checks the library's imports stay this short.

use libc::{c_char, c_int, c_long, c_void, off_t, pid_t, size_t, sockaddr, socklen_t, ssize_t};

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("the shim's raw system calls (sys.rs, real.rs) are written for x86_64 Linux");

/// `open(path, flags, mode)`, as glibc makes it: `openat(AT_FDCWD, ...)`.
///
/// # Safety
/// `path` is NUL-terminated.
pub unsafe fn open(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    // SAFETY: the kernel reads `path`, NUL-terminated by our caller.
    unsafe {
        libc::syscall(
            libc::SYS_openat,
            c_long::from(libc::AT_FDCWD),
            path,
            c_long::from(flags),
            c_long::from(mode),
        ) as c_int
    }
}

/// `read(fd, buf, len)`.
///
/// # Safety
/// `buf` is writable for `len` bytes.
pub unsafe fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: the kernel writes at most `len` bytes at `buf`.
    unsafe { libc::syscall(libc::SYS_read, c_long::from(fd), buf, len) as ssize_t }
}

/// `pread(fd, buf, len, offset)`.
///
/// # Safety
/// `buf` is writable for `len` bytes.
pub unsafe fn pread(fd: c_int, buf: *mut c_void, len: size_t, offset: off_t) -> ssize_t {
    // SAFETY: the kernel writes at most `len` bytes at `buf`.
    unsafe { libc::syscall(libc::SYS_pread64, c_long::from(fd), buf, len, offset) as ssize_t }
}

/// `write(fd, buf, len)`.
///
/// # Safety
/// `buf` is readable for `len` bytes.
pub unsafe fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: the kernel reads at most `len` bytes at `buf`.
    unsafe { libc::syscall(libc::SYS_write, c_long::from(fd), buf, len) as ssize_t }
}

/// `close(fd)`, of a descriptor the shim opened itself (the program's
/// `close` goes through `real::close`).
pub fn close(fd: c_int) -> c_int {
    // SAFETY: closing a descriptor touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_close, c_long::from(fd)) as c_int }
}

/// `fcntl(fd, cmd, arg)` for commands whose argument is an integer.
pub fn fcntl(fd: c_int, cmd: c_int, arg: c_int) -> c_int {
    // SAFETY: with an integer argument the kernel touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_fcntl,
            c_long::from(fd),
            c_long::from(cmd),
            c_long::from(arg),
        ) as c_int
    }
}

/// `fstat(fd, st)`, as glibc makes it: `newfstatat(fd, "", st, AT_EMPTY_PATH)`
/// (a sandbox's system call filter written for glibc allows that one).
///
/// # Safety
/// `st` is writable for a `struct stat`.
pub unsafe fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: the kernel writes one `struct stat` at `st` (the same layout
    // as glibc's on x86_64 Linux) and reads the empty path.
    unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            c_long::from(fd),
            c"".as_ptr(),
            st,
            c_long::from(libc::AT_EMPTY_PATH),
        ) as c_int
    }
}

/// `isatty(fd)`, as glibc makes it: the terminal `ioctl` succeeds.
pub fn isatty(fd: c_int) -> bool {
    // The kernel's `struct termios` is no larger than glibc's.
    let mut termios = core::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: TCGETS writes at most a kernel `struct termios` into ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            c_long::from(fd),
            libc::TCGETS as c_long,
            termios.as_mut_ptr(),
        )
    };
    rc == 0
}

/// `mmap(addr, len, prot, flags, fd, offset)`.
///
/// # Safety
/// As `mmap(2)`: the caller owns whatever it maps over.
pub unsafe fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: off_t,
) -> *mut c_void {
    // SAFETY: as the caller's contract.
    unsafe {
        libc::syscall(
            libc::SYS_mmap,
            addr,
            len,
            c_long::from(prot),
            c_long::from(flags),
            c_long::from(fd),
            offset,
        ) as *mut c_void
    }
}

/// `getpid()`.
pub fn getpid() -> pid_t {
    // SAFETY: no arguments, no memory.
    unsafe { libc::syscall(libc::SYS_getpid) as pid_t }
}

/// `geteuid()`.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: no arguments, no memory.
    unsafe { libc::syscall(libc::SYS_geteuid) as libc::uid_t }
}

/// `bind(fd, addr, len)`.
///
/// # Safety
/// `addr` is readable for `len` bytes.
pub unsafe fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the kernel reads `len` bytes at `addr`.
    unsafe { libc::syscall(libc::SYS_bind, c_long::from(fd), addr, c_long::from(len)) as c_int }
}

/// `getsockname(fd, addr, len)`.
///
/// # Safety
/// `len` is valid, and `addr` writable for `*len` bytes.
pub unsafe fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the kernel writes at most `*len` bytes at `addr`, and `len`.
    unsafe { libc::syscall(libc::SYS_getsockname, c_long::from(fd), addr, len) as c_int }
}

/// `getpeername(fd, addr, len)`.
///
/// # Safety
/// `len` is valid, and `addr` writable for `*len` bytes.
pub unsafe fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the kernel writes at most `*len` bytes at `addr`, and `len`.
    unsafe { libc::syscall(libc::SYS_getpeername, c_long::from(fd), addr, len) as c_int }
}

/// `process_vm_readv` of this process's own memory, one buffer each side.
///
/// # Safety
/// `local` is writable for its length; `remote` is only read by the kernel,
/// which checks it.
pub unsafe fn read_own_memory(local: &libc::iovec, remote: &libc::iovec) -> ssize_t {
    // SAFETY: the kernel writes at most `local.iov_len` bytes into `local`
    // and reads `remote` under its own checks.
    unsafe {
        libc::syscall(
            libc::SYS_process_vm_readv,
            c_long::from(getpid()),
            local as *const libc::iovec,
            1 as c_long,
            remote as *const libc::iovec,
            1 as c_long,
            0 as c_long,
        ) as ssize_t
    }
}

/// `kcmp(pid1, pid2, type, idx1, idx2)`.
///
/// # Safety
/// For the types that take a pointer in `idx2`, it points to what the
/// kernel reads there.
pub unsafe fn kcmp(pid1: pid_t, pid2: pid_t, kind: c_int, idx1: c_int, idx2: usize) -> c_int {
    // SAFETY: as the caller's contract.
    unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            c_long::from(pid1),
            c_long::from(pid2),
            c_long::from(kind),
            c_long::from(idx1),
            idx2,
        ) as c_int
    }
}

/// Ends the process with SIGABRT, as `abort()` does: SIGABRT unblocked and
/// sent to this thread, then, should a handler return, the default action
/// restored and the signal again, then exit with the shell's status for
/// it. Only reached if the shim has a bug (a panic).
pub fn abort() -> ! {
    let abrt: u64 = 1 << (libc::SIGABRT - 1);
    // SAFETY: signals and exits touch no memory of ours but `abrt` and
    // `default`, a kernel signal set and a valid kernel `struct sigaction`
    // (handler SIG_DFL, nothing else; all zero, whatever the field order).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_UNBLOCK as c_long,
            &raw const abrt,
            core::ptr::null_mut::<c_void>(),
            8 as c_long,
        );
        let tid = libc::syscall(libc::SYS_gettid);
        libc::syscall(
            libc::SYS_tgkill,
            c_long::from(getpid()),
            tid,
            libc::SIGABRT as c_long,
        );
        let default = KernelSigaction::default();
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGABRT as c_long,
            &raw const default,
            core::ptr::null_mut::<c_void>(),
            8 as c_long,
        );
        libc::syscall(
            libc::SYS_tgkill,
            c_long::from(getpid()),
            tid,
            libc::SIGABRT as c_long,
        );
        libc::syscall(libc::SYS_exit_group, 128 + libc::SIGABRT as c_long);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}

/// The kernel's `struct sigaction` (not glibc's, which is larger).
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}
