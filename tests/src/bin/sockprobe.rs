//! sockprobe: a small dynamically linked program that reports what kind of
//! sockets it really gets, for the mptcpize-rs tests.
//!
//! Usage:
//!   sockprobe sockets              one line per socket: `NAME PROTOCOL nonblock=0|1 cloexec=0|1`
//!                                  (or `NAME error ERRNO`)
//!   sockprobe child                create one TCP socket (`parent-tcp4 ...` line), run
//!                                  `/proc/self/exe sockets` as a child process and print
//!                                  its output (after a `child-pid PID` line)
//!   sockprobe stress THREADS COUNT THREADS threads each create COUNT TCP sockets and check
//!                                  that SO_PROTOCOL is 262; prints `converted N of M`
//!   sockprobe orphan FILE DELAY_MS start a background process and exit at once; that
//!                                  process waits until it is orphaned, sleeps DELAY_MS,
//!                                  opens a TCP socket and writes `protocol P pid PID` to FILE
//!   sockprobe bench COUNT          COUNT times socket(AF_INET, SOCK_STREAM, 0) + close();
//!                                  prints `ns_per_socket N`
//!   sockprobe bench-connect COUNT  COUNT times socket() + connect() to its own 127.0.0.1
//!                                  listener + accept() + close() of both; prints
//!                                  `ns_per_connect NS` and `protocol P` (the last client's)
//!   sockprobe connect ADDR PORT [--opt NAME=VALUE]... [--nonblock] [--cloexec] [--echo N]
//!                                  open a TCP socket (SOCK_NONBLOCK/SOCK_CLOEXEC on request),
//!                                  set each option (`opt NAME rc ERRNO`), connect (blocking
//!                                  until done) and print `protocol P nonblock=0|1 cloexec=0|1`
//!                                  (with --echo N: then send N bytes through an echo
//!                                  server and print `echo ok N` if all come back intact)
//!   sockprobe churn THREADS COUNT TCP_PORT MPTCP_PORT
//!                                  threads connect to 127.0.0.1 over and over (with
//!                                  descriptor reuse), checking each connection's protocol
//!                                  and echoed bytes; prints `churn ok N`
//!   sockprobe signals COUNT TCP_PORT MPTCP_PORT
//!                                  one thread makes COUNT churn connections while a
//!                                  SIGALRM every 200 µs opens a TCP socket inside the
//!                                  signal handler, checks it is MPTCP and closes it;
//!                                  prints `signals ok N handler H` (H handler sockets)
//!   sockprobe mptcp-echo ADDR PORT BYTES
//!                                  open an MPTCP socket (IPPROTO_MPTCP) and connect; if
//!                                  MPTCP is in use, exchange 1 KiB round trips until the
//!                                  kernel has joined a second subflow (at most 5 s); then
//!                                  stream BYTES through an echo server (a writer thread,
//!                                  every byte checked as it comes back) and, with the
//!                                  connection still open, report what the kernel says of
//!                                  it: `protocol P`, `echo ok N` (or `echo failed: ...`),
//!                                  `fallback 0|1`, `remote_key 0|1`, `subflows N` (joined
//!                                  besides the first, from MPTCP_INFO), then one line per
//!                                  subflow `subflow LOCAL REMOTE acked A received R` (its
//!                                  tcpi_bytes_acked/received, from MPTCP_TCPINFO and
//!                                  MPTCP_SUBFLOW_ADDRS); last `eof ok` once the server
//!                                  closes after our shutdown(SHUT_WR)

use std::io::{self, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use libc::IPPROTO_MPTCP;

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// SO_PROTOCOL of `fd`, or Err(errno).
fn so_protocol(fd: i32) -> Result<i32, i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value/len point to a c_int and its size, as getsockopt expects.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PROTOCOL,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 { Ok(value) } else { Err(errno()) }
}

/// (O_NONBLOCK set, FD_CLOEXEC set) for `fd`.
fn fd_flags(fd: i32) -> (bool, bool) {
    // SAFETY: fcntl queries on an fd we own.
    let (fl, fd_fl) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFL),
            libc::fcntl(fd, libc::F_GETFD),
        )
    };
    (
        fl >= 0 && fl & libc::O_NONBLOCK != 0,
        fd_fl >= 0 && fd_fl & libc::FD_CLOEXEC != 0,
    )
}

fn close(fd: i32) {
    // SAFETY: closing an fd we created and no longer use.
    unsafe {
        libc::close(fd);
    }
}

fn sockets() -> ExitCode {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let cases: &[(&str, i32, i32, i32)] = &[
        ("tcp4", libc::AF_INET, libc::SOCK_STREAM, 0),
        ("tcp6", libc::AF_INET6, libc::SOCK_STREAM, 0),
        (
            "tcp4-explicit",
            libc::AF_INET,
            libc::SOCK_STREAM,
            libc::IPPROTO_TCP,
        ),
        ("tcp4-flags", libc::AF_INET, libc::SOCK_STREAM | flags, 0),
        (
            "tcp6-explicit",
            libc::AF_INET6,
            libc::SOCK_STREAM,
            libc::IPPROTO_TCP,
        ),
        (
            "tcp6-flags",
            libc::AF_INET6,
            libc::SOCK_STREAM | flags,
            libc::IPPROTO_TCP,
        ),
        ("mptcp4", libc::AF_INET, libc::SOCK_STREAM, IPPROTO_MPTCP),
        ("udp4", libc::AF_INET, libc::SOCK_DGRAM, 0),
        ("udp6", libc::AF_INET6, libc::SOCK_DGRAM, 0),
        ("unix", libc::AF_UNIX, libc::SOCK_STREAM, 0),
    ];
    let mut out = String::new();
    for &(name, domain, ty, proto) in cases {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(domain, ty, proto) };
        if fd < 0 {
            out.push_str(&format!("{name} error {}\n", errno()));
            continue;
        }
        let (nonblock, cloexec) = fd_flags(fd);
        match so_protocol(fd) {
            Ok(p) => out.push_str(&format!(
                "{name} {p} nonblock={} cloexec={}\n",
                u8::from(nonblock),
                u8::from(cloexec)
            )),
            Err(e) => out.push_str(&format!("{name} getsockopt-error {e}\n")),
        }
        close(fd);
    }
    print_and_exit(&out, ExitCode::SUCCESS)
}

fn print_and_exit(text: &str, code: ExitCode) -> ExitCode {
    let mut stdout = io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(3);
    }
    code
}

fn child() -> ExitCode {
    // One socket in the parent too, so both processes are exercised.
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    let mut text = if fd < 0 {
        format!("parent-tcp4 error {}\n", errno())
    } else {
        let line = match so_protocol(fd) {
            Ok(p) => {
                let (nonblock, cloexec) = fd_flags(fd);
                format!(
                    "parent-tcp4 {p} nonblock={} cloexec={}\n",
                    u8::from(nonblock),
                    u8::from(cloexec)
                )
            }
            Err(e) => format!("parent-tcp4 getsockopt-error {e}\n"),
        };
        close(fd);
        line
    };
    let spawned = Command::new("/proc/self/exe")
        .arg("sockets")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sockprobe: cannot spawn /proc/self/exe: {e}");
            return ExitCode::from(2);
        }
    };
    text.push_str(&format!("child-pid {}\n", child.id()));
    let mut child_out = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut child_out);
    }
    text.push_str(&child_out);
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    print_and_exit(
        &text,
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

fn stress(threads: usize, count: usize) -> ExitCode {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut converted = 0usize;
                let mut errors = Vec::new();
                barrier.wait();
                for i in 0..count {
                    let domain = if (t + i) % 2 == 0 { libc::AF_INET } else { libc::AF_INET6 };
                    let flags = match i % 4 {
                        0 => 0,
                        1 => libc::SOCK_NONBLOCK,
                        2 => libc::SOCK_CLOEXEC,
                        _ => libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    };
                    let proto = if i % 3 == 0 { libc::IPPROTO_TCP } else { 0 };
                    // SAFETY: plain socket(2) call.
                    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | flags, proto) };
                    if fd < 0 {
                        errors.push(format!("thread {t} socket {i}: errno {}", errno()));
                        continue;
                    }
                    let (nonblock, cloexec) = fd_flags(fd);
                    let want = (
                        flags & libc::SOCK_NONBLOCK != 0,
                        flags & libc::SOCK_CLOEXEC != 0,
                    );
                    match so_protocol(fd) {
                        Ok(IPPROTO_MPTCP) if (nonblock, cloexec) == want => converted += 1,
                        Ok(IPPROTO_MPTCP) => errors.push(format!(
                            "thread {t} socket {i}: flags (nonblock, cloexec) = {:?}, want {want:?}",
                            (nonblock, cloexec)
                        )),
                        Ok(p) => errors.push(format!("thread {t} socket {i}: protocol {p}")),
                        Err(e) => errors.push(format!("thread {t} socket {i}: getsockopt errno {e}")),
                    }
                    close(fd);
                }
                (converted, errors)
            })
        })
        .collect();
    let mut converted = 0;
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok((c, e)) => {
                converted += c;
                errors.extend(e);
            }
            Err(_) => errors.push("a thread panicked".to_string()),
        }
    }
    let total = threads * count;
    for e in errors.iter().take(20) {
        eprintln!("sockprobe: {e}");
    }
    let code = if converted == total && errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    print_and_exit(&format!("converted {converted} of {total}\n"), code)
}

/// Starts `orphan-late` in the background and exits without waiting.
fn orphan(file: &str, delay_ms: &str) -> ExitCode {
    let parent = std::process::id().to_string();
    let spawned = Command::new("/proc/self/exe")
        .args(["orphan-late", file, delay_ms, &parent])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn();
    match spawned {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockprobe: cannot spawn /proc/self/exe: {e}");
            ExitCode::from(2)
        }
    }
}

/// Waits until the parent `parent` has exited (we are reparented), then
/// `delay_ms` more, then reports a TCP socket's protocol in `file`.
fn orphan_late(file: &str, delay_ms: u64, parent: u32) -> ExitCode {
    // SAFETY: getppid has no preconditions.
    while unsafe { libc::getppid() } as u32 == parent {
        thread::sleep(std::time::Duration::from_millis(10));
    }
    thread::sleep(std::time::Duration::from_millis(delay_ms));
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    let text = if fd < 0 {
        format!("error {}\n", errno())
    } else {
        let line = match so_protocol(fd) {
            Ok(p) => format!("protocol {p} pid {}\n", std::process::id()),
            Err(e) => format!("getsockopt-error {e}\n"),
        };
        close(fd);
        line
    };
    // Write then rename, so a reader never sees half a line.
    let tmp = format!("{file}.tmp");
    if std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, file))
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Cost of socket() + close() of a TCP socket, averaged over `count`.
fn bench(count: u32) -> ExitCode {
    let start = std::time::Instant::now();
    for _ in 0..count {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        if fd < 0 {
            eprintln!("sockprobe: socket failed: errno {}", errno());
            return ExitCode::FAILURE;
        }
        close(fd);
    }
    let ns = start.elapsed().as_nanos() / u128::from(count.max(1));
    print_and_exit(&format!("ns_per_socket {ns}\n"), ExitCode::SUCCESS)
}

/// Cost of a loopback connection: socket() + connect() to our own
/// listener (made with socket(), so an engine converts it as it would a
/// server's) + accept() + close() of both, averaged over `count`; the
/// protocol of the last client socket tells which path was measured.
fn bench_connect(count: u32) -> ExitCode {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("sockprobe: listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("a bound listener");
    let mut protocol = 0;
    let start = std::time::Instant::now();
    for _ in 0..count {
        let client = match std::net::TcpStream::connect(addr) {
            Ok(client) => client,
            Err(e) => {
                eprintln!("sockprobe: connect: {e}");
                return ExitCode::FAILURE;
            }
        };
        let server = match listener.accept() {
            Ok((server, _)) => server,
            Err(e) => {
                eprintln!("sockprobe: accept: {e}");
                return ExitCode::FAILURE;
            }
        };
        protocol = so_protocol(std::os::fd::AsRawFd::as_raw_fd(&client)).unwrap_or(-1);
        drop(server);
        drop(client);
    }
    let ns = start.elapsed().as_nanos() / u128::from(count.max(1));
    print_and_exit(
        &format!("ns_per_connect {ns}\nprotocol {protocol}\n"),
        ExitCode::SUCCESS,
    )
}

/// (level, name) of the options `connect --opt` knows.
fn option_by_name(name: &str) -> Option<(i32, i32)> {
    Some(match name {
        "TCP_NODELAY" => (libc::SOL_TCP, libc::TCP_NODELAY),
        "TCP_MAXSEG" => (libc::SOL_TCP, libc::TCP_MAXSEG),
        "TCP_CORK" => (libc::SOL_TCP, libc::TCP_CORK),
        "TCP_KEEPIDLE" => (libc::SOL_TCP, libc::TCP_KEEPIDLE),
        "TCP_KEEPINTVL" => (libc::SOL_TCP, libc::TCP_KEEPINTVL),
        "TCP_KEEPCNT" => (libc::SOL_TCP, libc::TCP_KEEPCNT),
        "TCP_SYNCNT" => (libc::SOL_TCP, libc::TCP_SYNCNT),
        "TCP_LINGER2" => (libc::SOL_TCP, libc::TCP_LINGER2),
        "TCP_WINDOW_CLAMP" => (libc::SOL_TCP, libc::TCP_WINDOW_CLAMP),
        "TCP_QUICKACK" => (libc::SOL_TCP, libc::TCP_QUICKACK),
        "TCP_USER_TIMEOUT" => (libc::SOL_TCP, libc::TCP_USER_TIMEOUT),
        "TCP_TX_DELAY" => (libc::SOL_TCP, 37),
        "TCP_NOTSENT_LOWAT" => (libc::SOL_TCP, libc::TCP_NOTSENT_LOWAT),
        "TCP_FASTOPEN_CONNECT" => (libc::SOL_TCP, libc::TCP_FASTOPEN_CONNECT),
        "TCP_CONGESTION" => (libc::SOL_TCP, libc::TCP_CONGESTION),
        "SO_KEEPALIVE" => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        "SO_REUSEADDR" => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        _ => return None,
    })
}

fn connect_probe(addr: &str, port: &str, rest: &[&str]) -> ExitCode {
    let (Ok(ip), Ok(port)) = (addr.parse::<std::net::IpAddr>(), port.parse::<u16>()) else {
        return usage();
    };
    let mut flags = 0;
    let mut opts = Vec::new();
    let mut echo = 0usize;
    let mut rest = rest.iter();
    while let Some(&arg) = rest.next() {
        match arg {
            "--echo" => match rest.next().and_then(|n| n.parse().ok()) {
                Some(n) => echo = n,
                None => return usage(),
            },
            "--nonblock" => flags |= libc::SOCK_NONBLOCK,
            "--cloexec" => flags |= libc::SOCK_CLOEXEC,
            "--opt" => match rest.next().and_then(|o| o.split_once('=')) {
                Some((name, value)) => opts.push((name, value)),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let domain = if ip.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | flags, 0) };
    if fd < 0 {
        return print_and_exit(&format!("socket error {}\n", errno()), ExitCode::FAILURE);
    }
    let mut out = String::new();
    for (name, value) in opts {
        let Some((level, optname)) = option_by_name(name) else {
            return usage();
        };
        let int: i32 = value.parse().unwrap_or(0);
        let (ptr, len) = if name == "TCP_CONGESTION" {
            (value.as_ptr().cast(), value.len())
        } else {
            ((&int as *const i32).cast(), size_of::<i32>())
        };
        // SAFETY: ptr/len describe a live buffer.
        let rc = unsafe { libc::setsockopt(fd, level, optname, ptr, len as libc::socklen_t) };
        let e = if rc == 0 { 0 } else { errno() };
        out.push_str(&format!("opt {name} {rc} {e}\n"));
    }
    let target = std::net::SocketAddr::new(ip, port);
    let (storage, len) = sockaddr(&target);
    // SAFETY: storage holds a sockaddr of `len` bytes.
    let mut rc = unsafe { libc::connect(fd, (&raw const storage).cast(), len) };
    if rc != 0 && errno() == libc::EINPROGRESS {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one pollfd.
        unsafe { libc::poll(&mut pfd, 1, 10_000) };
        rc = 0;
    }
    if rc != 0 {
        out.push_str(&format!("connect error {}\n", errno()));
        return print_and_exit(&out, ExitCode::FAILURE);
    }
    let (nonblock, cloexec) = fd_flags(fd);
    match so_protocol(fd) {
        Ok(p) => out.push_str(&format!(
            "protocol {p} nonblock={} cloexec={}\n",
            u8::from(nonblock),
            u8::from(cloexec)
        )),
        Err(e) => out.push_str(&format!("getsockopt-error {e}\n")),
    }
    if echo > 0 {
        match echo_through(fd, echo, 7) {
            Ok(()) => out.push_str(&format!("echo ok {echo}\n")),
            Err(what) => out.push_str(&format!("echo failed: {what}\n")),
        }
    }
    close(fd);
    print_and_exit(&out, ExitCode::SUCCESS)
}

/// Sends `len` bytes of a pattern seeded by `seed` through an echo server on
/// connected (blocking) `fd`, 4 KiB at a time, and checks every byte that
/// comes back.
fn echo_through(fd: i32, len: usize, seed: usize) -> Result<(), String> {
    let pattern = |i: usize| ((i * 31 + seed * 7) % 251) as u8;
    let mut sent = 0;
    while sent < len {
        let chunk: Vec<u8> = (sent..len.min(sent + 4096)).map(pattern).collect();
        // SAFETY: writes from and reads into live buffers of their length.
        let n = unsafe { libc::write(fd, chunk.as_ptr().cast(), chunk.len()) };
        if n <= 0 {
            return Err(format!("write: errno {}", errno()));
        }
        let n = n as usize;
        let mut back = vec![0u8; n];
        let mut got = 0;
        while got < n {
            // SAFETY: as above.
            let r = unsafe { libc::read(fd, back[got..].as_mut_ptr().cast(), n - got) };
            if r <= 0 {
                return Err(format!(
                    "read after {} bytes: errno {}",
                    sent + got,
                    errno()
                ));
            }
            got += r as usize;
        }
        if back != chunk[..n] {
            return Err(format!("bytes differ in [{sent}, {})", sent + n));
        }
        sent += n;
    }
    Ok(())
}

/// THREADS threads each open COUNT connections to 127.0.0.1, alternating
/// between TCP_PORT (expected plain TCP under the test's rules) and
/// MPTCP_PORT (expected MPTCP), every third one first setting
/// TCP_USER_TIMEOUT (which MPTCP rejects: expected plain TCP), echo data
/// through each and close it: descriptors are reused across threads all
/// the time. Any protocol or byte mix-up fails.
fn churn(threads: usize, count: usize, tcp_port: u16, mptcp_port: u16) -> ExitCode {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut failures = Vec::new();
                for i in 0..count {
                    if let Err(e) = churn_one(t, i, tcp_port, mptcp_port) {
                        failures.push(format!("thread {t} connection {i}: {e}"));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_else(|_| vec!["thread panicked".into()]))
        .collect();
    let total = threads * count;
    if failures.is_empty() {
        print_and_exit(&format!("churn ok {total}\n"), ExitCode::SUCCESS)
    } else {
        let text = format!(
            "churn failed {} of {total}\n{}\n",
            failures.len(),
            failures.join("\n")
        );
        print_and_exit(&text, ExitCode::FAILURE)
    }
}

fn churn_one(t: usize, i: usize, tcp_port: u16, mptcp_port: u16) -> Result<(), String> {
    let reject_option = i % 3 == 0;
    let port = if i % 2 == 0 { tcp_port } else { mptcp_port };
    let want = if reject_option || port == tcp_port {
        6
    } else {
        262
    };
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(format!("socket: errno {}", errno()));
    }
    let result = (|| {
        if reject_option {
            let value: i32 = 5000;
            // SAFETY: a live int and its size.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_USER_TIMEOUT,
                    (&value as *const i32).cast(),
                    size_of::<i32>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(format!("setsockopt: errno {}", errno()));
            }
        }
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let (storage, len) = sockaddr(&target);
        // SAFETY: storage holds a sockaddr of `len` bytes.
        if unsafe { libc::connect(fd, (&raw const storage).cast(), len) } != 0 {
            return Err(format!("connect to {port}: errno {}", errno()));
        }
        let got = so_protocol(fd).map_err(|e| format!("SO_PROTOCOL: errno {e}"))?;
        if got != want {
            return Err(format!(
                "port {port}, option {reject_option}: protocol {got}, want {want}"
            ));
        }
        echo_through(fd, 256, t * 1000 + i)
    })();
    close(fd);
    result
}

/// Sockets the SIGALRM handler of `signals` made: MPTCP, and anything else.
static HANDLER_MPTCP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static HANDLER_OTHER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The SIGALRM handler of `signals`: only async-signal-safe calls, and
/// through the shim (socket, close) while the interrupted code may be
/// inside the shim itself.
extern "C" fn on_alarm(_: libc::c_int) {
    use std::sync::atomic::Ordering::Relaxed;
    let saved = errno();
    // SAFETY: socket(2), getsockopt(2) (in so_protocol) and close(2) are
    // async-signal-safe; errno is restored for the interrupted code.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let ok = fd >= 0 && so_protocol(fd) == Ok(IPPROTO_MPTCP);
        if fd >= 0 {
            libc::close(fd);
        }
        if ok { &HANDLER_MPTCP } else { &HANDLER_OTHER }.fetch_add(1, Relaxed);
        *libc::__errno_location() = saved;
    }
}

/// `signals`: the churn of one thread (so every signal lands in it, often
/// inside a wrapped call), with a socket opened in a signal handler every
/// 200 µs. Fails on any protocol or byte mix-up, or a handler socket that
/// is not MPTCP; a deadlock would hang it (the test's timeout catches it).
fn signals(count: usize, tcp_port: u16, mptcp_port: u16) -> ExitCode {
    use std::sync::atomic::Ordering::Relaxed;
    let interval = libc::timeval {
        tv_sec: 0,
        tv_usec: 200,
    };
    let timer = libc::itimerval {
        it_interval: interval,
        it_value: interval,
    };
    // SAFETY: an all-zero sigaction is valid; the handler only makes
    // async-signal-safe calls; SA_RESTART keeps blocking calls going.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
    }
    let failures: Vec<String> = (0..count)
        .filter_map(|i| churn_one(0, i, tcp_port, mptcp_port).err())
        .map(|e| format!("connection: {e}"))
        .collect();
    // SAFETY: an all-zero itimerval is valid, and disarms the timer.
    unsafe {
        let off: libc::itimerval = std::mem::zeroed();
        libc::setitimer(libc::ITIMER_REAL, &off, std::ptr::null_mut());
    }
    let (mptcp, other) = (HANDLER_MPTCP.load(Relaxed), HANDLER_OTHER.load(Relaxed));
    if failures.is_empty() && other == 0 && mptcp > 0 {
        print_and_exit(
            &format!("signals ok {count} handler {mptcp}\n"),
            ExitCode::SUCCESS,
        )
    } else {
        let text = format!(
            "signals failed: {} connections, handler sockets {mptcp} MPTCP {other} other\n{}\n",
            failures.len(),
            failures.join("\n")
        );
        print_and_exit(&text, ExitCode::FAILURE)
    }
}

/// `first-sockets THREADS`: THREADS threads wait at a barrier, then each
/// makes the process's first TCP socket at once (the shim looks libc's
/// `socket` up on its first call: issue 20), reads its protocol, and
/// closes it after a second barrier (the first `close` too, at once).
fn first_sockets(threads: usize) -> ExitCode {
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let close = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (start, close) = (start.clone(), close.clone());
            std::thread::spawn(move || {
                start.wait();
                // SAFETY: plain socket(2), closed below.
                let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
                let protocol = if fd >= 0 {
                    so_protocol(fd)
                } else {
                    Err(errno())
                };
                close.wait();
                if fd >= 0 {
                    // SAFETY: our descriptor.
                    unsafe { libc::close(fd) };
                }
                protocol
            })
        })
        .collect();
    let results: Vec<Result<i32, i32>> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or(Err(-1)))
        .collect();
    let mptcp = results.iter().filter(|r| **r == Ok(IPPROTO_MPTCP)).count();
    let code = if mptcp == threads {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    print_and_exit(
        &format!("first-sockets mptcp {mptcp} of {threads}: {results:?}\n"),
        code,
    )
}

/// The protocol of the socket `first-socket-in-handler`'s handler made
/// (0: not yet; negative: an errno).
static FIRST_IN_HANDLER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Its SIGALRM handler: the process's first `socket`, `getsockopt` and
/// `close`, so the shim looks them up here, in the handler.
extern "C" fn on_first_alarm(_: libc::c_int) {
    let saved = errno();
    // SAFETY: socket(2), getsockopt(2) and close(2) are async-signal-safe;
    // errno is restored for the interrupted code.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let protocol = if fd >= 0 {
            so_protocol(fd)
        } else {
            Err(errno())
        };
        if fd >= 0 {
            libc::close(fd);
        }
        let value = protocol.unwrap_or_else(|e| -e.max(1));
        FIRST_IN_HANDLER.store(value, std::sync::atomic::Ordering::Relaxed);
        *libc::__errno_location() = saved;
    }
}

/// `first-socket-in-handler idle|busy`: the process's first socket is made
/// in a SIGALRM handler. `idle` raises the signal; `busy` arms a timer and
/// meanwhile loops in `dlopen`/`dlclose` (of libresolv) and `malloc`/`free`, so the
/// handler (and the shim's first `dlsym`) may interrupt the dynamic loader
/// or the allocator. Prints the protocol; a deadlock would hang it (the
/// test's timeout catches that).
fn first_socket_in_handler(busy: bool) -> ExitCode {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: an all-zero sigaction is valid; the handler only makes
    // async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_first_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
    }
    if busy {
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 0,
                tv_usec: 300,
            },
        };
        // SAFETY: arms a one-shot timer.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while FIRST_IN_HANDLER.load(Relaxed) == 0 && std::time::Instant::now() < deadline {
            // SAFETY: dlopen/dlclose of a glibc library the probe does not
            // otherwise load: each pair adds an object to the loader's
            // list and removes it, under the loader's lock.
            unsafe {
                let handle = libc::dlopen(c"libresolv.so.2".as_ptr(), libc::RTLD_NOW);
                if !handle.is_null() {
                    libc::dlclose(handle);
                }
            }
            let heap = std::hint::black_box(vec![0u8; 4096]);
            drop(heap);
        }
    } else {
        // SAFETY: delivers SIGALRM to this thread, handled above.
        unsafe { libc::raise(libc::SIGALRM) };
    }
    let protocol = FIRST_IN_HANDLER.load(Relaxed);
    let code = if protocol == IPPROTO_MPTCP {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    print_and_exit(
        &format!("first-socket-in-handler protocol {protocol}\n"),
        code,
    )
}

// From <linux/mptcp.h>: getsockopt level and options.
const SOL_MPTCP: i32 = 284;
const MPTCP_INFO: i32 = 1;
const MPTCP_TCPINFO: i32 = 2;
const MPTCP_SUBFLOW_ADDRS: i32 = 3;
/// `mptcpi_flags` bits.
const MPTCP_INFO_FLAG_FALLBACK: u32 = 1;
const MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED: u32 = 2;
/// `struct mptcp_subflow_data`, the header of the per-subflow answers.
const SUBFLOW_DATA_SIZE: usize = 16;
/// What we read of `struct tcp_info`: up to `tcpi_bytes_received`.
const TCP_INFO_USER: usize = 136;
const TCPI_BYTES_ACKED: usize = 120;
const TCPI_BYTES_RECEIVED: usize = 128;
/// `struct mptcp_subflow_addrs`: two `__kernel_sockaddr_storage`.
const SUBFLOW_ADDRS_USER: usize = 256;
/// Subflows asked for (the tests use two paths).
const MAX_SUBFLOWS: usize = 8;

/// getsockopt(SOL_MPTCP, `name`) into `buf`; the length the kernel wrote.
fn mptcp_getsockopt(fd: i32, name: i32, buf: &mut [u8]) -> Result<usize, i32> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is live and `len` bytes long.
    let rc = unsafe { libc::getsockopt(fd, SOL_MPTCP, name, buf.as_mut_ptr().cast(), &mut len) };
    if rc == 0 {
        Ok(len as usize)
    } else {
        Err(errno())
    }
}

fn u32_at(buf: &[u8], offset: usize) -> u32 {
    u32::from_ne_bytes(buf[offset..offset + 4].try_into().unwrap())
}

fn u64_at(buf: &[u8], offset: usize) -> u64 {
    u64::from_ne_bytes(buf[offset..offset + 8].try_into().unwrap())
}

/// `struct mptcp_info`: (additional subflows, flags), or the errno (a
/// connection that fell back to TCP answers EOPNOTSUPP).
fn mptcp_info(fd: i32) -> Result<(u8, u32), i32> {
    let mut buf = [0u8; 256];
    let len = mptcp_getsockopt(fd, MPTCP_INFO, &mut buf)?;
    if len < 12 {
        return Err(libc::EINVAL);
    }
    Ok((buf[0], u32_at(&buf, 8)))
}

/// An address from a `sockaddr_in`/`sockaddr_in6` in `raw`.
fn socket_address(raw: &[u8]) -> String {
    let family = i32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    match family {
        libc::AF_INET => {
            let ip = std::net::Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            format!("{ip}:{port}")
        }
        libc::AF_INET6 => {
            let octets: [u8; 16] = raw[8..24].try_into().unwrap();
            format!("[{}]:{port}", std::net::Ipv6Addr::from(octets))
        }
        other => format!("family-{other}"),
    }
}

/// One of the per-subflow getsockopts: the entries, `size_user` bytes each.
fn per_subflow(fd: i32, name: i32, size_user: usize) -> Result<Vec<Vec<u8>>, i32> {
    let mut buf = vec![0u8; SUBFLOW_DATA_SIZE + MAX_SUBFLOWS * size_user];
    buf[0..4].copy_from_slice(&(SUBFLOW_DATA_SIZE as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&(size_user as u32).to_ne_bytes());
    mptcp_getsockopt(fd, name, &mut buf)?;
    let count = (u32_at(&buf, 4) as usize).min(MAX_SUBFLOWS);
    let stride = (u32_at(&buf, 12) as usize).min(size_user);
    if stride == 0 {
        return Err(libc::EINVAL);
    }
    Ok((0..count)
        .map(|i| {
            let start = SUBFLOW_DATA_SIZE + i * stride;
            buf[start..start + stride].to_vec()
        })
        .collect())
}

/// `subflow LOCAL REMOTE acked A received R` lines, one per subflow.
fn subflow_lines(fd: i32) -> Result<String, String> {
    let infos = per_subflow(fd, MPTCP_TCPINFO, TCP_INFO_USER)
        .map_err(|e| format!("getsockopt MPTCP_TCPINFO: errno {e}"))?;
    let addrs = per_subflow(fd, MPTCP_SUBFLOW_ADDRS, SUBFLOW_ADDRS_USER)
        .map_err(|e| format!("getsockopt MPTCP_SUBFLOW_ADDRS: errno {e}"))?;
    let mut out = String::new();
    for (info, addr) in infos.iter().zip(&addrs) {
        if info.len() < TCP_INFO_USER || addr.len() < SUBFLOW_ADDRS_USER {
            return Err(format!(
                "short per-subflow entries ({} and {} bytes)",
                info.len(),
                addr.len()
            ));
        }
        out.push_str(&format!(
            "subflow {} {} acked {} received {}\n",
            socket_address(&addr[..128]),
            socket_address(&addr[128..]),
            u64_at(info, TCPI_BYTES_ACKED),
            u64_at(info, TCPI_BYTES_RECEIVED)
        ));
    }
    Ok(out)
}

/// The byte at stream position `i` of the echo exchange.
fn echo_byte(i: usize) -> u8 {
    ((i * 131 + i / 65_521) % 251) as u8
}

/// Writes `len` bytes (from stream position `from`) on one thread while
/// this one reads them back and checks each.
fn stream_echo(stream: &std::net::TcpStream, from: usize, len: usize) -> Result<(), String> {
    let mut writer = stream.try_clone().map_err(|e| format!("dup: {e}"))?;
    let sender = thread::spawn(move || -> io::Result<()> {
        let mut at = from;
        while at < from + len {
            let end = (from + len).min(at + 65_536);
            let chunk: Vec<u8> = (at..end).map(echo_byte).collect();
            writer.write_all(&chunk)?;
            at = end;
        }
        Ok(())
    });
    let mut reader = stream;
    let mut buf = vec![0u8; 65_536];
    let mut at = from;
    let mut failure = None;
    while at < from + len {
        let want = (from + len - at).min(buf.len());
        match reader.read(&mut buf[..want]) {
            Ok(0) => {
                failure = Some(format!("connection closed after {} bytes", at - from));
                break;
            }
            Ok(n) => {
                if let Some(bad) = (0..n).find(|&k| buf[k] != echo_byte(at + k)) {
                    failure = Some(format!("byte {} differs", at + bad - from));
                    break;
                }
                at += n;
            }
            Err(e) => {
                failure = Some(format!("read after {} bytes: {e}", at - from));
                break;
            }
        }
    }
    if failure.is_some() {
        // Unblock the writer: the exchange is over.
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    let sent = sender
        .join()
        .map_err(|_| "writer thread panicked".to_string())?;
    match (failure, sent) {
        (Some(f), _) => Err(f),
        (None, Err(e)) => Err(format!("write: {e}")),
        (None, Ok(())) => Ok(()),
    }
}

fn mptcp_echo(target: std::net::SocketAddr, bytes: usize) -> ExitCode {
    use std::os::fd::FromRawFd;
    use std::time::{Duration, Instant};

    let domain = if target.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            IPPROTO_MPTCP,
        )
    };
    if fd < 0 {
        let e = errno();
        return print_and_exit(&format!("socket error {e}\n"), ExitCode::FAILURE);
    }
    // SAFETY: fd is a fresh stream socket that nothing else owns.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let timeout = Some(Duration::from_secs(10));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let (storage, len) = sockaddr(&target);
    // SAFETY: storage holds a sockaddr of `len` bytes.
    if unsafe { libc::connect(fd, (&raw const storage).cast(), len) } != 0 {
        let e = errno();
        return print_and_exit(&format!("connect error {e}\n"), ExitCode::FAILURE);
    }
    let mut out = match so_protocol(fd) {
        Ok(p) => format!("protocol {p}\n"),
        Err(e) => format!("getsockopt-error {e}\n"),
    };
    // The server announces its second address once the connection is
    // established on its side, which takes data from us: small round trips
    // until the kernel reports a joined subflow (bounded in count and time).
    let mut position = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut result = Ok(());
    for _ in 0..500 {
        if !matches!(mptcp_info(fd), Ok((0, flags)) if flags & MPTCP_INFO_FLAG_FALLBACK == 0)
            || Instant::now() >= deadline
        {
            break;
        }
        result = stream_echo(&stream, position, 1024);
        if result.is_err() {
            break;
        }
        position += 1024;
        thread::sleep(Duration::from_millis(10));
    }
    if result.is_ok() {
        result = stream_echo(&stream, position, bytes);
        position += bytes;
    }
    match result {
        Ok(()) => out.push_str(&format!("echo ok {position}\n")),
        Err(what) => out.push_str(&format!("echo failed: {what}\n")),
    }
    match mptcp_info(fd) {
        Ok((subflows, flags)) => {
            out.push_str(&format!(
                "fallback {}\nremote_key {}\nsubflows {subflows}\n",
                u8::from(flags & MPTCP_INFO_FLAG_FALLBACK != 0),
                u8::from(flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED != 0)
            ));
            match subflow_lines(fd) {
                Ok(lines) => out.push_str(&lines),
                Err(what) => out.push_str(&format!("subflows-error {what}\n")),
            }
        }
        // Only a connection that fell back to TCP answers this way.
        Err(libc::EOPNOTSUPP) => out.push_str("fallback 1\n"),
        Err(e) => out.push_str(&format!("mptcp-info-error {e}\n")),
    }
    // Half-close: the server sees EOF, finishes and closes its end.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut rest = [0u8; 64];
    match (&stream).read(&mut rest) {
        Ok(0) => out.push_str("eof ok\n"),
        Ok(n) => out.push_str(&format!("eof failed: {n} more bytes\n")),
        Err(e) => out.push_str(&format!("eof failed: {e}\n")),
    }
    print_and_exit(&out, ExitCode::SUCCESS)
}

/// A sockaddr for `addr` and its length.
fn sockaddr(addr: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        std::net::SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: sockprobe sockets | child | stress THREADS COUNT | orphan FILE DELAY_MS | bench COUNT \
         | bench-connect COUNT | connect ADDR PORT [--opt NAME=VALUE]... [--nonblock] [--cloexec] [--echo N] \
         | churn THREADS COUNT TCP_PORT MPTCP_PORT | signals COUNT TCP_PORT MPTCP_PORT \
         | mptcp-echo ADDR PORT BYTES | first-sockets THREADS | first-socket-in-handler idle|busy"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["sockets"] => sockets(),
        ["child"] => child(),
        ["stress", threads, count] => match (threads.parse(), count.parse()) {
            (Ok(t), Ok(c)) if t > 0 => stress(t, c),
            _ => usage(),
        },
        ["orphan", file, delay] => orphan(file, delay),
        ["orphan-late", file, delay, parent] => match (delay.parse(), parent.parse()) {
            (Ok(d), Ok(p)) => orphan_late(file, d, p),
            _ => usage(),
        },
        ["bench", count] => match count.parse() {
            Ok(c) => bench(c),
            _ => usage(),
        },
        ["bench-connect", count] => match count.parse() {
            Ok(c) => bench_connect(c),
            _ => usage(),
        },
        ["connect", addr, port, rest @ ..] => connect_probe(addr, port, rest),
        ["churn", threads, count, tcp_port, mptcp_port] => match (
            threads.parse(),
            count.parse(),
            tcp_port.parse(),
            mptcp_port.parse(),
        ) {
            (Ok(t), Ok(c), Ok(tp), Ok(mp)) if t > 0 => churn(t, c, tp, mp),
            _ => usage(),
        },
        ["signals", count, tcp_port, mptcp_port] => {
            match (count.parse(), tcp_port.parse(), mptcp_port.parse()) {
                (Ok(c), Ok(tp), Ok(mp)) => signals(c, tp, mp),
                _ => usage(),
            }
        }
        ["first-sockets", threads] => match threads.parse() {
            Ok(t) if t > 0 => first_sockets(t),
            _ => usage(),
        },
        ["first-socket-in-handler", mode @ ("idle" | "busy")] => {
            first_socket_in_handler(*mode == "busy")
        }
        ["mptcp-echo", addr, port, bytes] => match (addr.parse(), port.parse(), bytes.parse()) {
            (Ok(a), Ok(p), Ok(b)) => mptcp_echo(std::net::SocketAddr::new(a, p), b),
            _ => usage(),
        },
        _ => usage(),
    }
}
