//! Swapping a converted socket back to plain TCP, in place.
//!
//! Stateless: nothing about a socket is recorded while the program sets it
//! up. At swap time its state is read back from the kernel (family, file
//! status flags, close-on-exec, the options in [`OPTIONS`], the bound
//! address), a TCP socket is made with the same state, and `dup3` puts it
//! on the same descriptor number, which closes the MPTCP socket. Only an
//! MPTCP stream socket that is neither listening nor connected is swapped;
//! the kernel is asked, so a stale bit in `fds` can do no harm.
//!
//! Limits (see the README): a registration of the descriptor with epoll
//! made before the swap is lost with the MPTCP socket; another descriptor
//! made with `dup()` before the swap keeps referring to the MPTCP socket (and
//! keeps its port, so re-binding then fails); options outside [`OPTIONS`]
//! are not carried over.

use crate::{fds, policy, real};
use libc::{c_int, c_void, socklen_t};

/// Options copied to the TCP socket when their value differs from a fresh
/// TCP socket's: every one that MPTCP accepts and a program is likely to set
/// before `connect()` or `listen()`. Also names options in the debug log.
pub const OPTIONS: &[(c_int, c_int, &str)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR, "SO_REUSEADDR"),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT, "SO_REUSEPORT"),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE, "SO_KEEPALIVE"),
    (libc::SOL_SOCKET, libc::SO_RCVBUF, "SO_RCVBUF"),
    (libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF"),
    (libc::SOL_SOCKET, libc::SO_LINGER, "SO_LINGER"),
    (libc::SOL_SOCKET, libc::SO_RCVTIMEO, "SO_RCVTIMEO"),
    (libc::SOL_SOCKET, libc::SO_SNDTIMEO, "SO_SNDTIMEO"),
    (libc::SOL_SOCKET, libc::SO_PRIORITY, "SO_PRIORITY"),
    (libc::SOL_SOCKET, libc::SO_MARK, "SO_MARK"),
    (libc::SOL_SOCKET, libc::SO_BINDTODEVICE, "SO_BINDTODEVICE"),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE, "SO_OOBINLINE"),
    (libc::SOL_IP, libc::IP_TOS, "IP_TOS"),
    (libc::SOL_IP, libc::IP_FREEBIND, "IP_FREEBIND"),
    (libc::SOL_IP, libc::IP_TRANSPARENT, "IP_TRANSPARENT"),
    (
        libc::SOL_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        "IP_BIND_ADDRESS_NO_PORT",
    ),
    (libc::SOL_IPV6, libc::IPV6_V6ONLY, "IPV6_V6ONLY"),
    (libc::SOL_IPV6, libc::IPV6_TCLASS, "IPV6_TCLASS"),
    (libc::SOL_TCP, libc::TCP_NODELAY, "TCP_NODELAY"),
    (libc::SOL_TCP, libc::TCP_CORK, "TCP_CORK"),
    (libc::SOL_TCP, libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
    (libc::SOL_TCP, libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
    (libc::SOL_TCP, libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
    (libc::SOL_TCP, libc::TCP_CONGESTION, "TCP_CONGESTION"),
    (libc::SOL_TCP, libc::TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT"),
    (libc::SOL_TCP, libc::TCP_FASTOPEN, "TCP_FASTOPEN"),
    (
        libc::SOL_TCP,
        libc::TCP_FASTOPEN_CONNECT,
        "TCP_FASTOPEN_CONNECT",
    ),
    (libc::SOL_TCP, libc::TCP_MAXSEG, "TCP_MAXSEG"),
];

/// Names of options MPTCP rejects, for the debug log only.
const REJECTED_NAMES: &[(c_int, c_int, &str)] = &[
    (libc::SOL_TCP, libc::TCP_SYNCNT, "TCP_SYNCNT"),
    (libc::SOL_TCP, libc::TCP_LINGER2, "TCP_LINGER2"),
    (libc::SOL_TCP, libc::TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP"),
    (libc::SOL_TCP, libc::TCP_QUICKACK, "TCP_QUICKACK"),
    (libc::SOL_TCP, libc::TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT"),
    (libc::SOL_TCP, 37, "TCP_TX_DELAY"),
    (libc::SOL_TCP, libc::TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT"),
    (
        libc::SOL_TCP,
        libc::TCP_THIN_LINEAR_TIMEOUTS,
        "TCP_THIN_LINEAR_TIMEOUTS",
    ),
    (libc::SOL_TCP, libc::TCP_SAVE_SYN, "TCP_SAVE_SYN"),
    (libc::SOL_TCP, libc::TCP_MD5SIG, "TCP_MD5SIG"),
];

/// The option's name, if the shim knows it.
pub fn option_name(level: c_int, name: c_int) -> Option<&'static str> {
    OPTIONS
        .iter()
        .chain(REJECTED_NAMES)
        .find(|&&(l, n, _)| (l, n) == (level, name))
        .map(|&(_, _, text)| text)
}

/// An option to set on the TCP socket before it replaces the MPTCP one: the
/// `setsockopt()` MPTCP rejected.
pub struct Retry {
    pub level: c_int,
    pub name: c_int,
    pub value: *const c_void,
    pub len: socklen_t,
}

/// Why no swap happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not an unconnected, non-listening MPTCP stream socket (any more).
    NotSwappable,
    /// Making the TCP socket or moving it into place failed with this errno.
    Errno(c_int),
    /// TCP rejects the retried option too, with this errno: no swap.
    Rejected(c_int),
}

/// Replaces the MPTCP socket on `fd` with a TCP socket in the same state
/// (and, with `retry`, that option set). `errno` is left as it was.
pub fn to_tcp(fd: c_int, retry: Option<&Retry>) -> Result<(), Failure> {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *errno };
    let result = swap(fd, retry);
    if result.is_ok() {
        crate::report::count_swap();
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
    result
}

fn swap(fd: c_int, retry: Option<&Retry>) -> Result<(), Failure> {
    let domain = swappable(fd).ok_or(Failure::NotSwappable)?;
    // SAFETY: fcntl queries on a descriptor the program owns.
    let (status, fd_flags) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFL),
            libc::fcntl(fd, libc::F_GETFD),
        )
    };
    let tcp = real::socket(
        domain,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        libc::IPPROTO_TCP,
    );
    if tcp < 0 {
        return Err(Failure::Errno(last_errno()));
    }
    fds::forget(tcp);
    for &(level, name, _) in OPTIONS {
        copy_option(fd, tcp, level, name);
    }
    if let Some(retry) = retry
        && real::setsockopt(tcp, retry.level, retry.name, retry.value, retry.len) != 0
    {
        let rejected = last_errno();
        real::close(tcp);
        return Err(Failure::Rejected(rejected));
    }
    if status >= 0 {
        // SAFETY: sets the file status flags of our own new socket.
        unsafe { libc::fcntl(tcp, libc::F_SETFL, status) };
    }
    let bound = bound_address(fd);
    let cloexec = if fd_flags >= 0 && fd_flags & libc::FD_CLOEXEC != 0 {
        libc::O_CLOEXEC
    } else {
        0
    };
    if real::dup3(tcp, fd, cloexec) < 0 {
        let failure = last_errno();
        real::close(tcp);
        return Err(Failure::Errno(failure));
    }
    real::close(tcp);
    if let Some((storage, len)) = bound {
        // The MPTCP socket, and its port, are gone: take the address again.
        // SAFETY: `storage` holds `len` bytes of the address getsockname gave.
        unsafe { libc::bind(fd, (&raw const storage).cast(), len) };
    }
    Ok(())
}

/// The family of `fd` if it is an MPTCP stream socket, neither listening
/// nor connected (nor connecting: `connect()` forgets the bit before it).
fn swappable(fd: c_int) -> Option<c_int> {
    let domain = int_option(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    let mptcp = int_option(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)? == policy::IPPROTO_MPTCP;
    let stream = int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE)? == libc::SOCK_STREAM;
    let listening = int_option(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0;
    if !(inet && mptcp && stream) || listening {
        return None;
    }
    let mut peer = core::mem::MaybeUninit::<libc::sockaddr_storage>::uninit();
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `peer`.
    let connected = unsafe { libc::getpeername(fd, peer.as_mut_ptr().cast(), &mut len) } == 0;
    (!connected && last_errno() == libc::ENOTCONN).then_some(domain)
}

/// The port `fd` is bound to, 0 when none.
pub fn bound_port(fd: c_int) -> u16 {
    match bound_address(fd) {
        Some((storage, _)) => {
            // sin_port and sin6_port sit at the same offset, in network order.
            // SAFETY: sockaddr_storage is larger than sockaddr_in.
            let sin = unsafe { &*(&raw const storage).cast::<libc::sockaddr_in>() };
            u16::from_be(sin.sin_port)
        }
        None => 0,
    }
}

/// The address `fd` is bound to, if it is bound (a port, or an address
/// without one under IP_BIND_ADDRESS_NO_PORT).
fn bound_address(fd: c_int) -> Option<(libc::sockaddr_storage, socklen_t)> {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `storage`.
    if unsafe { libc::getsockname(fd, (&raw mut storage).cast(), &mut len) } != 0 {
        return None;
    }
    let shown = usize::try_from(len)
        .ok()?
        .min(size_of::<libc::sockaddr_storage>());
    // SAFETY: `storage` is plain bytes; `shown` is within it.
    let bytes = unsafe { core::slice::from_raw_parts((&raw const storage).cast::<u8>(), shown) };
    policy::is_bound(bytes).then_some((storage, len))
}

/// Copies one option from `from` to `to` when it differs from `to`'s own.
fn copy_option(from: c_int, to: c_int, level: c_int, name: c_int) {
    let mut old = [0u8; 32];
    let Some(old_len) = get_option(from, level, name, &mut old) else {
        return;
    };
    let mut new = [0u8; 32];
    if get_option(to, level, name, &mut new) == Some(old_len) && old[..old_len] == new[..old_len] {
        return;
    }
    let mut value = old;
    let mut len = old_len;
    if level == libc::SOL_SOCKET && (name == libc::SO_RCVBUF || name == libc::SO_SNDBUF) && len == 4
    {
        // The kernel reports twice what was asked for (its bookkeeping share).
        let halved = c_int::from_ne_bytes([old[0], old[1], old[2], old[3]]) / 2;
        value[..4].copy_from_slice(&halved.to_ne_bytes());
    }
    if level == libc::SOL_TCP && name == libc::TCP_CONGESTION {
        len = old[..old_len]
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(old_len);
    }
    real::setsockopt(to, level, name, value.as_ptr().cast(), len as socklen_t);
}

/// getsockopt into `buf`; the length the kernel filled in.
fn get_option(fd: c_int, level: c_int, name: c_int, buf: &mut [u8; 32]) -> Option<usize> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `buf`.
    let rc = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    (rc == 0).then(|| (len as usize).min(buf.len()))
}

fn int_option(fd: c_int, level: c_int, name: c_int) -> Option<c_int> {
    let mut buf = [0u8; 32];
    match get_option(fd, level, name, &mut buf)? {
        4 => Some(c_int::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])),
        _ => None,
    }
}

fn last_errno() -> c_int {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}
