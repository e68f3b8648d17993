//! Which connections stay plain TCP under `run`: the loopback default, the
//! address and port rules, and options MPTCP rejects (issue 8). Checked on
//! the connected socket's SO_PROTOCOL as `sockprobe connect` reports it.
//! The same rules under the seccomp engine (issue 18), with a static C
//! client (`fixtures/connprobe.c`) and a static Go client (`gofetch`).
//!
//! Tests marked "root" build namespaces; the others need MPTCP on the host.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use mptcpize_rs_tests::apps::Wrap;
use mptcpize_rs_tests::*;

/// Path 1's and path 2's server addresses on the two-path network.
const SERVER1: &str = "198.18.1.2";
const SERVER2: &str = "198.18.2.2";

/// Each rule on the two-path network (server listening on PORT 5300 at
/// both addresses): its flags, the server address connected to, and the
/// protocol the connection must have. The shim's and the seccomp engine's
/// tests run the same cases.
const TWO_PATH_RULE_CASES: &[(&[&str], &str, i32)] = &[
    (&[], SERVER1, MPTCP),
    (&["--exclude", "198.18.1.0/24"], SERVER1, TCP),
    (&["--exclude", "198.18.1.0/24"], SERVER2, MPTCP),
    (&["--exclude", "198.18.2.2"], SERVER2, TCP),
    (&["--exclude-port", "5300"], SERVER1, TCP),
    (&["--exclude-port", "5301"], SERVER1, MPTCP),
    (&["--include", "198.18.2.0/24"], SERVER1, TCP),
    (&["--include", "198.18.2.0/24"], SERVER2, MPTCP),
    (&["--include-port", "5300"], SERVER1, MPTCP),
    (&["--include-port", "80"], SERVER1, TCP),
    (&["--loopback"], SERVER1, MPTCP),
];
const PORT: u16 = 5300;

/// `sockprobe connect ADDR PORT EXTRA...`, under `run FLAGS` when `flags`
/// is `Some`, inside `ns` when given; its stdout.
fn probe_connect(
    ns: Option<&Netns>,
    flags: Option<&[&str]>,
    target: (&str, u16),
    extra: &[&str],
) -> String {
    let probe = sockprobe();
    let mut cmd = match (ns, flags) {
        (Some(ns), Some(_)) => ns.cmd(launcher()),
        (None, Some(_)) => Command::new(launcher()),
        (Some(ns), None) => ns.cmd(&probe),
        (None, None) => Command::new(&probe),
    };
    clean_env(&mut cmd);
    if let Some(flags) = flags {
        cmd.arg("run").args(flags).arg("--").arg(&probe);
    }
    cmd.args(["connect", target.0, &target.1.to_string()])
        .args(extra);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    out.stdout.clone()
}

/// The protocol `sockprobe connect` printed.
fn protocol(stdout: &str) -> i32 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("protocol "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no protocol line in:\n{stdout}"))
}

/// A wrapped client connecting to 127.0.0.1 or ::1 gets plain TCP;
/// `--loopback` gives it MPTCP again.
#[test]
fn loopback_connections_are_plain_tcp_by_default() {
    require_mptcp();
    for host in ["127.0.0.1", "::1"] {
        let listener = TcpListener::bind((host, 0)).expect("bind a loopback listener");
        let port = listener.local_addr().unwrap().port();
        let out = probe_connect(None, Some(&[]), (host, port), &[]);
        assert_eq!(protocol(&out), TCP, "{host}: {out}");
        let out = probe_connect(None, Some(&["--loopback"]), (host, port), &[]);
        assert_eq!(protocol(&out), MPTCP, "{host} with --loopback: {out}");
    }
}

/// O_NONBLOCK and FD_CLOEXEC of a swapped socket are as the program set them.
#[test]
fn flags_survive_a_swap() {
    require_mptcp();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for flags in [
        &[][..],
        &["--nonblock"],
        &["--cloexec"],
        &["--nonblock", "--cloexec"],
    ] {
        let out = probe_connect(None, Some(&[]), ("127.0.0.1", port), flags);
        assert_eq!(protocol(&out), TCP, "{out}");
        let want = |flag: &str| if flags.contains(&flag) { "1" } else { "0" };
        assert!(
            out.contains(&format!(
                "nonblock={} cloexec={}",
                want("--nonblock"),
                want("--cloexec")
            )),
            "{flags:?}: {out}"
        );
    }
}

/// A malformed rule stops `run` with status 2 before the program starts.
#[test]
fn malformed_rules_are_usage_errors() {
    for args in [
        &["run", "--exclude", "10.0.0.0/33", "true"][..],
        &["run", "--include", "not-an-address", "true"],
        &["run", "--exclude-port", "70000", "true"],
    ] {
        let out = mptcpize(args);
        out.expect_code(2);
        assert!(out.stderr.contains(args[1]), "{args:?}\n{out}");
    }
}

/// root: each rule on the two-path network.
#[test]
fn rules_on_the_two_path_network() {
    let _turn = my_turn();
    let net = two_path_net(100);
    require_program("ncat");
    let mut server = net.server.cmd("ncat");
    server.args(["-l", "-k", &PORT.to_string()]);
    let _server = ChildGuard::spawn(server.stdin(Stdio::null()).stdout(Stdio::null()));
    wait_for_listen(&net.server, PORT, SHORT);
    let cases = TWO_PATH_RULE_CASES;
    for &(flags, host, want) in cases {
        let out = probe_connect(Some(&net.client), Some(flags), (host, PORT), &[]);
        assert_eq!(protocol(&out), want, "run {flags:?} to {host}: {out}");
    }
}

/// root: options MPTCP rejects: the same answer as without `run`, and the
/// socket ends up TCP, unless the value changes nothing on a fresh socket;
/// options MPTCP accepts keep it MPTCP.
#[test]
fn option_matrix() {
    let _turn = my_turn();
    let net = two_path_net(100);
    require_program("ncat");
    // An echo server: each connection then carries 64 KiB there and back.
    let mut server = net.server.cmd("ncat");
    server.args(["-l", "-k", "-e", "/bin/cat", &PORT.to_string()]);
    let _server = ChildGuard::spawn(server.stdin(Stdio::null()).stdout(Stdio::null()));
    wait_for_listen(&net.server, PORT, SHORT);
    let cases: &[(&str, i32)] = &[
        ("TCP_SYNCNT=3", TCP),
        ("TCP_LINGER2=10", TCP),
        ("TCP_WINDOW_CLAMP=65536", TCP),
        // A fresh TCP socket already acks quickly: 1 changes nothing.
        ("TCP_QUICKACK=1", MPTCP),
        ("TCP_QUICKACK=0", TCP),
        ("TCP_USER_TIMEOUT=1000", TCP),
        // The default value (haproxy sets it on listeners): stays MPTCP.
        ("TCP_USER_TIMEOUT=0", MPTCP),
        ("TCP_TX_DELAY=10", TCP),
        ("TCP_NODELAY=1", MPTCP),
        ("TCP_MAXSEG=1200", MPTCP),
        ("TCP_KEEPIDLE=30", MPTCP),
        ("TCP_KEEPINTVL=5", MPTCP),
        ("TCP_KEEPCNT=3", MPTCP),
        ("TCP_CONGESTION=reno", MPTCP),
        ("TCP_NOTSENT_LOWAT=16384", MPTCP),
        ("TCP_FASTOPEN_CONNECT=1", MPTCP),
    ];
    for &(opt, want) in cases {
        let extra = ["--opt", opt, "--echo", "65536"];
        let plain = probe_connect(Some(&net.client), None, (SERVER1, PORT), &extra);
        let wrapped = probe_connect(Some(&net.client), Some(&[]), (SERVER1, PORT), &extra);
        let opt_line = |out: &str| {
            out.lines()
                .find(|l| l.starts_with("opt "))
                .map(str::to_owned)
        };
        assert_eq!(
            opt_line(&wrapped),
            opt_line(&plain),
            "{opt}: run\n{wrapped}\nplain\n{plain}"
        );
        assert_eq!(protocol(&plain), TCP, "{opt}: {plain}");
        assert_eq!(protocol(&wrapped), want, "{opt}: {wrapped}");
        for out in [&plain, &wrapped] {
            assert!(
                out.contains("echo ok 65536"),
                "{opt}: data not intact\n{out}"
            );
        }
    }
}

/// Threads open, configure, connect, use and close sockets at once, so
/// descriptor numbers are reused all the time, under rules that make some
/// connections TCP (a port rule, an option MPTCP rejects) and others MPTCP:
/// every connection has the protocol its rules say and carries its bytes.
#[test]
fn threaded_churn_with_descriptor_reuse() {
    let out = churn_probe(&["churn", "8", "60"]);
    assert!(out.stdout.contains("churn ok 480"), "{out}");
}

/// The same churn in one thread while a signal handler opens and closes
/// MPTCP sockets every 200 µs, often interrupting the shim inside a hook
/// (a swap included): no deadlock (the timeout), every connection right,
/// every handler socket MPTCP. The hooks take no locks and allocate
/// nothing, so they may run inside a signal handler.
#[test]
fn sockets_opened_in_signal_handlers() {
    let out = churn_probe(&["signals", "300"]);
    out.expect_code(0);
    assert!(out.stdout.contains("signals ok 300 handler "), "{out}");
}

const TCP_PORT: u16 = 5401;
const MPTCP_PORT: u16 = 5402;

/// `sockprobe MODE_ARGS... TCP_PORT MPTCP_PORT` under `run --loopback
/// --include-port MPTCP_PORT`, in a fresh namespace with the churn servers.
fn churn_probe(mode_args: &[&str]) -> CmdOutput {
    let ns = netns(true);
    let _servers = churn_servers(&ns);
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    let include = MPTCP_PORT.to_string();
    cmd.args(["run", "--loopback", "--include-port", &include, "--"])
        .arg(sockprobe())
        .args(mode_args)
        .args([&TCP_PORT.to_string(), &include]);
    run_timeout(&mut cmd, LONG)
}

/// Echo servers in `ns` for the churn tests: plain TCP on TCP_PORT, MPTCP
/// (under run) on MPTCP_PORT.
fn churn_servers(ns: &Netns) -> Vec<ChildGuard> {
    require_program("ncat");
    let mut servers = Vec::new();
    for (port, wrapped) in [(TCP_PORT, false), (MPTCP_PORT, true)] {
        let mut server = Wrap::when(wrapped, &[]).command(ns, "ncat");
        server.args(["-l", "-k", "-e", "/bin/cat", &port.to_string()]);
        servers.push(ChildGuard::spawn(
            server.stdin(Stdio::null()).stdout(Stdio::null()),
        ));
        wait_for_listen(ns, port, SHORT);
    }
    assert!(
        ns.has_mptcp_listener(MPTCP_PORT),
        "the MPTCP port's server must be MPTCP"
    );
    servers
}

/// One iperf3 run of 3 s over 127.0.0.1 in `ns`; the receiver's Gbit/s.
/// `client_flags`: `Some` runs both ends under `run`, the client with
/// these flags.
fn iperf3_loopback_gbps(ns: &Netns, client_flags: Option<&[&str]>) -> f64 {
    let iperf3 = |flags: Option<&[&str]>, args: &[&str]| {
        let wrap = match flags {
            Some(flags) => Wrap::Run(flags),
            None => Wrap::Plain,
        };
        let mut cmd = wrap.command(ns, "iperf3");
        cmd.args(args);
        cmd
    };
    let server_flags = client_flags.map(|_| &[][..]);
    let mut server = ChildGuard::spawn(
        iperf3(server_flags, &["-s", "--one-off", "-p", "5202"]).stdout(Stdio::null()),
    );
    wait_for_listen(ns, 5202, SHORT);
    let out = run_timeout(
        &mut iperf3(
            client_flags,
            &["-c", "127.0.0.1", "-p", "5202", "-t", "3", "--json"],
        ),
        SHORT,
    );
    out.success();
    server.wait_timeout(SHORT);
    let bits = json::iperf3_received_bps(&out.stdout)
        .unwrap_or_else(|| panic!("no sum_received.bits_per_second in iperf3's JSON:\n{out}"));
    bits / 1e9
}

/// root: iperf3 with both ends under `run` over loopback: every socket the
/// client converted was swapped back to plain TCP at `connect()` (the
/// report says so), which is why it runs at TCP's speed. The speeds are
/// printed, not asserted: a timed ratio on a shared VM is a benchmark's
/// job (`tests/bench.sh`: loopback connects; BENCHMARKS.md).
#[test]
fn iperf3_over_loopback_stays_tcp_under_run() {
    require_program("iperf3");
    let _turn = my_turn();
    let ns = netns(true);
    let tmp = TempDir::new("iperf3-loopback");
    let report = tmp.join("report.json");
    let report_text = report.to_str().expect("a UTF-8 temporary path");
    let tcp = iperf3_loopback_gbps(&ns, None);
    let wrapped = iperf3_loopback_gbps(&ns, Some(&["--report", report_text]));
    eprintln!(
        "loopback: TCP {tcp:.1} Gbit/s, under run {wrapped:.1} Gbit/s, ratio {:.2}",
        wrapped / tcp
    );
    let text = std::fs::read_to_string(&report).expect("run --report wrote the report");
    let document = json::parse(&text);
    let converted = document["converted"].as_u64().expect("converted");
    // iperf3's control and data connections.
    assert!(converted >= 2, "{text}");
    assert_eq!(
        document["swapped_to_tcp"].as_u64(),
        Some(converted),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// The seccomp engine: the same rules, applied by its supervisor (issue 18)
// ---------------------------------------------------------------------------

/// `connprobe connect HOST PORT EXTRA...` (static) under `run -d FLAGS`
/// inside `ns`; its output, checked for success. The engine is `auto`,
/// which picks seccomp for a static program: checked on its `-d` line.
fn static_connect(
    ns: &Netns,
    probe: &Path,
    flags: &[&str],
    target: (&str, u16),
    extra: &[&str],
) -> CmdOutput {
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    cmd.args(["run", "-d"]).args(flags).arg("--").arg(probe);
    cmd.args(["connect", target.0, &target.1.to_string()])
        .args(extra);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    assert!(
        out.stderr.contains("using the seccomp engine"),
        "not the seccomp engine\n{out}"
    );
    out
}

/// An echo server (`ncat -e /bin/cat`, plain) on PORT of `ns`, both families.
fn echo_server(ns: &Netns) -> ChildGuard {
    require_program("ncat");
    let mut server = ns.cmd("ncat");
    server.args(["-l", "-k", "-e", "/bin/cat", &PORT.to_string()]);
    let server = ChildGuard::spawn(server.stdin(Stdio::null()).stdout(Stdio::null()));
    wait_for_listen(ns, PORT, SHORT);
    server
}

/// root: a static client connecting to 127.0.0.1 or ::1 under the seccomp
/// engine gets plain TCP (swapped at connect()), `--loopback` and
/// `--require-mptcp` keep MPTCP; the bytes come back intact each time.
#[test]
fn seccomp_loopback_stays_tcp_by_default() {
    let tmp = TempDir::new("seccomp-loopback");
    let probe = build_connprobe(tmp.path());
    let ns = netns(true);
    let _server = echo_server(&ns);
    for host in ["127.0.0.1", "::1"] {
        for (flags, want) in [
            (&[][..], TCP),
            (&["--loopback"], MPTCP),
            (&["--require-mptcp"], MPTCP),
        ] {
            let out = static_connect(&ns, &probe, flags, (host, PORT), &["--echo", "65536"]);
            assert_eq!(protocol(&out.stdout), want, "{host} {flags:?}\n{out}");
            assert!(
                out.stdout.contains("echo ok 65536"),
                "{host} {flags:?}\n{out}"
            );
            let swapped = out
                .stderr
                .contains("connect(3): swapped to TCP: loopback destination");
            assert_eq!(swapped, want == TCP, "{host} {flags:?}\n{out}");
        }
    }
}

/// root: a static client that registers its non-blocking socket with epoll
/// before connect() (as event loops do) still gets its EPOLLOUT, with its
/// data word, when a loopback swap replaces the socket; its own
/// EPOLL_CTL_DEL then finds the registration under its descriptor number.
#[test]
fn seccomp_epoll_registration_survives_a_loopback_swap() {
    let tmp = TempDir::new("seccomp-epoll");
    let probe = build_connprobe(tmp.path());
    let ns = netns(true);
    let _server = echo_server(&ns);
    for host in ["127.0.0.1", "::1"] {
        let extra = ["--epoll", "--echo", "65536"];
        let out = static_connect(&ns, &probe, &[], (host, PORT), &extra);
        assert_eq!(protocol(&out.stdout), TCP, "{host}\n{out}");
        assert!(out.stderr.contains("swapped to TCP"), "{host}\n{out}");
        out.stdout_has(&["epoll event 0x4 data 0x5eed", "echo ok 65536"]);
        let out = static_connect(&ns, &probe, &["--loopback"], (host, PORT), &extra);
        assert_eq!(protocol(&out.stdout), MPTCP, "{host}\n{out}");
        out.stdout_has(&["epoll event 0x4 data 0x5eed", "echo ok 65536"]);
    }
}

/// root: each rule on the two-path network, with the static client under
/// the seccomp engine: the same cases and answers as the shim's.
#[test]
fn seccomp_rules_on_the_two_path_network() {
    let _turn = my_turn();
    let tmp = TempDir::new("seccomp-two-path");
    let probe = build_connprobe(tmp.path());
    let net = two_path_net(100);
    let _server = echo_server(&net.server);
    let cases = TWO_PATH_RULE_CASES;
    for &(flags, host, want) in cases {
        let extra = ["--echo", "65536"];
        let out = static_connect(&net.client, &probe, flags, (host, PORT), &extra);
        assert_eq!(
            protocol(&out.stdout),
            want,
            "run {flags:?} to {host}\n{out}"
        );
        assert!(
            out.stdout.contains("echo ok 65536"),
            "{flags:?} {host}\n{out}"
        );
    }
}

/// root: a signal owner (F_SETOWN) the program set is not carried by a
/// swap (the kernel would stamp it with the supervisor's credentials, and
/// root's SIGIO reaches anyone): such a socket stays MPTCP at a loopback
/// connect(), and says why with `-d`.
#[test]
fn seccomp_keeps_a_socket_with_a_signal_owner() {
    let tmp = TempDir::new("seccomp-owner");
    let probe = build_connprobe(tmp.path());
    let ns = netns(true);
    let _server = echo_server(&ns);
    let out = static_connect(
        &ns,
        &probe,
        &[],
        ("127.0.0.1", PORT),
        &["--owner", "--echo", "1000"],
    );
    assert_eq!(protocol(&out.stdout), MPTCP, "\n{out}");
    out.stdout_has(&["echo ok 1000"])
        .stderr_has(&["the F_SETOWN owner"]);
    let out = static_connect(&ns, &probe, &[], ("127.0.0.1", PORT), &["--echo", "1000"]);
    assert_eq!(
        protocol(&out.stdout),
        TCP,
        "without an owner it is swapped\n{out}"
    );
}

/// root: listeners under the seccomp engine stay MPTCP, unless
/// `--no-listen`, or `--exclude-port` names their port; an option the
/// program set before listen() (SO_REUSEADDR) is carried by the swap, and
/// the port is the one the program bound. Without SO_REUSEADDR the MPTCP
/// socket holds the port until listen() returns, so the swap cannot take
/// it: the listener stays MPTCP, on its port (it once moved to a random
/// port, as TCP).
#[test]
fn seccomp_listeners_follow_the_rules() {
    let tmp = TempDir::new("seccomp-listen");
    let probe = build_connprobe(tmp.path());
    let ns = netns(true);
    let port = "5310";
    for (flags, reuse, want) in [
        (&[][..], true, MPTCP),
        (&["--no-listen"], true, TCP),
        (&["--exclude-port", port], true, TCP),
        (&["--exclude-port", "5311"], true, MPTCP),
        (&["--no-listen"], false, MPTCP),
    ] {
        let mut cmd = ns.cmd(launcher());
        clean_env(&mut cmd);
        cmd.args(["run", "-d"]).args(flags).arg("--").arg(&probe);
        cmd.args(["listen", port]);
        if !reuse {
            cmd.arg("--no-reuseaddr");
        }
        let out = run_timeout(&mut cmd, SHORT);
        out.success();
        assert_eq!(protocol(&out.stdout), want, "{flags:?}\n{out}");
        let reuse_line = if reuse { "reuseaddr 1" } else { "reuseaddr 0" };
        out.stdout_has(&[reuse_line, &format!("port {port}\n")]);
        let swapped = out.stderr.contains("listen(3): swapped to TCP");
        assert_eq!(swapped, want == TCP, "{flags:?}\n{out}");
        if !reuse {
            out.stderr_has(&["a bound address without SO_REUSEADDR"]);
        }
    }
}

/// `gofetch URL DEST` (static Go) under `run --report FLAGS` in `ns`: the
/// report's swapped_to_tcp count; the bytes must be the server's.
fn go_fetch_swaps(
    ns: &Netns,
    gofetch: &Path,
    tmp: &TempDir,
    flags: &[&str],
    url: &str,
    data: &[u8],
) -> u64 {
    let report = tmp.join("go-report.json");
    let dest = tmp.join("go.bin");
    let _ = std::fs::remove_file(&dest);
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    cmd.args(["run", "-d", "--report"])
        .arg(&report)
        .args(flags)
        .arg("--")
        .arg(gofetch)
        .arg(url)
        .arg(&dest);
    let out = run_timeout(&mut cmd, LONG);
    out.success();
    assert!(
        out.stderr.contains("using the seccomp engine") && out.stderr.contains("is a Go program"),
        "{out}"
    );
    assert_same_bytes(data, &dest, &format!("gofetch {flags:?} {url}"));
    let text = std::fs::read_to_string(&report).expect("run --report wrote the report");
    let document = json::parse(&text);
    assert!(document["converted"].as_u64() >= Some(1), "{text}\n{out}");
    document["swapped_to_tcp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no swapped_to_tcp in\n{text}"))
}

/// root: a static Go client (CGO_ENABLED=0) under the seccomp engine: its
/// loopback fetch is swapped to TCP (one swap in the report) unless
/// `--loopback`; on the two-path network each rule makes its connection
/// TCP or leaves it MPTCP; the bytes are intact every time.
#[test]
fn seccomp_go_client_follows_the_rules() {
    let _turn = my_turn();
    let tmp = TempDir::new("seccomp-go-rules");
    let gofetch = build_gofetch(tmp.path());
    let ns = netns(true);
    let local = TempDir::new("seccomp-go-local");
    let server = HttpServer::start(&ns, &local, false);
    for host in ["127.0.0.1", "[::1]"] {
        let url = format!("http://{host}:{HTTP_PORT}/blob.bin");
        let swaps = go_fetch_swaps(&ns, &gofetch, &tmp, &[], &url, &server.data);
        assert_eq!(swaps, 1, "{url}: the loopback connection is swapped");
        let swaps = go_fetch_swaps(&ns, &gofetch, &tmp, &["--loopback"], &url, &server.data);
        assert_eq!(swaps, 0, "{url} with --loopback");
    }
    drop(server);
    let net = two_path_net(100);
    let remote = TempDir::new("seccomp-go-remote");
    let server = HttpServer::start(&net.server, &remote, false);
    let port = HTTP_PORT.to_string();
    let cases: &[(&[&str], &str, u64)] = &[
        (&[], SERVER1, 0),
        (&["--exclude", "198.18.1.0/24"], SERVER1, 1),
        (&["--exclude", "198.18.1.0/24"], SERVER2, 0),
        (&["--exclude-port", &port], SERVER2, 1),
        (&["--include", "198.18.2.0/24"], SERVER1, 1),
        (&["--include-port", &port], SERVER1, 0),
        (&["--include-port", "80"], SERVER1, 1),
    ];
    for &(flags, host, want) in cases {
        let url = format!("http://{host}:{HTTP_PORT}/blob.bin");
        let swaps = go_fetch_swaps(&net.client, &gofetch, &tmp, flags, &url, &server.data);
        assert_eq!(swaps, want, "run {flags:?} {url}");
    }
}

// ---------------------------------------------------------------------------
// Options MPTCP rejects under the seccomp engine (issue 18)
// ---------------------------------------------------------------------------

/// `optprobe FAMILY` run bare, or under `run -d --engine ENGINE`; its
/// stdout split into what the program answers (compared across runs) and
/// its `proto` lines (the engines' own business), and its stderr.
fn optprobe(probe: &Path, engine: Option<&str>, family: &str) -> (String, String, String) {
    let mut cmd = match engine {
        Some(engine) => {
            let mut cmd = Command::new(launcher());
            cmd.args(["run", "-d", "--engine", engine, "--"]).arg(probe);
            cmd
        }
        None => Command::new(probe),
    };
    clean_env(&mut cmd);
    cmd.arg(family);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    let (proto, answers): (Vec<&str>, Vec<&str>) = out
        .stdout
        .lines()
        .partition(|line| line.starts_with("proto "));
    (answers.join("\n"), proto.join("\n"), out.stderr.clone())
}

/// A static program setting and reading options MPTCP rejects sees the
/// same answers under the seccomp engine as bare (and as a dynamic build
/// of it under the shim): TCP_USER_TIMEOUT=0 and TCP_QUICKACK=1 succeed and
/// the socket stays MPTCP; TCP_USER_TIMEOUT=5000 before connect() swaps it
/// to TCP (reads back 5000 before and after connecting); what TCP rejects
/// too gets TCP's errno (EINVAL, EFAULT); reads answer TCP's defaults,
/// short and bad lengths included.
#[test]
fn seccomp_rejected_options_answer_as_tcp() {
    require_mptcp();
    let tmp = TempDir::new("seccomp-options");
    let static_probe = build_optprobe(tmp.path(), true);
    let dynamic_probe = build_optprobe(tmp.path(), false);
    for family in ["4", "6"] {
        let (bare, bare_proto, _) = optprobe(&static_probe, None, family);
        assert!(
            bare.contains("user_timeout=5000 connected: get rc 0 errno 0 len 4"),
            "{bare}"
        );
        assert!(bare.contains("syncnt=1000: set rc -1 errno 22"), "{bare}");
        assert!(
            bare.contains("user_timeout bad pointer: set rc -1 errno 14"),
            "{bare}"
        );
        assert!(
            bare_proto.lines().all(|line| line.ends_with(" 6")),
            "{bare_proto}"
        );
        let (seccomp, seccomp_proto, stderr) = optprobe(&static_probe, Some("seccomp"), family);
        assert_eq!(seccomp, bare, "family {family}\n{stderr}");
        let want = "proto noop 262\nproto changed 6\nproto rejected 262\nproto read 262";
        assert_eq!(seccomp_proto, want, "family {family}\n{stderr}");
        for line in [
            "setsockopt(3, TCP_USER_TIMEOUT): stays MPTCP (the option changes nothing)",
            "setsockopt(4, TCP_USER_TIMEOUT): swapped to TCP: MPTCP rejects the option (seccomp)",
            "setsockopt(3, TCP_SYNCNT): stays MPTCP (TCP fails with errno 22 too)",
            "getsockopt(3, TCP_SYNCNT): answered as TCP",
        ] {
            assert!(stderr.contains(line), "family {family}: {line}\n{stderr}");
        }
        let (shim, shim_proto, stderr) = optprobe(&dynamic_probe, Some("preload"), family);
        assert_eq!(shim, bare, "family {family}\n{stderr}");
        assert_eq!(shim_proto, want, "family {family}\n{stderr}");
    }
}
