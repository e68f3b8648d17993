//! Integration tests of `mptcpize-rs run` with the real launcher and shim.
//!
//! Tests marked "root" create their own network namespace; all others run
//! as any user on the host (which must have MPTCP enabled).

use std::fs;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mptcpize_contract::env;
use mptcpize_rs_tests::*;

/// Check a `sockprobe sockets` listing: TCP stream sockets have protocol
/// `tcp_proto`, explicit MPTCP stays MPTCP, UDP and UNIX are unchanged and
/// the NONBLOCK/CLOEXEC flags are exactly the requested ones.
fn check_sockets(out: &CmdOutput, stdout: &str, tcp_proto: i32) {
    for &name in TCP_CASES {
        assert_eq!(
            probe_protocol(stdout, name),
            tcp_proto,
            "protocol of {name} (expected {tcp_proto})\n{out}"
        );
    }
    assert_eq!(
        probe_protocol(stdout, "mptcp4"),
        MPTCP,
        "explicit MPTCP socket\n{out}"
    );
    assert_eq!(
        probe_protocol(stdout, "udp4"),
        UDP,
        "UDP must stay UDP\n{out}"
    );
    assert_eq!(
        probe_protocol(stdout, "udp6"),
        UDP,
        "UDP must stay UDP\n{out}"
    );
    assert_eq!(
        probe_protocol(stdout, "unix"),
        0,
        "UNIX socket must be untouched\n{out}"
    );
    for (name, _) in parse_probe(stdout) {
        if name == "child-pid" {
            continue;
        }
        let want = if FLAG_CASES.contains(&name.as_str()) {
            "1"
        } else {
            "0"
        };
        assert_eq!(
            probe_flag(stdout, &name, "nonblock"),
            want,
            "O_NONBLOCK of {name}\n{out}"
        );
        assert_eq!(
            probe_flag(stdout, &name, "cloexec"),
            want,
            "FD_CLOEXEC of {name}\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// Socket conversion
// ---------------------------------------------------------------------------

/// Control: without the launcher, TCP sockets are plain TCP (protocol 6),
/// so the 262s below really come from the shim.
#[test]
fn control_without_run_sockets_are_plain_tcp() {
    require_mptcp();
    let probe = sockprobe();
    assert!(
        is_dynamically_linked(&probe),
        "sockprobe must be dynamically linked"
    );
    let mut cmd = Command::new(&probe);
    clean_env(&mut cmd);
    let out = run_timeout(cmd.arg("sockets"), SHORT);
    out.success();
    check_sockets(&out, &out.stdout, TCP);
}

/// Under `run`, every AF_INET/AF_INET6 stream socket with protocol 0 or
/// IPPROTO_TCP is MPTCP (262), flags survive, UDP/UNIX are unchanged, and a
/// dynamically linked program gets no warning.
#[test]
fn run_converts_tcp_sockets_to_mptcp() {
    require_mptcp();
    let out = mptcpize(["run".as_ref(), sockprobe().as_os_str(), "sockets".as_ref()]);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);
    assert!(
        !out.stderr.to_lowercase().contains("warning"),
        "no warning expected for a dynamic program\n{out}"
    );
    assert!(
        shim_lines(&out.stderr).is_empty(),
        "no debug lines without -d\n{out}"
    );
}

/// `--` before PROG is accepted.
#[test]
fn run_accepts_double_dash() {
    require_mptcp();
    let out = mptcpize([
        "run".as_ref(),
        "--".as_ref(),
        sockprobe().as_os_str(),
        "sockets".as_ref(),
    ]);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);
}

/// Child processes of the wrapped program inherit the shim: a spawned
/// child (`/proc/self/exe sockets`), a shell that execs, and a shell that forks.
#[test]
fn children_inherit_the_shim() {
    require_mptcp();
    let probe = sockprobe();
    let out = mptcpize(["run".as_ref(), probe.as_os_str(), "child".as_ref()]);
    out.success();
    let child_pid = probe_protocol(&out.stdout, "child-pid");
    assert_ne!(
        child_pid as u32, out.pid,
        "the child must be another process\n{out}"
    );
    assert_eq!(probe_protocol(&out.stdout, "parent-tcp4"), MPTCP, "\n{out}");
    check_sockets(&out, &out.stdout, MPTCP);

    for script in ["exec \"$0\" sockets", "\"$0\" sockets; exit $?"] {
        let out = mptcpize(["run", "sh", "-c", script, path_str(&probe)]);
        out.success();
        check_sockets(&out, &out.stdout, MPTCP);
    }
}

/// Many threads creating sockets at once (including the very first calls,
/// racing the shim's initialisation): all 16 x 500 sockets are MPTCP.
#[test]
fn stress_threads_all_converted() {
    require_mptcp();
    let mut cmd = launch([
        "run".as_ref(),
        sockprobe().as_os_str(),
        "stress".as_ref(),
        "16".as_ref(),
        "500".as_ref(),
    ]);
    let out = run_timeout(&mut cmd, LONG);
    assert_eq!(out.stdout.trim(), "converted 8000 of 8000", "\n{out}");
    out.expect_code(0);
}

// ---------------------------------------------------------------------------
// Process semantics and exit codes
// ---------------------------------------------------------------------------

#[test]
fn exit_status_passes_through() {
    mptcpize(["run", "sh", "-c", "exit 3"]).expect_code(3);
    mptcpize(["run", "sh", "-c", "exit 0"]).expect_code(0);
    mptcpize(["run", "sh", "-c", "exit 255"]).expect_code(255);
    mptcpize(["run", "false"]).expect_code(1);
}

/// The launcher execs PROG: same PID, no intermediate process.
#[test]
fn prog_keeps_the_launchers_pid() {
    let out = mptcpize(["run", "sh", "-c", "echo $$"]);
    out.success();
    assert_eq!(
        out.stdout.trim(),
        out.pid.to_string(),
        "PID must not change\n{out}"
    );
}

/// A PROG killed by a signal shows as killed by that signal.
#[test]
fn signal_death_passes_through() {
    let out = mptcpize(["run", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        out.signal(),
        Some(libc::SIGTERM),
        "expected death by SIGTERM\n{out}"
    );
    assert_eq!(out.code(), None, "\n{out}");
}

#[test]
fn missing_program_is_127() {
    let name = format!("mpz-no-such-program-{}", std::process::id());
    let out = mptcpize(["run", &name]);
    out.expect_code(127);
    let msg = format!("mptcpize-rs: {name}: command not found");
    assert!(
        out.stderr.contains(&msg),
        "stderr must contain {msg:?}\n{out}"
    );
}

#[test]
fn non_executable_file_is_126() {
    let tmp = TempDir::new("noexec");
    let script = tmp.join("not-executable.sh");
    write_file_mode(&script, b"#!/bin/sh\necho should not run\n", 0o644);
    let out = mptcpize(["run", path_str(&script)]);
    out.expect_code(126);
    assert!(!out.stdout.contains("should not run"), "\n{out}");
}

#[test]
fn usage_errors_are_2() {
    let out = mptcpize(["run"]);
    out.expect_code(2);
    assert!(
        !out.stderr.trim().is_empty(),
        "a usage message is expected\n{out}"
    );
    mptcpize(["run", "--definitely-not-a-flag", "true"]).expect_code(2);
    mptcpize(["--definitely-not-a-flag", "run", "true"]).expect_code(2);
}

#[test]
fn version_shows_the_shim_path() {
    let out = mptcpize(["--version"]);
    out.success();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(env!("CARGO_PKG_VERSION")),
        "version expected\n{out}"
    );
    let shim_line = all
        .lines()
        .find_map(|l| l.trim().strip_prefix("shim:"))
        .unwrap_or_else(|| panic!("no `shim: PATH` line\n{out}"));
    let path = Path::new(shim_line.trim());
    assert!(path.is_file(), "shim path {path:?} does not exist\n{out}");
    assert_eq!(
        fs::canonicalize(path).unwrap(),
        fs::canonicalize(shim()).unwrap(),
        "the launcher should use the shim built next to it\n{out}"
    );
}

/// MPTCPIZE_RS_PRELOAD overrides the shim path; a missing shim is the
/// launcher's own failure (125).
#[test]
fn preload_path_override() {
    require_mptcp();
    let tmp = TempDir::new("override");
    let copy = tmp.join("libcopy_preload.so");
    fs::copy(shim(), &copy).unwrap();

    let mut cmd = launch(["run", "sh", "-c", "printf %s \"$LD_PRELOAD\""]);
    let out = run_timeout(cmd.env(env::PRELOAD.name(), &copy), SHORT);
    out.success();
    assert!(
        out.stdout.contains(path_str(&copy)),
        "LD_PRELOAD must use the override\n{out}"
    );

    let mut cmd = launch(["run".as_ref(), sockprobe().as_os_str(), "sockets".as_ref()]);
    let out = run_timeout(cmd.env(env::PRELOAD.name(), &copy), SHORT);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);

    let mut cmd = launch(["run", "true"]);
    let missing = tmp.join("does-not-exist.so");
    let out = run_timeout(cmd.env(env::PRELOAD.name(), &missing), SHORT);
    out.expect_code(125);
}

// ---------------------------------------------------------------------------
// Environment: LD_PRELOAD and GODEBUG
// ---------------------------------------------------------------------------

#[test]
fn ld_preload_is_set_when_unset() {
    let out = mptcpize(["run", "sh", "-c", "printf %s \"$LD_PRELOAD\""]);
    out.success();
    assert!(out.stdout.contains("libmptcpize_preload.so"), "\n{out}");
}

/// An LD_PRELOAD library already in place stays active and composes with
/// the shim: its socket() hook runs, the socket still ends up MPTCP, and
/// LD_PRELOAD holds both (the existing one first, the shim appended).
#[test]
fn existing_ld_preload_stays_active() {
    require_mptcp();
    let tmp = TempDir::new("otherpreload");
    let other = build_other_preload(tmp.path());
    let mark = tmp.join("mark.txt");

    let mut cmd = launch([
        "run".as_ref(),
        "-d".as_ref(),
        sockprobe().as_os_str(),
        "sockets".as_ref(),
    ]);
    cmd.env("LD_PRELOAD", &other)
        .env("OTHER_PRELOAD_MARK", &mark);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);
    let marks = tmp.read_text("mark.txt");
    assert!(
        marks.contains(&format!("other_preload loaded pid={}", out.pid)),
        "the other preload library was not loaded in PROG; marker file:\n{marks}\n{out}"
    );
    let hooked = marks
        .lines()
        .filter(|l| l.starts_with(&format!("other_preload socket pid={} ", out.pid)))
        .count();
    assert!(
        hooked >= 10,
        "the other library's socket() hook must see every call (saw {hooked}):\n{marks}"
    );
    assert!(
        out.stderr.contains("converted"),
        "the shim must still convert behind the other hook\n{out}"
    );

    let mut cmd = launch(["run", "sh", "-c", "printf %s \"$LD_PRELOAD\""]);
    let out = run_timeout(cmd.env("LD_PRELOAD", &other), SHORT);
    out.success();
    let seen = out.stdout.as_str();
    let other_at = seen.find(path_str(&other));
    let shim_at = seen.find("libmptcpize_preload.so");
    assert!(
        other_at.is_some() && shim_at.is_some(),
        "LD_PRELOAD must contain both libraries, got {seen:?}\n{out}"
    );
    assert!(
        other_at < shim_at,
        "the shim is appended after existing entries: {seen:?}"
    );
}

#[test]
fn godebug_gets_multipathtcp() {
    let mut cmd = launch(["run", "sh", "-c", "printf %s \"$GODEBUG\""]);
    let out = run_timeout(cmd.env("GODEBUG", "http2client=0"), SHORT);
    out.success();
    assert_eq!(out.stdout, "http2client=0,multipathtcp=1", "\n{out}");

    let out = mptcpize(["run", "sh", "-c", "printf %s \"$GODEBUG\""]);
    out.success();
    assert_eq!(out.stdout, "multipathtcp=1", "\n{out}");
}

// ---------------------------------------------------------------------------
// Debug output
// ---------------------------------------------------------------------------

#[test]
fn debug_lines_on_stderr() {
    require_mptcp();
    let out = mptcpize([
        "run".as_ref(),
        "-d".as_ref(),
        sockprobe().as_os_str(),
        "sockets".as_ref(),
    ]);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);
    let lines = shim_lines(&out.stderr);
    let converted = lines.iter().filter(|l| l.contains("converted")).count();
    let untouched = lines.iter().filter(|l| l.contains("untouched")).count();
    assert!(
        converted >= TCP_CASES.len(),
        "one `converted` line per TCP socket\n{out}"
    );
    assert!(
        untouched >= 3,
        "UDP and UNIX sockets are reported `untouched`\n{out}"
    );
    assert!(!lines.iter().any(|l| l.contains("fell back")), "\n{out}");
    assert_eq!(
        shim_line_pids(&out.stderr).into_iter().collect::<Vec<_>>(),
        vec![out.pid],
        "debug lines carry PROG's PID\n{out}"
    );

    let out = mptcpize([
        "run",
        "--debug",
        "sh",
        "-c",
        "printf %s \"$MPTCPIZE_RS_DEBUG\"",
    ]);
    out.success();
    assert_eq!(
        out.stdout, "1",
        "-d/--debug sets MPTCPIZE_RS_DEBUG=1\n{out}"
    );
}

/// With MPTCPIZE_RS_LOG the lines go to that file (appending, also from
/// child processes), not to stderr.
#[test]
fn debug_lines_to_log_file() {
    require_mptcp();
    let tmp = TempDir::new("debuglog");
    let log = tmp.join("shim.log");
    fs::write(&log, "existing line\n").unwrap();
    let mut cmd = launch([
        "run".as_ref(),
        "-d".as_ref(),
        sockprobe().as_os_str(),
        "child".as_ref(),
    ]);
    let out = run_timeout(cmd.env(env::LOG.name(), &log), SHORT);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);
    assert!(
        shim_lines(&out.stderr).is_empty(),
        "lines must go to the log file only\n{out}"
    );
    let text = tmp.read_text("shim.log");
    assert!(
        text.starts_with("existing line\n"),
        "the log is appended to:\n{text}"
    );
    assert!(text.contains("converted"), "log file:\n{text}");
    assert!(text.contains("untouched"), "log file:\n{text}");
    let pids = shim_line_pids(&text);
    let child_pid = probe_protocol(&out.stdout, "child-pid") as u32;
    assert!(
        pids.contains(&out.pid) && pids.contains(&child_pid),
        "both parent {} and child {child_pid} log to the file, got PIDs {pids:?}:\n{text}",
        out.pid
    );
}

/// stderr is a UNIX socket: the shim must not write there, the program works.
#[test]
fn debug_stderr_socket_gets_nothing() {
    require_mptcp();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let mut cmd = launch([
        "run".as_ref(),
        "-d".as_ref(),
        sockprobe().as_os_str(),
        "sockets".as_ref(),
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(OwnedFd::from(theirs)));
    let child = ChildGuard::spawn(&mut cmd);
    drop(cmd); // closes our copy of the child's stderr end
    let out = child.output_timeout(SHORT);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);

    ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    match ours.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => panic!("reading the stderr socket: {e}"),
    }
    assert!(
        got.is_empty(),
        "nothing may be written to a socket on fd 2, got {:?}\n{out}",
        String::from_utf8_lossy(&got)
    );
}

/// fd 2 closed: the program still works and the shim's debug lines never
/// end up in a socket that took fd 2.
#[test]
fn debug_with_stderr_closed() {
    require_mptcp();
    require_program("python3");
    // The launcher itself started with fd 2 closed.
    let probe = sockprobe();
    let mut cmd = Command::new("sh");
    clean_env(&mut cmd);
    cmd.args(["-c", "exec 2>&-; exec \"$0\" run -d \"$1\" sockets"])
        .arg(launcher())
        .arg(&probe);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    check_sockets(&out, &out.stdout, MPTCP);

    // PROG itself sees fd 2 closed, (a) from its start and (b) closing it
    // after the shim was loaded. The first socket then takes fd 2; it is
    // connected to a local listener and nothing of the shim's may arrive.
    let tmp = TempDir::new("closedfd2");
    let script = tmp.join("fd2.py");
    fs::write(&script, FD2_SCRIPT).unwrap();
    // The real interpreter: wrappers such as pyenv shims would take fd 2 first.
    let python = run_timeout(
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]),
        SHORT,
    );
    python.success();
    let python = python.stdout.trim().to_string();
    let script = path_str(&script);
    let variants: [&[&str]; 2] = [
        &[
            "run",
            "-d",
            "--loopback",
            "sh",
            "-c",
            "exec 2>&-; exec \"$0\" \"$1\"",
            &python,
            script,
        ],
        &["run", "-d", "--loopback", &python, script, "close"],
    ];
    for args in variants {
        let out = mptcpize(args);
        out.success();
        let field = |key: &str| -> String {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} ")))
                .unwrap_or_else(|| panic!("no {key:?} line\n{out}"))
                .to_string()
        };
        assert_eq!(
            field("fd"),
            "2",
            "test premise: the first socket takes fd 2\n{out}"
        );
        assert_eq!(field("client"), MPTCP.to_string(), "\n{out}");
        assert_eq!(field("accepted"), MPTCP.to_string(), "\n{out}");
        assert!(
            field("leaked").starts_with("0 "),
            "the shim wrote into the socket on fd 2\n{out}"
        );
    }
}

/// Helper for `debug_with_stderr_closed`: with argument `close` it closes
/// fd 2 itself; then it connects a socket (normally fd 2) to a local
/// listener, creates one more socket (a debug line the shim must not send
/// through fd 2) and reports whether anything arrived on the accepted side.
const FD2_SCRIPT: &str = r#"
import os, select, socket, sys
if len(sys.argv) > 1 and sys.argv[1] == "close":
    os.close(2)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
c.connect(srv.getsockname())
a, _ = srv.accept()
extra = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
extra.close()
a.setblocking(False)
leaked = b""
if select.select([a], [], [], 0.5)[0]:
    leaked = a.recv(65536)
print("fd", c.fileno())
print("client", c.getsockopt(socket.SOL_SOCKET, 38))
print("accepted", a.getsockopt(socket.SOL_SOCKET, 38))
print("leaked", len(leaked), repr(leaked[:200]))
"#;

// ---------------------------------------------------------------------------
// Warnings for programs the shim cannot affect
// ---------------------------------------------------------------------------

#[test]
fn static_program_warns_and_runs() {
    let busybox = require_program("busybox");
    assert!(
        !is_dynamically_linked(&busybox),
        "{} is dynamically linked; install busybox-static (apt-get install busybox-static)",
        busybox.display()
    );
    // `auto` runs static programs under the seccomp engine (no warning,
    // see tests/seccomp.rs); the warning is for the preload engine.
    let out = mptcpize(["run", "--engine", "preload", "busybox", "true"]);
    out.expect_code(0);
    let warnings = out.warnings();
    assert_eq!(warnings.len(), 1, "one warning line expected\n{out}");
    assert!(warnings[0].contains("statically linked"), "\n{out}");
}

#[test]
fn setuid_program_warns_and_runs() {
    let tmp = TempDir::new("setuid");
    let copy = tmp.join("true-setuid");
    fs::copy(require_program("true"), &copy).unwrap();
    write_file_mode(&copy, &fs::read(&copy).unwrap(), 0o4755);
    let out = mptcpize(["run", path_str(&copy)]);
    out.expect_code(0);
    let warnings = out.warnings();
    assert_eq!(warnings.len(), 1, "one warning line expected\n{out}");
    assert!(warnings[0].contains("setuid"), "\n{out}");
}

// ---------------------------------------------------------------------------
// Real programs over the network (root: one network namespace per test)
// ---------------------------------------------------------------------------

/// Server-side proof of MPTCP: the server namespace saw `n` MP_CAPABLE
/// handshakes complete and no fallback.
fn assert_mptcp_handshakes(ns: &Netns, n: u64) {
    let c = ns.netstat();
    let get = |k: &str| c.get(&format!("MPTcpExt.{k}")).copied().unwrap_or(0);
    assert!(
        get("MPCapableSYNRX") >= n,
        "expected >= {n} MP_CAPABLE SYNs received: {c:?}"
    );
    assert!(
        get("MPCapableACKRX") >= n,
        "expected >= {n} MP_CAPABLE ACKs received: {c:?}"
    );
    assert_eq!(get("MPCapableFallbackACK"), 0, "unexpected fallback: {c:?}");
    assert_eq!(
        get("MPCapableFallbackSYNACK"),
        0,
        "unexpected fallback: {c:?}"
    );
}

fn mptcp_transfer_test(client: Client) {
    let ns = netns(true);
    let tmp = TempDir::new(&format!("{client:?}").to_lowercase());
    let mut server = HttpServer::start(&ns, &tmp, true);
    assert!(
        ns.has_mptcp_listener(HTTP_PORT),
        "`ss -ltnM` must list an MPTCP listener on {HTTP_PORT}: {:?}\nserver log:\n{}",
        ns.listeners(),
        tmp.read_text("server.log")
    );
    let server_log = tmp.read_text("server.log");
    assert!(
        server_log.contains("converted"),
        "server shim log:\n{server_log}"
    );

    for host in ["127.0.0.1", "::1"] {
        let log = fetch(&ns, &tmp, &server, client, host, true);
        assert!(
            !shim_lines(&log).is_empty(),
            "{client:?} {host}: no shim log lines:\n{log}"
        );
        assert!(
            log.contains("converted"),
            "{client:?} {host}: shim log:\n{log}"
        );
        assert!(
            !log.contains("fell back"),
            "{client:?} {host}: shim log:\n{log}"
        );
    }
    assert_mptcp_handshakes(&ns, 2);
    assert!(server.child.is_running(), "the server must still run");
    server.child.kill();
}

/// root: wrapped python3 http.server listens as MPTCP; wrapped curl fetches
/// ~2 MB over 127.0.0.1 and ::1 with MPTCP end to end, bytes identical.
#[test]
fn curl_and_http_server_over_mptcp() {
    mptcp_transfer_test(Client::Curl);
}

/// root: same with wget as the client.
#[test]
fn wget_and_http_server_over_mptcp() {
    mptcp_transfer_test(Client::Wget);
}

/// root, control: without the launcher neither side uses MPTCP, so the
/// MPTCP seen above is the shim's doing.
#[test]
fn control_unwrapped_http_is_plain_tcp() {
    let ns = netns(true);
    let tmp = TempDir::new("plain");
    let server = HttpServer::start(&ns, &tmp, false);
    assert!(
        !ns.has_mptcp_listener(HTTP_PORT),
        "listeners: {:?}",
        ns.listeners()
    );
    fetch(&ns, &tmp, &server, Client::Curl, "127.0.0.1", false);
    assert_eq!(ns.mptcp_counter("MPCapableSYNRX"), 0, "{:?}", ns.netstat());
}

/// root: with net.mptcp.enabled=0 the shim falls back to TCP: the wrapped
/// server listens (TCP only), wrapped curl and wget get identical bytes
/// over both families, and the debug logs say `fell back`.
#[test]
fn fallback_when_mptcp_disabled() {
    let ns = netns(false);
    let tmp = TempDir::new("fallback");
    let server = HttpServer::start(&ns, &tmp, true);
    let port = format!(":{HTTP_PORT}");
    assert!(
        ns.tcp_listeners().iter().any(|l| l.ends_with(&port)),
        "`ss -ltn` must list the listener: {:?}",
        ns.tcp_listeners()
    );
    assert!(
        !ns.has_mptcp_listener(HTTP_PORT),
        "no MPTCP listener expected: {:?}",
        ns.listeners()
    );
    let server_log = tmp.read_text("server.log");
    assert!(
        server_log.contains("fell back"),
        "server shim log:\n{server_log}"
    );

    for client in [Client::Curl, Client::Wget] {
        for host in ["127.0.0.1", "::1"] {
            let log = fetch(&ns, &tmp, &server, client, host, true);
            assert!(
                log.contains("fell back"),
                "{client:?} {host}: shim log:\n{log}"
            );
            assert!(
                !log.contains("converted"),
                "{client:?} {host}: shim log:\n{log}"
            );
        }
    }
    assert_eq!(ns.mptcp_counter("MPCapableSYNRX"), 0, "{:?}", ns.netstat());
}

/// SIGPIPE reaches the program as `run` was given it, with every engine
/// and way of starting: ignored under systemd (its `IgnoreSIGPIPE=yes`
/// default) and from `trap '' PIPE`, the default otherwise. mptcpize-rs
/// ignores it for itself; a daemon that relies on systemd's ignore must
/// not be killed by a client that goes away.
#[test]
fn sigpipe_reaches_the_program_as_run_was_given_it() {
    use std::os::unix::process::CommandExt;
    require_mptcp();
    let sigpipe_bit = 1u64 << (libc::SIGPIPE - 1);
    let tmp = TempDir::new("sigpipe");
    let report = tmp.join("report.json");
    let report = report.to_str().expect("a UTF-8 temporary path");
    for mode in [
        &["--engine", "preload"][..],
        &["--engine", "preload", "--keep-pid"],
        &["--engine", "seccomp"],
        &["--engine", "seccomp", "--keep-pid"],
        &["--report", report],
    ] {
        for ignored in [true, false] {
            let mut cmd = std::process::Command::new(launcher());
            cmd.arg("run")
                .args(mode)
                .args(["grep", "^SigIgn:", "/proc/self/status"]);
            let handler = if ignored {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            // SAFETY: one async-signal-safe call between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::signal(libc::SIGPIPE, handler);
                    Ok(())
                })
            };
            let out = run_timeout(&mut cmd, SHORT);
            out.success();
            let mask = out.stdout.trim().trim_start_matches("SigIgn:").trim();
            let mask = u64::from_str_radix(mask, 16).expect("a hexadecimal mask");
            assert_eq!(
                mask & sigpipe_bit != 0,
                ignored,
                "{mode:?} ignored={ignored}\n{out}"
            );
        }
    }
}
