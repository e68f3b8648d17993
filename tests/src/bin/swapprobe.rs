//! swapprobe: what a program can observe of its TCP socket around
//! `connect()`, for the tests of the shim's swap (issue 14). Each case
//! prints `KEY VALUE` lines that must be the same with and without the shim,
//! and a last `protocol P` line (the connected socket's SO_PROTOCOL), which
//! the tests judge apart.
//!
//! Usage: `swapprobe CASE ADDR PORT`, where ADDR:PORT is an echo server
//! (every byte sent comes back). Cases:
//!   epoll-et          EPOLL_CTL_ADD (EPOLLOUT|EPOLLET, data word) before a
//!                     non-blocking connect; the event after it; MOD to
//!                     EPOLLIN, a round trip, DEL
//!   epoll-oneshot     EPOLLONESHOT added before connect: one event, then
//!                     none until MOD re-arms it
//!   epoll-fired       EPOLLONESHOT that fires before connect (an unconnected
//!                     socket is writable): still disarmed after it
//!   epoll-two         the socket in two epoll instances (one EXCLUSIVE),
//!                     each with its own data word
//!   dup               dup() before connect; write through the duplicate
//!   dup2              dup2() onto another number before connect
//!   dupfd             fcntl(F_DUPFD_CLOEXEC) before connect
//!   scm-rights        the socket sent to ourselves with SCM_RIGHTS before
//!                     connect; the received copy sees the connection
//!   fork              fork() before connect; the child connects the shared
//!                     socket, then the parent's connect()
//!   sigio             F_SETOWN + O_ASYNC before connect: SIGIO arrives
//!   options           options set before connect, read back after it
//!   user-timeout      TCP_USER_TIMEOUT=0 before bind/listen (protocol of the
//!                     listener, not of a connection)
//!   bad-pointers      connect, bind and setsockopt with bad addresses
//!
//! `nokcmp:CASE` runs CASE under a seccomp filter that answers EPERM to
//! `kcmp` and `process_vm_readv`, as container runtimes' default profiles
//! do without CAP_SYS_PTRACE: the shim must then find what it needs
//! another way.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `rc` as the program sees it: `ok` or `errno N`.
fn outcome(rc: i64) -> String {
    if rc >= 0 {
        "ok".into()
    } else {
        format!("errno {}", errno())
    }
}

fn say(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

fn tcp_socket(nonblock: bool, domain: i32) -> i32 {
    let flags = if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket() call.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | flags, 0) };
    assert!(fd >= 0, "socket: errno {}", errno());
    fd
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned for it.
            let sin = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn connect(fd: i32, addr: &SocketAddr) -> i64 {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid address of `len` bytes.
    i64::from(unsafe { libc::connect(fd, (&raw const storage).cast(), len) })
}

fn domain_of(addr: &SocketAddr) -> i32 {
    if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

fn so_protocol(fd: i32) -> i32 {
    int_option(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).unwrap_or(-1)
}

fn int_option(fd: i32, level: i32, name: i32) -> Option<i32> {
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: value/len describe an i32.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &mut len) };
    (rc == 0).then_some(value)
}

fn set_int(fd: i32, level: i32, name: i32, value: i32) -> String {
    // SAFETY: an i32 value of its size.
    let rc = unsafe { libc::setsockopt(fd, level, name, (&raw const value).cast(), 4) };
    outcome(i64::from(rc))
}

fn write(fd: i32, data: &[u8]) -> String {
    // SAFETY: writes from our buffer.
    outcome(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) } as i64)
}

/// Reads exactly `n` bytes, waiting up to 5 s (the socket may be non-blocking).
fn read_n(fd: i32, n: usize) -> String {
    let mut got = Vec::new();
    for _ in 0..500 {
        let mut buf = [0u8; 256];
        // SAFETY: reads into our buffer.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len().min(n - got.len())) };
        if r > 0 {
            got.extend_from_slice(&buf[..r as usize]);
            if got.len() == n {
                return String::from_utf8_lossy(&got).into_owned();
            }
        } else if r == 0 {
            return format!("eof after {}", got.len());
        } else if errno() != libc::EAGAIN {
            return format!("errno {}", errno());
        } else {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    format!("timeout after {}", got.len())
}

/// Waits until a non-blocking connect is done; its SO_ERROR.
fn finish_connect(fd: i32) -> i32 {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd.
    unsafe { libc::poll(&mut pfd, 1, 5000) };
    int_option(fd, libc::SOL_SOCKET, libc::SO_ERROR).unwrap_or(-1)
}

fn epoll_add(ep: i32, op: i32, fd: i32, events: u32, data: u64) -> String {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: a valid event struct.
    outcome(i64::from(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) }))
}

/// Events from one epoll_wait of up to `ms`: `none` or `EVENTS/DATA` (hex).
fn epoll_wait(ep: i32, ms: i32) -> String {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: room for 4 events.
    let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 4, ms) };
    if n <= 0 {
        return if n == 0 {
            "none".into()
        } else {
            format!("errno {}", errno())
        };
    }
    let mut seen: Vec<String> = events[..n as usize]
        .iter()
        .map(|e| {
            let (ev, data) = (e.events, e.u64);
            format!("{ev:x}/{data:x}")
        })
        .collect();
    seen.sort();
    seen.join(",")
}

fn epoll() -> i32 {
    // SAFETY: plain epoll_create1.
    unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }
}

const OUT_ET: u32 = (libc::EPOLLOUT | libc::EPOLLET) as u32;
const IN_ET: u32 = (libc::EPOLLIN | libc::EPOLLET) as u32;
const ONESHOT: u32 = libc::EPOLLONESHOT as u32;

fn epoll_et(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(true, domain_of(addr));
    let ep = epoll();
    say("add", epoll_add(ep, libc::EPOLL_CTL_ADD, fd, OUT_ET, 0xabc));
    say(
        "connect",
        outcome(connect(fd, addr)).replace("errno 115", "in-progress"),
    );
    say("connected", finish_connect(fd));
    say("event", epoll_wait(ep, 5000));
    say("mod", epoll_add(ep, libc::EPOLL_CTL_MOD, fd, IN_ET, 0xdef));
    say("write", write(fd, b"ping"));
    say("event", epoll_wait(ep, 5000));
    say("read", read_n(fd, 4));
    say("del", epoll_add(ep, libc::EPOLL_CTL_DEL, fd, 0, 0));
    say("del-again", epoll_add(ep, libc::EPOLL_CTL_DEL, fd, 0, 0));
    fd
}

fn epoll_oneshot(addr: &SocketAddr, fire_first: bool) -> i32 {
    let fd = tcp_socket(true, domain_of(addr));
    let ep = epoll();
    say(
        "add",
        epoll_add(ep, libc::EPOLL_CTL_ADD, fd, OUT_ET | ONESHOT, 7),
    );
    if fire_first {
        // An unconnected socket is writable (and hung up): this fires it.
        say("event-before", epoll_wait(ep, 1000));
    }
    say(
        "connect",
        outcome(connect(fd, addr)).replace("errno 115", "in-progress"),
    );
    say("connected", finish_connect(fd));
    say("event", epoll_wait(ep, if fire_first { 300 } else { 5000 }));
    say("event-again", epoll_wait(ep, 300));
    say(
        "rearm",
        epoll_add(ep, libc::EPOLL_CTL_MOD, fd, IN_ET | ONESHOT, 8),
    );
    say("write", write(fd, b"pong"));
    say("event-rearmed", epoll_wait(ep, 5000));
    say("read", read_n(fd, 4));
    fd
}

fn epoll_two(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(true, domain_of(addr));
    let (a, b) = (epoll(), epoll());
    say("add-a", epoll_add(a, libc::EPOLL_CTL_ADD, fd, OUT_ET, 1));
    let exclusive = OUT_ET | libc::EPOLLEXCLUSIVE as u32;
    say("add-b", epoll_add(b, libc::EPOLL_CTL_ADD, fd, exclusive, 2));
    say(
        "connect",
        outcome(connect(fd, addr)).replace("errno 115", "in-progress"),
    );
    say("connected", finish_connect(fd));
    say("event-a", epoll_wait(a, 5000));
    say("event-b", epoll_wait(b, 5000));
    fd
}

/// A copy of `fd` made by `how` before connect: both must name one socket.
fn shared(addr: &SocketAddr, how: &str) -> i32 {
    let fd = tcp_socket(false, domain_of(addr));
    // SAFETY: descriptor calls on our own socket.
    let copy = unsafe {
        match how {
            "dup" => libc::dup(fd),
            "dup2" => libc::dup2(fd, 200),
            _ => libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100),
        }
    };
    say("copy", outcome(i64::from(copy)));
    say("connect", outcome(connect(fd, addr)));
    say("write-copy", write(copy, b"abcd"));
    say("read", read_n(fd, 4));
    say("same-protocol", so_protocol(copy) == so_protocol(fd));
    fd
}

fn scm_rights(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(false, domain_of(addr));
    let mut pair = [0i32; 2];
    // SAFETY: room for two descriptors.
    unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()) };
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    #[repr(C)]
    struct Control {
        header: libc::cmsghdr,
        fd: i32,
    }
    // SAFETY: all-zero is a valid Control/msghdr.
    let mut control: Control = unsafe { std::mem::zeroed() };
    // SAFETY: CMSG_LEN of a constant.
    control.header.cmsg_len = unsafe { libc::CMSG_LEN(4) } as _;
    control.header.cmsg_level = libc::SOL_SOCKET;
    control.header.cmsg_type = libc::SCM_RIGHTS;
    control.fd = fd;
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    msg.msg_controllen = size_of::<Control>() as _;
    // SAFETY: a complete message with one descriptor.
    say(
        "send",
        outcome(unsafe { libc::sendmsg(pair[0], &msg, 0) } as i64),
    );
    control.fd = -1;
    // SAFETY: receives into the same buffers.
    say(
        "recv",
        outcome(unsafe { libc::recvmsg(pair[1], &mut msg, 0) } as i64),
    );
    let copy = control.fd;
    say("connect", outcome(connect(fd, addr)));
    say("write-copy", write(copy, b"wxyz"));
    say("read", read_n(fd, 4));
    fd
}

fn fork_case(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(false, domain_of(addr));
    // SAFETY: the child only connects, writes a line and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let rc = connect(fd, addr);
        say("child-connect", outcome(rc));
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    say("parent-connect", outcome(connect(fd, addr)));
    say("write", write(fd, b"fork"));
    say("read", read_n(fd, 4));
    fd
}

static SIGIOS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigio(_: i32) {
    SIGIOS.fetch_add(1, Ordering::Relaxed);
}

fn sigio(addr: &SocketAddr) -> i32 {
    // SAFETY: installs a handler that only bumps an atomic.
    unsafe { libc::signal(libc::SIGIO, on_sigio as *const () as libc::sighandler_t) };
    let fd = tcp_socket(false, domain_of(addr));
    // SAFETY: fcntl on our own socket.
    unsafe {
        say(
            "setown",
            outcome(i64::from(libc::fcntl(fd, libc::F_SETOWN, libc::getpid()))),
        );
        let flags = libc::fcntl(fd, libc::F_GETFL);
        say(
            "async",
            outcome(i64::from(libc::fcntl(
                fd,
                libc::F_SETFL,
                flags | libc::O_ASYNC,
            ))),
        );
    }
    // TCP signals the owner when the connection is established.
    SIGIOS.store(0, Ordering::Relaxed);
    say("connect", outcome(connect(fd, addr)));
    // SAFETY: as above.
    say("owner-is-me", unsafe {
        libc::fcntl(fd, libc::F_GETOWN) == libc::getpid()
    });
    say("write", write(fd, b"sig!"));
    say("read", read_n(fd, 4));
    for _ in 0..100 {
        if SIGIOS.load(Ordering::Relaxed) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    say("sigio", SIGIOS.load(Ordering::Relaxed) > 0);
    fd
}

/// Options a program may set before connect(), with non-default values.
const OPTIONS: &[(&str, i32, i32, i32)] = &[
    ("SO_RCVLOWAT", libc::SOL_SOCKET, libc::SO_RCVLOWAT, 100),
    ("SO_TIMESTAMP", libc::SOL_SOCKET, libc::SO_TIMESTAMP, 1),
    ("SO_TIMESTAMPNS", libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1),
    ("SO_BUSY_POLL", libc::SOL_SOCKET, libc::SO_BUSY_POLL, 50),
    ("SO_KEEPALIVE", libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
    ("SO_PRIORITY", libc::SOL_SOCKET, libc::SO_PRIORITY, 3),
    ("SO_RCVBUF", libc::SOL_SOCKET, libc::SO_RCVBUF, 100_000),
    ("SO_SNDBUF", libc::SOL_SOCKET, libc::SO_SNDBUF, 100_000),
    ("SO_MARK", libc::SOL_SOCKET, libc::SO_MARK, 7),
    ("TCP_INQ", libc::SOL_TCP, libc::TCP_INQ, 1),
    ("TCP_NODELAY", libc::SOL_TCP, libc::TCP_NODELAY, 1),
    ("TCP_KEEPIDLE", libc::SOL_TCP, libc::TCP_KEEPIDLE, 77),
    (
        "TCP_NOTSENT_LOWAT",
        libc::SOL_TCP,
        libc::TCP_NOTSENT_LOWAT,
        9999,
    ),
    ("TCP_DEFER_ACCEPT", libc::SOL_TCP, libc::TCP_DEFER_ACCEPT, 5),
    ("IP_TOS", libc::SOL_IP, libc::IP_TOS, 0x10),
    // Ports 40000-40999 (low half, high half).
    (
        "IP_LOCAL_PORT_RANGE",
        libc::SOL_IP,
        51,
        40000 | (40999 << 16),
    ),
];

fn options(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(false, domain_of(addr));
    for &(name, level, opt, value) in OPTIONS {
        if level == libc::SOL_IP && !addr.is_ipv4() {
            continue;
        }
        say(&format!("set {name}"), set_int(fd, level, opt, value));
    }
    say("connect", outcome(connect(fd, addr)));
    for &(name, level, opt, _) in OPTIONS {
        if level == libc::SOL_IP && !addr.is_ipv4() {
            continue;
        }
        say(
            &format!("get {name}"),
            format!("{:?}", int_option(fd, level, opt)),
        );
    }
    fd
}

fn user_timeout(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(false, domain_of(addr));
    say("set", set_int(fd, libc::SOL_TCP, libc::TCP_USER_TIMEOUT, 0));
    say(
        "get",
        format!(
            "{:?}",
            int_option(fd, libc::SOL_TCP, libc::TCP_USER_TIMEOUT)
        ),
    );
    let any = SocketAddr::new(addr.ip(), 0);
    let (storage, len) = sockaddr(&any);
    // SAFETY: a valid address of `len` bytes.
    say(
        "bind",
        outcome(i64::from(unsafe {
            libc::bind(fd, (&raw const storage).cast(), len)
        })),
    );
    // SAFETY: plain listen().
    say("listen", outcome(i64::from(unsafe { libc::listen(fd, 8) })));
    fd
}

fn bad_pointers(addr: &SocketAddr) -> i32 {
    let fd = tcp_socket(false, domain_of(addr));
    let bad = ptr::dangling::<libc::sockaddr>();
    // SAFETY: deliberately bad pointers: the kernel must answer EFAULT.
    unsafe {
        say("connect", outcome(i64::from(libc::connect(fd, bad, 16))));
        say(
            "connect-null",
            outcome(i64::from(libc::connect(fd, ptr::null(), 16))),
        );
        say("bind", outcome(i64::from(libc::bind(fd, bad, 16))));
        let value = ptr::dangling::<libc::c_void>();
        let keepalive = libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, value, 4);
        say("setsockopt-keepalive", outcome(i64::from(keepalive)));
        let user_timeout = libc::setsockopt(fd, libc::SOL_TCP, libc::TCP_USER_TIMEOUT, value, 4);
        say("setsockopt-user-timeout", outcome(i64::from(user_timeout)));
    }
    // Still usable afterwards.
    say("connect-good", outcome(connect(fd, addr)));
    fd
}

/// Makes `kcmp` and `process_vm_readv` fail with EPERM in this process
/// from now on (a seccomp filter; x86_64 and aarch64 system call numbers
/// come from libc).
fn deny_kcmp_and_process_vm_readv() {
    const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS: seccomp_data.nr
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    let step = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut program = [
        step(LD_NR, 0, 0, 0),
        step(JEQ, 2, 0, libc::SYS_kcmp as u32),
        step(JEQ, 1, 0, libc::SYS_process_vm_readv as u32),
        step(RET, 0, 0, ALLOW),
        step(RET, 0, 0, EPERM),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: prctl with a valid filter program that outlives the call.
    let rc = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog)
    };
    assert_eq!(rc, 0, "installing the seccomp filter: errno {}", errno());
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [case, ip, port] = &args[..] else {
        eprintln!("usage: swapprobe CASE ADDR PORT (see the source for the cases)");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match format!("{ip}:{port}")
        .parse()
        .or_else(|_| format!("[{ip}]:{port}").parse())
    {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("swapprobe: bad address {ip} {port}: {e}");
            return ExitCode::from(2);
        }
    };
    let case = match case.strip_prefix("nokcmp:") {
        Some(case) => {
            deny_kcmp_and_process_vm_readv();
            case
        }
        None => case.as_str(),
    };
    let fd = match case {
        "epoll-et" => epoll_et(&addr),
        "epoll-oneshot" => epoll_oneshot(&addr, false),
        "epoll-fired" => epoll_oneshot(&addr, true),
        "epoll-two" => epoll_two(&addr),
        "dup" | "dup2" | "dupfd" => shared(&addr, case),
        "scm-rights" => scm_rights(&addr),
        "fork" => fork_case(&addr),
        "sigio" => sigio(&addr),
        "options" => options(&addr),
        "user-timeout" => user_timeout(&addr),
        "bad-pointers" => bad_pointers(&addr),
        _ => {
            eprintln!("swapprobe: unknown case {case}");
            return ExitCode::from(2);
        }
    };
    say("protocol", so_protocol(fd));
    ExitCode::SUCCESS
}
