//! Connection rules under the seccomp engine: at a `connect()` or
//! `listen()` the filter sent here, the rules decide (the contract's
//! `for_connect`/`for_listen`, the text the shim reads), and where they say
//! plain TCP for a socket the supervisor made MPTCP, the socket is swapped
//! to TCP in place before the call goes on, as the shim's swap does
//! (`preload/src/swap.rs`): invisibly, or not at all.
//!
//! ```text
//! connect(fd, addr, len)  ─ notification ─>  read addr (process_vm_readv)
//!                                            rules: MPTCP? → continue
//!                                            SECCOMP_IOCTL_NOTIF_ID_VALID
//!                                            copy fd (pidfd_getfd): one we made?
//!                                            still unconnected MPTCP, not shared?
//!                                            TCP socket, with the caller's ids,
//!                                            options, flags, owner carried over
//!                                            ADDFD + SETFD: TCP on the same number
//!                                            bind again, epoll registrations again
//! connect() runs on the TCP socket  <─────   continue
//! ```
//!
//! The same conditions as the shim's swap (README, "When a swap happens,
//! and when it does not"), checked from outside: the socket is one the
//! supervisor made ([`super::converted`]), in this process (made by a
//! thread of the same thread group), an MPTCP stream socket neither
//! connected nor listening (asked of the kernel); no other descriptor of
//! the process holds it, nor any process it started; each of its epoll
//! registrations (read from the epoll descriptors' fdinfo) is under the
//! same descriptor number and at most [`caller::MAX_REGISTRATIONS`]; every
//! option the program set (one whose value differs from a fresh MPTCP
//! socket's) is carried and reads back the same. Otherwise the socket stays
//! MPTCP, which always works. `--require-mptcp` makes loopback MPTCP
//! through the rules (`loopback=1`), as with the shim.
//!
//! The supervisor cannot see descriptors the program sent to an unrelated
//! process (`SCM_RIGHTS`) or another process took (`pidfd_getfd`), nor an
//! epoll instance that only another process holds: such a copy keeps the
//! MPTCP socket (the shim sees the first, not the others).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use mptcpize_contract::rules::{Rules, Verdict, Why};
use mptcpize_contract::swap_options::{OPTIONS, SockOpt};

use super::caller::{self, Registration};
use super::converted::{self, Converted};
use super::credentials::{self, FsIds};
use super::ffi;
use super::filter::{Arch, Traps};
use crate::kernel::fd;

/// Which calls the filter must send for `rules` (pure): `connect()` when
/// some destination can be plain TCP, `listen()` when some listener can.
/// `--loopback` alone traps neither, so such a run's `connect()` calls cost
/// no more than without rules. The options MPTCP rejects are always
/// trapped: their judgement does not depend on the rules.
pub fn traps(rules: &Rules) -> Traps {
    let any = |list: &[_]| !list.is_empty();
    let connect = !rules.loopback
        || any(rules.exclude.as_slice())
        || !rules.exclude_ports.as_slice().is_empty()
        || any(rules.include.as_slice())
        || !rules.include_ports.as_slice().is_empty();
    let listen = !rules.listen || !rules.exclude_ports.as_slice().is_empty();
    // Options MPTCP rejects are judged whatever the rules (as the shim).
    Traps {
        connect,
        listen,
        options: true,
    }
}

/// The calls the rules are decided at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Connect,
    Listen,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Connect => "connect",
            Call::Listen => "listen",
        }
    }
}

/// Why a socket the rules make TCP stays MPTCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Not an unconnected, non-listening MPTCP stream socket (any more).
    NotSwappable,
    /// The supervisor may not examine the caller (errno: ptrace access).
    Unreadable(i32),
    /// Making the TCP socket or moving it into place failed (errno).
    Errno(i32),
    /// This piece of the socket's state cannot be carried.
    Uncarried(&'static str),
}

/// What was done at one `connect()` or `listen()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a socket the supervisor made, or the rules keep it MPTCP: the
    /// call went on untouched. Nothing to tell.
    Untouched,
    /// Swapped to plain TCP, for this reason.
    Swapped { fd: RawFd, why: Why },
    /// The rules say TCP, but it stays MPTCP.
    Kept { fd: RawFd, why: Why, because: Kept },
    /// The caller went away (exited, or a signal interrupted the call).
    CallerGone,
}

/// The rules in force and what applying them needs between notifications.
pub struct ConnectRules {
    rules: Rules,
    traps: Traps,
    pub(super) arch: Arch,
    pub(super) converted: Converted,
    own_ids: FsIds,
}

/// Why the caller's descriptor could not be looked at.
pub(super) enum Unfetched {
    CallerGone,
    /// No ptrace access to the caller (errno): Yama's `ptrace_scope`, a
    /// supervisor that is not the program's ancestor.
    Denied(i32),
}

/// The caller's copy of the descriptor, and what it took to get it.
pub(super) struct Fetched {
    pidfd: OwnedFd,
    pub(super) socket: OwnedFd,
    /// Its `SO_COOKIE`, as [`Converted`] knows it.
    pub(super) cookie: u64,
    /// The thread the supervisor made the socket for.
    creator: u32,
}

impl ConnectRules {
    pub fn new(rules: Rules, arch: Arch, own_ids: FsIds) -> ConnectRules {
        ConnectRules {
            traps: traps(&rules),
            rules,
            arch,
            converted: Converted::default(),
            own_ids,
        }
    }

    /// Whether the filter sends any call besides `socket()`; when not,
    /// nothing needs to be remembered per socket either.
    pub fn traps(&self) -> Traps {
        self.traps
    }

    /// Which of our calls system call `nr` is; `None`: `socket()`.
    pub fn call(&self, nr: i32) -> Option<Call> {
        let nr = nr as u32;
        if nr == self.arch.nr_connect && self.traps.connect {
            Some(Call::Connect)
        } else if nr == self.arch.nr_listen && self.traps.listen {
            Some(Call::Listen)
        } else {
            None
        }
    }

    /// Remembers a socket made MPTCP for thread `tid` of `process` (when
    /// the lookup knew it; else found in `/proc` now, while the thread
    /// waits), before the caller has it, so no `connect()` or
    /// `setsockopt()` of it can come first. Only when the filter traps
    /// something besides `socket()`: otherwise nothing will ever ask.
    pub fn remember(&mut self, socket: BorrowedFd<'_>, tid: u32, process: Option<u32>) {
        if self.traps == Traps::default() {
            return;
        }
        let Some(process) = process.or_else(|| caller::thread_group(tid)) else {
            return;
        };
        // A socket without a cookie (impossible since 4.6) stays MPTCP.
        if let Ok(cookie) = converted::cookie(socket) {
            self.converted.remember(cookie, process);
        }
    }

    /// Answers one `connect()` or `listen()` notification: decides, swaps
    /// where the rules say TCP and it can be invisible, and lets the call
    /// go on in the kernel (on whichever socket the descriptor now holds).
    pub fn answer(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        call: Call,
    ) -> Outcome {
        let outcome = self.decide(listener, notif, call);
        if outcome == Outcome::CallerGone {
            return outcome;
        }
        match ffi::respond_continue(listener, notif.id) {
            Ok(()) => outcome,
            // Interrupted after a swap: a restarted call finds plain TCP.
            Err(_) if matches!(outcome, Outcome::Swapped { .. }) => outcome,
            Err(_) => Outcome::CallerGone,
        }
    }

    fn decide(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        call: Call,
    ) -> Outcome {
        let (id, tid) = (notif.id, notif.pid);
        let fd = notif.data.args[0] as u32 as RawFd;
        let why = match call {
            Call::Connect => {
                let mut addr = [0u8; size_of::<libc::sockaddr_in6>()];
                let len = (notif.data.args[2] as u32 as usize).min(addr.len());
                // Unreadable (the kernel's EFAULT to come) or not inet
                // (AF_UNSPEC): the kernel answers that call.
                let Ok(read) = caller::read_memory(tid, notif.data.args[1], &mut addr[..len])
                else {
                    return Outcome::Untouched;
                };
                let Some((ip, port)) = caller::destination(&addr[..read]) else {
                    return Outcome::Untouched;
                };
                match self.rules.for_connect(&ip, port) {
                    Verdict::Mptcp => return Outcome::Untouched,
                    Verdict::Tcp(why) => Some(why),
                }
            }
            // The port it is bound to is read from the socket below.
            Call::Listen => None,
        };
        let fetched = match self.fetch(listener, id, tid, fd, true) {
            Ok(Some(fetched)) => fetched,
            Ok(None) => return Outcome::Untouched,
            Err(Unfetched::CallerGone) => return Outcome::CallerGone,
            // A socket of ours, perhaps, that the rules make TCP: say why
            // it stays MPTCP. (At listen() the verdict needs the socket.)
            Err(Unfetched::Denied(errno)) => {
                return match why {
                    Some(why) => Outcome::Kept {
                        fd,
                        why,
                        because: Kept::Unreadable(errno),
                    },
                    None => Outcome::Untouched,
                };
            }
        };
        let why = match why {
            Some(why) => why,
            None => match self.rules.for_listen(bound_port(fetched.socket.as_fd())) {
                Verdict::Mptcp => return Outcome::Untouched,
                Verdict::Tcp(why) => why,
            },
        };
        match self.swap(listener, id, tid, fd, fetched) {
            Ok(()) => Outcome::Swapped { fd, why },
            Err(Kept::Errno(libc::ENOENT)) => Outcome::CallerGone,
            Err(because) => Outcome::Kept { fd, why, because },
        }
    }

    /// The caller's socket on `fd`, if it is one the supervisor made (which
    /// it forgets now when `forget`: a rule is decided once).
    pub(super) fn fetch(
        &mut self,
        listener: BorrowedFd<'_>,
        id: u64,
        tid: u32,
        fd: RawFd,
        forget: bool,
    ) -> Result<Option<Fetched>, Unfetched> {
        let pidfd = match fd::pidfd_open_thread(tid as libc::pid_t) {
            Ok(pidfd) => Ok(pidfd),
            // Before Linux 6.9: the process's pidfd, the same descriptor
            // table unless the thread unshared its own.
            Err(_) => match caller::thread_group(tid) {
                Some(tgid) => fd::pidfd_open(tgid as libc::pid_t),
                None => Err(io::Error::from_raw_os_error(libc::ESRCH)),
            },
        };
        // What was read so far (the address, the pidfd) belongs to this
        // caller only if it still waits in this call.
        if !ffi::id_valid(listener, id) {
            return Err(Unfetched::CallerGone);
        }
        let pidfd = pidfd.map_err(|_| Unfetched::CallerGone)?;
        let socket = match fd::pidfd_getfd(&pidfd, fd) {
            Ok(socket) => socket,
            Err(error) => {
                return match error.raw_os_error() {
                    Some(errno @ (libc::EPERM | libc::EACCES)) => Err(Unfetched::Denied(errno)),
                    // A bad descriptor: the kernel's EBADF to come.
                    _ => Ok(None),
                };
            }
        };
        let Ok(cookie) = converted::cookie(socket.as_fd()) else {
            return Ok(None);
        };
        let creator = match forget {
            true => self.converted.take(cookie),
            false => self.converted.creator(cookie),
        };
        Ok(creator.map(|creator| Fetched {
            pidfd,
            socket,
            cookie,
            creator,
        }))
    }

    /// Replaces the MPTCP socket on the caller's `fd` with a TCP socket in
    /// the same state, or explains why not. Nothing changes in the caller
    /// before every check has passed.
    pub(super) fn swap(
        &self,
        listener: BorrowedFd<'_>,
        id: u64,
        tid: u32,
        fd: RawFd,
        fetched: Fetched,
    ) -> Result<(), Kept> {
        let Fetched {
            pidfd,
            socket,
            creator,
            ..
        } = fetched;
        let domain = undecided(socket.as_fd()).ok_or(Kept::NotSwappable)?;
        let tgid = caller::thread_group(tid).ok_or(Kept::Errno(libc::ESRCH))?;
        if creator != tgid {
            return Err(Kept::Uncarried("a socket made in another process"));
        }
        let inode = inode(socket.as_fd()).ok_or(Kept::Errno(libc::EBADF))?;
        let table = caller::table(tid, fd, inode).map_err(Kept::Uncarried)?;
        if table.shared {
            return Err(Kept::Uncarried("a second descriptor on the socket"));
        }
        if caller::descendants_hold(tgid, inode).map_err(Kept::Uncarried)? {
            return Err(Kept::Uncarried("a copy in a process the program started"));
        }
        let registrations = registrations(tid, fd, inode, &table.epolls)?;
        let cloexec = caller::close_on_exec(tid, fd).ok_or(Kept::Uncarried("close-on-exec"))?;

        let tcp = credentials::as_caller(tid, self.own_ids, || fresh_tcp(domain))
            .and_then(|made| made)
            .map_err(|e| Kept::Errno(e.raw_os_error().unwrap_or(0)))?;
        carry_options(socket.as_fd(), tcp.as_fd(), domain)?;
        carry_owner(socket.as_fd(), tcp.as_fd())?;
        // After the owner: O_ASYNC starts signalling to it at once. The
        // SIGIO registration records a descriptor number (`si_fd`): the
        // caller's, as if the program had set it.
        let status = fcntl(socket.as_fd(), libc::F_GETFL, 0);
        if status >= 0 {
            let set = on_number(tcp.as_fd(), fd, |number| {
                // SAFETY: fcntl on a descriptor of ours, with an int flag.
                unsafe { libc::fcntl(number, libc::F_SETFL, status) }
            });
            if set.ok() != Some(0) {
                return Err(Kept::Uncarried("file status flags"));
            }
        }
        // Bound (a listener's port, a client's source address): the MPTCP
        // socket keeps its address until the caller's call returns, after
        // the swap, so the TCP socket can take it beside it only where
        // the program allowed that (SO_REUSEADDR or SO_REUSEPORT, carried
        // above; the kernel checks again at listen()). Taken now, before
        // anything changes in the caller: a failure keeps MPTCP.
        if let Some((storage, len)) = bound_address(socket.as_fd()) {
            let reuse = |name| int_option(socket.as_fd(), libc::SOL_SOCKET, name) == Some(1);
            if !reuse(libc::SO_REUSEADDR) && !reuse(libc::SO_REUSEPORT) {
                return Err(Kept::Uncarried(
                    "a bound address without SO_REUSEADDR (the MPTCP socket holds it until \
                     the call returns)",
                ));
            }
            // SAFETY: `storage` holds `len` bytes of the address getsockname gave.
            let rc = unsafe { libc::bind(tcp.as_raw_fd(), (&raw const storage).cast(), len) };
            if rc != 0 {
                return Err(Kept::Errno(ffi::errno()));
            }
        }
        let mut epolls = Vec::with_capacity(registrations.len());
        for registration in &registrations {
            let epoll = fd::pidfd_getfd(&pidfd, registration.epfd)
                .map_err(|_| Kept::Uncarried("an epoll registration (its instance)"))?;
            epolls.push(epoll);
        }
        if !registrations.is_empty() && on_number(tcp.as_fd(), fd, |_| ()).is_err() {
            return Err(Kept::Uncarried(
                "an epoll registration (its descriptor number)",
            ));
        }
        // Another thread of the program may have closed the descriptor and
        // reused its number meanwhile: SETFD would then replace an
        // unrelated file. Checked last, to keep the window small (a close
        // and reuse between here and the ADDFD is not seen).
        if !caller::same_file(tgid, fd, socket.as_fd()) {
            return Err(Kept::Uncarried("the descriptor, changed during the swap"));
        }
        // The caller's descriptor is now the MPTCP socket's only holder:
        // replacing it closes the socket (and drops its registrations).
        drop(socket);
        ffi::add_fd_at(listener, id, tcp.as_fd(), fd, cloexec)
            .map_err(|e| Kept::Errno(e.raw_os_error().unwrap_or(0)))?;
        for (registration, epoll) in registrations.iter().zip(&epolls) {
            // Refused only when memory or max_user_watches ran out.
            let _ = register(epoll.as_fd(), tcp.as_fd(), fd, registration);
        }
        Ok(())
    }
}

/// The registrations of socket `inode` in the caller's epoll instances,
/// each one a swap can make again (under the same descriptor number).
fn registrations(
    tid: u32,
    fd: RawFd,
    inode: u64,
    epolls: &[RawFd],
) -> Result<Vec<Registration>, Kept> {
    let mut found = Vec::new();
    for &epfd in epolls {
        let Some(here) = caller::registrations_in(tid, epfd, inode) else {
            // Closed meanwhile: it holds nothing any more.
            continue;
        };
        for registration in here {
            if registration.tfd != fd {
                return Err(Kept::Uncarried(
                    "an epoll registration under another descriptor",
                ));
            }
            found.push(registration);
        }
    }
    if found.len() > caller::MAX_REGISTRATIONS {
        return Err(Kept::Uncarried(
            "more epoll registrations than a swap carries",
        ));
    }
    Ok(found)
}

/// Adds `socket` to `epoll` under number `number`, as the caller made it:
/// epoll keys a registration by file and descriptor number, and the
/// caller's later `EPOLL_CTL_MOD`/`DEL` name its own number.
fn register(
    epoll: BorrowedFd<'_>,
    socket: BorrowedFd<'_>,
    number: RawFd,
    registration: &Registration,
) -> io::Result<()> {
    // Our copy of the epoll instance must not sit on the borrowed number.
    let moved;
    let epoll = if epoll.as_raw_fd() == number {
        moved = epoll.try_clone_to_owned()?;
        moved.as_fd()
    } else {
        epoll
    };
    let rc = on_number(socket, number, |number| {
        let mut event = libc::epoll_event {
            events: registration.events,
            u64: registration.data,
        };
        // SAFETY: epoll_ctl reads one epoll_event from a live local.
        unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, number, &mut event) }
    })?;
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `act` with `socket` on descriptor number `number` of this process,
/// then puts back what was there. The supervisor is single-threaded, so
/// nothing else uses the number meanwhile, and a descriptor of ours that
/// sat there is the same file again afterwards (with its close-on-exec).
fn on_number<T>(
    socket: BorrowedFd<'_>,
    number: RawFd,
    act: impl FnOnce(RawFd) -> T,
) -> io::Result<T> {
    if socket.as_raw_fd() == number {
        return Ok(act(number));
    }
    let flags = fcntl_raw(number, libc::F_GETFD, 0);
    let saved = if flags >= 0 {
        let saved = fcntl_raw(number, libc::F_DUPFD_CLOEXEC, 0);
        if saved < 0 {
            return Err(io::Error::last_os_error());
        }
        Some(saved)
    } else {
        None
    };
    // SAFETY: dup3 onto a number whose file, if any, is kept in `saved`.
    if unsafe { libc::dup3(socket.as_raw_fd(), number, libc::O_CLOEXEC) } < 0 {
        let error = io::Error::last_os_error();
        if let Some(saved) = saved {
            // SAFETY: closing the duplicate made above.
            unsafe { libc::close(saved) };
        }
        return Err(error);
    }
    let result = act(number);
    match saved {
        Some(saved) => {
            let cloexec = if flags & libc::FD_CLOEXEC != 0 {
                libc::O_CLOEXEC
            } else {
                0
            };
            // SAFETY: back to the file that was there, then our duplicate
            // of it closed.
            unsafe {
                libc::dup3(saved, number, cloexec);
                libc::close(saved);
            }
        }
        // SAFETY: closing the copy made on a number that was free.
        None => unsafe {
            libc::close(number);
        },
    }
    Ok(result)
}

fn fcntl_raw(fd: RawFd, command: i32, arg: i32) -> i32 {
    // SAFETY: fcntl with an integer argument.
    unsafe { libc::fcntl(fd, command, arg) }
}

fn fcntl(fd: BorrowedFd<'_>, command: i32, arg: i32) -> i32 {
    fcntl_raw(fd.as_raw_fd(), command, arg)
}

/// The family of `socket` if it is an MPTCP stream socket, neither
/// listening nor connected (asked of the kernel, as the shim does).
pub(super) fn undecided(socket: BorrowedFd<'_>) -> Option<i32> {
    let domain = int_option(socket, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    let mptcp = int_option(socket, libc::SOL_SOCKET, libc::SO_PROTOCOL)? == libc::IPPROTO_MPTCP;
    let stream = int_option(socket, libc::SOL_SOCKET, libc::SO_TYPE)? == libc::SOCK_STREAM;
    let listening = int_option(socket, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0;
    if !inet || !mptcp || !stream || listening {
        return None;
    }
    let mut peer = std::mem::MaybeUninit::<libc::sockaddr_storage>::uninit();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `peer`.
    let rc = unsafe { libc::getpeername(socket.as_raw_fd(), peer.as_mut_ptr().cast(), &mut len) };
    let unconnected = rc != 0 && ffi::errno() == libc::ENOTCONN;
    // ENOTCONN also while a non-blocking connect() is in progress (SYN
    // sent): poll reports no hang-up then, where a socket that never
    // connected (or whose connect failed) does. Another connect() must
    // then get the kernel's EALREADY, not a new socket.
    let mut fds = [libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: poll over our one-element array, without waiting.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    let closed = polled == 1 && fds[0].revents & libc::POLLHUP != 0;
    (unconnected && closed).then_some(domain)
}

fn inode(socket: BorrowedFd<'_>) -> Option<u64> {
    let file = std::fs::File::from(socket.try_clone_to_owned().ok()?);
    Some(file.metadata().ok()?.ino())
}

/// The address `socket` is bound to, if it is bound.
fn bound_address(socket: BorrowedFd<'_>) -> Option<(libc::sockaddr_storage, libc::socklen_t)> {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `storage`.
    let rc = unsafe { libc::getsockname(socket.as_raw_fd(), (&raw mut storage).cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    let shown = (len as usize).min(size_of::<libc::sockaddr_storage>());
    // SAFETY: `storage` is plain bytes; `shown` is within it.
    let bytes = unsafe { std::slice::from_raw_parts((&raw const storage).cast::<u8>(), shown) };
    caller::is_bound(bytes).then_some((storage, len))
}

/// The port `socket` is bound to, 0 when none.
fn bound_port(socket: BorrowedFd<'_>) -> u16 {
    let Some((storage, len)) = bound_address(socket) else {
        return 0;
    };
    // SAFETY: `storage` is plain bytes, `len` of them filled in.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&raw const storage).cast::<u8>(),
            (len as usize).min(size_of::<libc::sockaddr_storage>()),
        )
    };
    caller::destination(bytes).map_or(0, |(_, port)| port)
}

/// Carries every option the program set on the MPTCP socket `from` (one
/// whose value differs from a fresh MPTCP socket's: the supervisor does
/// not see `setsockopt()`) to `to`, checking it reads back the same.
/// A fresh TCP stream socket of `domain` (close-on-exec): what replaces
/// an MPTCP one, or answers for it.
pub(super) fn fresh_tcp(domain: i32) -> io::Result<OwnedFd> {
    fd::socket(
        domain,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        libc::IPPROTO_TCP,
    )
}

fn carry_options(from: BorrowedFd<'_>, to: BorrowedFd<'_>, domain: i32) -> Result<(), Kept> {
    let fresh = fd::socket(
        domain,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        libc::IPPROTO_MPTCP,
    )
    .map_err(|e| Kept::Errno(e.raw_os_error().unwrap_or(0)))?;
    for option @ &SockOpt { level, name, .. } in OPTIONS {
        let text = option.text();
        if level == libc::SOL_IPV6 && domain == libc::AF_INET {
            continue;
        }
        let Some(value) = get_option(from, level, name) else {
            // Unreadable here: never set.
            continue;
        };
        if get_option(fresh.as_fd(), level, name) == Some(value) {
            continue;
        }
        if !copy_option(from, to, level, name) {
            return Err(Kept::Uncarried(text));
        }
    }
    Ok(())
}

/// An option's value: its bytes and length.
pub(super) type OptionValue = ([u8; 32], usize);

pub(super) fn get_option(socket: BorrowedFd<'_>, level: i32, name: i32) -> Option<OptionValue> {
    let mut buf = [0u8; 32];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `buf`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| (buf, (len as usize).min(32)))
}

fn set_option(socket: BorrowedFd<'_>, level: i32, name: i32, value: &[u8]) {
    // SAFETY: setsockopt reads `value.len()` bytes from the slice.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
}

pub(super) fn int_option(socket: BorrowedFd<'_>, level: i32, name: i32) -> Option<i32> {
    match get_option(socket, level, name)? {
        (buf, 4) => Some(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])),
        _ => None,
    }
}

/// Copies one option from `from` to `to` when it differs from `to`'s own,
/// as the shim's swap does. False when `to` still differs afterwards.
fn copy_option(from: BorrowedFd<'_>, to: BorrowedFd<'_>, level: i32, name: i32) -> bool {
    let Some((old, old_len)) = get_option(from, level, name) else {
        return true;
    };
    let same = |to: BorrowedFd<'_>| {
        get_option(to, level, name)
            .is_some_and(|(new, len)| len == old_len && old[..old_len] == new[..old_len])
    };
    if same(to) {
        return true;
    }
    let mut value = old;
    let len = mptcpize_contract::swap_options::value_to_set(level, name, &mut value, old_len);
    set_option(to, level, name, &value[..len]);
    if same(to) {
        return true;
    }
    if let Some(forced) = mptcpize_contract::swap_options::forced(level, name) {
        // Set with SO_*BUFFORCE beyond the sysctl maximum: force it again.
        set_option(to, level, forced, &value[..len]);
        return same(to);
    }
    false
}

// fcntl commands the libc crate does not name on every target.
const F_SETSIG: i32 = 10;
const F_GETSIG: i32 = 11;
const F_GETOWN_EX: i32 = 16;

/// `struct f_owner_ex` (fcntl F_GETOWN_EX / F_SETOWN_EX).
#[repr(C)]
#[derive(Default)]
struct OwnerEx {
    kind: i32,
    pid: libc::pid_t,
}

/// Carries the process or thread `SIGIO`/`SIGURG` go to, and the signal.
fn carry_owner(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Kept> {
    let mut owner = OwnerEx::default();
    // SAFETY: F_GETOWN_EX writes one f_owner_ex into our local.
    let got = unsafe { libc::fcntl(from.as_raw_fd(), F_GETOWN_EX, &raw mut owner) } == 0;
    if !got {
        return Err(Kept::Uncarried("the F_SETOWN owner"));
    }
    // Not carried: the kernel stamps an owner with the credentials of who
    // sets it and checks the signals it sends against them; set by the
    // supervisor (root, perhaps) a program's SIGIO could then reach any
    // process. The program set it with its own rights: the socket stays.
    if owner.pid != 0 {
        return Err(Kept::Uncarried("the F_SETOWN owner"));
    }
    let signal = fcntl(from, F_GETSIG, 0);
    if signal > 0 && fcntl(to, F_SETSIG, signal) != 0 {
        return Err(Kept::Uncarried("the F_SETSIG signal"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        Rules::parse(text.as_bytes()).unwrap()
    }

    fn traps_of(text: &str) -> (bool, bool) {
        let traps = traps(&rules(text));
        (traps.connect, traps.listen)
    }

    #[test]
    fn only_rules_that_can_say_tcp_trap() {
        // The defaults: loopback connections become TCP.
        assert_eq!(traps_of(""), (true, false));
        // --loopback alone (and --require-mptcp): nothing to decide.
        assert_eq!(traps_of("loopback=1;listen=1"), (false, false));
        for text in [
            "loopback=1;exclude=10.0.0.0/8",
            "loopback=1;include=10.0.0.0/8",
            "loopback=1;include-port=443",
        ] {
            assert_eq!(traps_of(text), (true, false), "{text}");
        }
        assert_eq!(traps_of("loopback=1;listen=0"), (false, true));
        // --exclude-port keeps listeners on that port TCP too.
        assert_eq!(traps_of("loopback=1;exclude-port=22"), (true, true));
        assert_eq!(traps_of("listen=0"), (true, true));
    }

    #[test]
    fn calls_by_number() {
        let arch = super::super::filter::X86_64;
        let own = credentials::own();
        let both = ConnectRules::new(rules("listen=0"), arch, own);
        assert_eq!(both.call(42), Some(Call::Connect));
        assert_eq!(both.call(50), Some(Call::Listen));
        assert_eq!(both.call(41), None);
        let none = ConnectRules::new(rules("loopback=1"), arch, own);
        assert_eq!(none.call(42), None);
        assert_eq!(none.call(50), None);
    }

    /// Options the program set are found and carried; untouched ones are
    /// left as TCP has them (a buffer size copied would stop autotuning).
    #[test]
    fn options_set_are_carried_and_only_those() {
        let mptcp = fd::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_MPTCP);
        let Ok(mptcp) = mptcp else {
            panic!("MPTCP sockets are needed for this test (net.mptcp.enabled=1)");
        };
        let tcp = fd::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP).unwrap();
        let fresh = fd::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP).unwrap();
        set_option(
            mptcp.as_fd(),
            libc::SOL_TCP,
            libc::TCP_KEEPIDLE,
            &77i32.to_ne_bytes(),
        );
        set_option(mptcp.as_fd(), libc::SOL_TCP, libc::TCP_CONGESTION, b"reno");
        carry_options(mptcp.as_fd(), tcp.as_fd(), libc::AF_INET).unwrap();
        assert_eq!(
            int_option(tcp.as_fd(), libc::SOL_TCP, libc::TCP_KEEPIDLE),
            Some(77)
        );
        let congestion = get_option(tcp.as_fd(), libc::SOL_TCP, libc::TCP_CONGESTION).unwrap();
        assert!(congestion.0.starts_with(b"reno"), "{congestion:?}");
        for name in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            assert_eq!(
                get_option(tcp.as_fd(), libc::SOL_SOCKET, name),
                get_option(fresh.as_fd(), libc::SOL_SOCKET, name),
            );
        }
        assert_eq!(undecided(mptcp.as_fd()), Some(libc::AF_INET));
        assert_eq!(undecided(tcp.as_fd()), None);
        assert_eq!(bound_port(mptcp.as_fd()), 0);
    }

    /// A descriptor of ours on the borrowed number is the same file again
    /// afterwards, with its close-on-exec flag.
    #[test]
    fn borrowed_numbers_are_given_back() {
        let socket = fd::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let ours = fd::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0).unwrap();
        let number = ours.as_raw_fd();
        let before = inode(ours.as_fd());
        // SAFETY: clearing close-on-exec on our own descriptor.
        unsafe { libc::fcntl(number, libc::F_SETFD, 0) };
        let seen = on_number(socket.as_fd(), number, |n| {
            // SAFETY: n is a valid descriptor of ours meanwhile.
            inode(unsafe { BorrowedFd::borrow_raw(n) })
        })
        .unwrap();
        assert_eq!(seen, inode(socket.as_fd()));
        assert_eq!(inode(ours.as_fd()), before);
        assert_eq!(fcntl(ours.as_fd(), libc::F_GETFD, 0), 0);
        // A free number is free again afterwards.
        let free = 900;
        assert!(fcntl_raw(free, libc::F_GETFD, 0) < 0);
        on_number(socket.as_fd(), free, |_| ()).unwrap();
        assert!(fcntl_raw(free, libc::F_GETFD, 0) < 0);
    }
}
