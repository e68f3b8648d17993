//! Swapping a converted socket back to plain TCP, in place, invisibly.
//!
//! Stateless: at swap time the socket's state is read back from the kernel
//! (the options in [`OPTIONS`] when the program set any, file status
//! flags, close-on-exec, the `F_SETOWN` owner and `F_SETSIG` signal, the
//! bound address, and the epoll registrations `registrations` recorded), a
//! TCP socket is given the same state, and `dup3` puts it on the same
//! descriptor number, which closes the MPTCP socket. Every piece of state
//! is checked on the TCP socket after it is set; if one cannot be carried,
//! there is no swap (the socket stays MPTCP, which always works).
//!
//! Only an MPTCP stream socket that is neither listening nor connected is
//! swapped (the kernel is asked, so a stale bit in `fds` can do no harm),
//! and only one the program has not shared (`shared`): callers swap only
//! descriptors `fds` still tracks. Options the program sets that are not in
//! [`OPTIONS`] or [`ALSO_CARRIED`] make the `setsockopt` detour forget the
//! socket, so they are never lost either.

use crate::{fds, policy, real, registrations};
use libc::{c_int, c_void, socklen_t};
use mptcpize_contract::swap_options::{Judgement, judge};

/// Options copied to the TCP socket when their value differs from a fresh
/// TCP socket's, and the options carried through another entry of it: the
/// contract's list, which the seccomp supervisor's swap carries too.
pub use mptcpize_contract::swap_options::{ALSO_CARRIED, OPTIONS};

/// Whether a swap carries option `(level, name)` once it is set.
pub fn carries(level: c_int, name: c_int) -> bool {
    OPTIONS
        .iter()
        .chain(ALSO_CARRIED)
        .any(|option| option.is(level, name))
}

/// Options MPTCP rejects, and whether one is: the contract's list, which
/// the seccomp supervisor's filter traps too.
pub use mptcpize_contract::swap_options::{REJECTED, rejected};

/// The option's name, if the shim knows it (for the debug log).
pub fn option_name(level: c_int, name: c_int) -> Option<&'static str> {
    // Searched as written: left to itself, the compiler turns this search
    // into a table of pointers to the names, each a relocation the loader
    // applies in every process the shim is loaded into (issue 20).
    let (options, rejected) = core::hint::black_box((OPTIONS, REJECTED));
    options
        .iter()
        .chain(rejected)
        .find(|option| option.is(level, name))
        .map(|option| option.text())
}

/// Why no swap happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not an unconnected, non-listening MPTCP stream socket (any more).
    NotSwappable,
    /// Making the TCP socket or moving it into place failed with this errno.
    Errno(c_int),
    /// TCP rejects the option too, with this errno.
    Rejected(c_int),
    /// The option already has that value on a fresh socket: nothing to do.
    Unchanged,
    /// The socket was shared or given state the shim cannot carry: it
    /// stays MPTCP from now on.
    Kept,
    /// This piece of the socket's state cannot be carried: no swap.
    Uncarried(&'static str),
}

/// A fresh TCP socket that will replace an MPTCP one; closed on drop (after
/// a swap, that closes only its temporary number).
pub struct Replacement(c_int);

impl Replacement {
    pub fn fd(&self) -> c_int {
        self.0
    }

    pub fn new(domain: c_int) -> Result<Replacement, Failure> {
        let tcp = real::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        );
        if tcp < 0 {
            return Err(Failure::Errno(last_errno()));
        }
        fds::forget(tcp);
        Ok(Replacement(tcp))
    }

    /// Sets the option the program asked for. `Ok(false)` when it did not
    /// change the socket (the value a fresh socket already has, as read
    /// back), `Err(errno)` when TCP rejects it. The kernel reads `value`,
    /// so a bad pointer is its EFAULT, never a fault in the shim.
    pub fn set_option(
        &self,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> Result<bool, c_int> {
        let mut before = [0u8; 32];
        let before_len = get_option(self.0, level, name, &mut before);
        if real::setsockopt(self.0, level, name, value, len) != 0 {
            return Err(last_errno());
        }
        let mut after = [0u8; 32];
        let after_len = get_option(self.0, level, name, &mut after);
        let before = before_len.map(|len| &before[..len]);
        let after = after_len.map(|len| &after[..len]);
        Ok(judge(Ok(()), before, after) == Judgement::Changes)
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        real::close(self.0);
    }
}

/// Replaces the MPTCP socket on `fd` with `replacement` (or a fresh TCP
/// socket) given the same state. `errno` is left as it was.
pub fn to_tcp(fd: c_int, replacement: Option<Replacement>) -> Result<(), Failure> {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *errno };
    let result = swap(fd, replacement);
    if result.is_ok() {
        crate::report::count_swap();
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
    result
}

fn swap(fd: c_int, replacement: Option<Replacement>) -> Result<(), Failure> {
    let domain = undecided(fd).ok_or(Failure::NotSwappable)?;
    let tcp = match replacement {
        Some(tcp) => tcp,
        None => Replacement::new(domain)?,
    };
    // Options: only where the program set one (the `setsockopt` detour
    // notes it), so most swaps read none back.
    let options = if fds::has_options(fd) { OPTIONS } else { &[] };
    for option in options {
        let (level, name) = (option.level, option.name);
        if level == libc::SOL_IPV6 && domain == libc::AF_INET {
            // Not an IPv6 socket (MPTCP reads them back all the same).
            continue;
        }
        if !copy_option(fd, tcp.0, level, name) {
            return Err(Failure::Uncarried(option.text()));
        }
    }
    let status = real::fcntl(fd, libc::F_GETFL, 0);
    let fd_flags = real::fcntl(fd, libc::F_GETFD, 0);
    carry_owner(fd, tcp.0)?;
    // After the owner: O_ASYNC starts signalling to it at once.
    if status >= 0 && real::fcntl(tcp.0, libc::F_SETFL, status as usize) != 0 {
        return Err(Failure::Uncarried("file status flags"));
    }
    let registrations = registrations::collect(fd).map_err(Failure::Uncarried)?;
    let bound = bound_address(fd);
    let cloexec = if fd_flags >= 0 && fd_flags & libc::FD_CLOEXEC != 0 {
        libc::O_CLOEXEC
    } else {
        0
    };
    if real::dup3(tcp.0, fd, cloexec) < 0 {
        return Err(Failure::Errno(last_errno()));
    }
    drop(tcp);
    if let Some((storage, len)) = bound {
        // The MPTCP socket, and its port, are gone: take the address again.
        // SAFETY: `storage` holds `len` bytes of the address getsockname gave.
        unsafe { crate::sys::bind(fd, (&raw const storage).cast(), len) };
    }
    // The MPTCP socket's registrations went with it; make them again.
    let refused = registrations::restore(fd, &registrations);
    if refused != 0 && crate::config::debug() {
        crate::debug_log::notice("mptcpize-rs: epoll refused a registration carried by a swap\n");
    }
    Ok(())
}

// fcntl commands the libc crate does not name on every target.
const F_SETSIG: c_int = 10;
const F_GETSIG: c_int = 11;
const F_SETOWN_EX: c_int = 15;
const F_GETOWN_EX: c_int = 16;

/// `struct f_owner_ex` (fcntl F_GETOWN_EX / F_SETOWN_EX).
#[repr(C)]
#[derive(Default, PartialEq, Eq)]
struct OwnerEx {
    kind: c_int,
    pid: libc::pid_t,
}

/// Carries the process or thread `SIGIO`/`SIGURG` go to, and the signal.
fn carry_owner(from: c_int, to: c_int) -> Result<(), Failure> {
    let mut owner = OwnerEx::default();
    if real::fcntl(from, F_GETOWN_EX, (&raw mut owner) as usize) == 0
        && owner.pid != 0
        && real::fcntl(to, F_SETOWN_EX, (&raw const owner) as usize) != 0
    {
        return Err(Failure::Uncarried("the F_SETOWN owner"));
    }
    let signal = real::fcntl(from, F_GETSIG, 0);
    if signal > 0 && real::fcntl(to, F_SETSIG, signal as usize) != 0 {
        return Err(Failure::Uncarried("the F_SETSIG signal"));
    }
    Ok(())
}

/// The family of `fd` if it is an inet MPTCP socket.
pub fn mptcp_domain(fd: c_int) -> Option<c_int> {
    let domain = int_option(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    let mptcp = int_option(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)? == libc::IPPROTO_MPTCP;
    (inet && mptcp).then_some(domain)
}

/// The family of `fd` if it is an MPTCP stream socket, neither listening
/// nor connected: the only kind the shim swaps, and the only kind whose
/// rejected options it judges (the kernel's answers stand for the rest).
pub fn undecided(fd: c_int) -> Option<c_int> {
    let domain = mptcp_domain(fd)?;
    let stream = int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE)? == libc::SOCK_STREAM;
    let listening = int_option(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0;
    if !stream || listening {
        return None;
    }
    let mut peer = core::mem::MaybeUninit::<libc::sockaddr_storage>::uninit();
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `peer`.
    let connected = unsafe { crate::sys::getpeername(fd, peer.as_mut_ptr().cast(), &mut len) } == 0;
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
    if unsafe { crate::sys::getsockname(fd, (&raw mut storage).cast(), &mut len) } != 0 {
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
/// False when `to` still differs afterwards: the state cannot be carried.
fn copy_option(from: c_int, to: c_int, level: c_int, name: c_int) -> bool {
    let mut old = [0u8; 32];
    let Some(old_len) = get_option(from, level, name, &mut old) else {
        // Unreadable here (an IPv6 option on an IPv4 socket): never set.
        return true;
    };
    let same = |to: c_int| {
        let mut new = [0u8; 32];
        get_option(to, level, name, &mut new) == Some(old_len) && old[..old_len] == new[..old_len]
    };
    if same(to) {
        return true;
    }
    let mut value = old;
    let len = mptcpize_contract::swap_options::value_to_set(level, name, &mut value, old_len);
    real::setsockopt(to, level, name, value.as_ptr().cast(), len as socklen_t);
    if same(to) {
        return true;
    }
    if let Some(forced) = mptcpize_contract::swap_options::forced(level, name) {
        // Set with SO_*BUFFORCE beyond the sysctl maximum: force it again.
        real::setsockopt(to, level, forced, value.as_ptr().cast(), len as socklen_t);
        return same(to);
    }
    false
}

/// getsockopt into `buf`; the length the kernel filled in.
fn get_option(fd: c_int, level: c_int, name: c_int, buf: &mut [u8; 32]) -> Option<usize> {
    let mut len = buf.len() as socklen_t;
    // getsockopt writes at most `len` bytes into `buf`.
    let rc = real::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len);
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
