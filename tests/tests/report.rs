//! `run --require-mptcp` and `run --report FILE` with real programs: curl
//! against python3 http.server in a namespace of its own, with MPTCP on and
//! off, a threaded and forking program, and the seccomp engine.

use std::fs;
use std::path::Path;
use std::time::Duration;

use mptcpize_rs_tests::json::{Value, array_at, at, json, parse, str_at, u64_at};
use mptcpize_rs_tests::*;

/// python3: 8 threads x 50 sockets, then 3 forked children x 10 sockets
/// each (one of them exec'ing another python3 that opens 5 more), and one
/// UDP socket: 400 + 30 + 5 TCP sockets and 1 untouched, over 5 processes
/// (the exec'd image counts as one more).
const THREADS_AND_FORKS: &str = r#"
import os, socket, sys, threading
def work():
    for _ in range(50):
        socket.socket().close()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for child in range(3):
    pid = os.fork()
    if pid == 0:
        for _ in range(10):
            socket.socket(socket.AF_INET6).close()
        if child == 0:
            os.execv(sys.executable, [sys.executable, "-c",
                "import socket\nfor _ in range(5): socket.socket().close()"])
        os._exit(0)
    os.waitpid(pid, 0)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
"#;

/// `mptcpize-rs run ARGS...` inside `ns`, without the host's shim settings.
fn run_in(ns: &Netns, args: &[&str]) -> CmdOutput {
    run_timeout(launch_in(ns, ["run"]).args(args), LONG)
}

/// curl fetching the blob from the namespace's http.server, with `flags`
/// for `run`: its output and the bytes it fetched.
fn curl(ns: &Netns, flags: &[&str]) -> (CmdOutput, Vec<u8>) {
    let tmp = TempDir::new("curl");
    let out_file = tmp.join("blob");
    let url = format!("http://127.0.0.1:{HTTP_PORT}/blob.bin");
    let mut args: Vec<&str> = flags.to_vec();
    args.extend([
        "--",
        "curl",
        "-sS",
        "--noproxy",
        "*",
        "--max-time",
        "30",
        "-o",
    ]);
    args.extend([path_str(&out_file), &url]);
    let out = run_in(ns, &args);
    (out, fs::read(&out_file).unwrap_or_default())
}

/// The report at `path`: its text, and the document parsed.
fn report(path: &Path) -> (String, Value) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("no report at {path:?}: {e}"));
    let document = parse(&text);
    (text, document)
}

/// A namespace with MPTCP on or off, and http.server in it (in `TMP/NAME`),
/// wrapped only when MPTCP is on: with MPTCP off the server itself must
/// work without it.
fn served(mptcp: bool, name: &str) -> (Netns, TempDir, HttpServer) {
    let ns = netns(mptcp);
    let tmp = TempDir::new(name);
    let server = HttpServer::start(&ns, &tmp, mptcp);
    (ns, tmp, server)
}

/// [`curl`] with `flags` and `--report PATH`, which must succeed with the
/// bytes `server` serves: the [`report`] it wrote.
fn curl_report(ns: &Netns, server: &HttpServer, path: &Path, flags: &[&str]) -> (String, Value) {
    let mut args = flags.to_vec();
    args.extend(["--report", path_str(path)]);
    let (out, bytes) = curl(ns, &args);
    out.success();
    assert_eq!(bytes, server.data);
    report(path)
}

#[test]
fn require_mptcp_fails_when_mptcp_is_off() {
    let (ns, _tmp, server) = served(false, "require-off");
    let (out, _) = curl(&ns, &["--require-mptcp"]);
    assert_eq!(
        out.code(),
        Some(7),
        "curl cannot connect without a socket\n{out}"
    );
    let notices: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("--require-mptcp"))
        .collect();
    assert_eq!(notices.len(), 1, "the reason is printed once\n{out}");
    assert!(
        notices[0].contains("net.mptcp.enabled"),
        "says what to do\n{out}"
    );

    // Without --require-mptcp the same run falls back and works.
    let (out, bytes) = curl(&ns, &[]);
    out.success();
    assert_eq!(bytes, server.data);
}

#[test]
fn require_mptcp_passes_when_mptcp_is_on() {
    let (ns, _tmp, server) = served(true, "require-on");
    let (out, bytes) = curl(&ns, &["--require-mptcp"]);
    out.success();
    assert!(!out.stderr.contains("--require-mptcp"), "{out}");
    assert_eq!(bytes, server.data);
}

#[test]
fn report_counts_a_wrapped_curl() {
    let (ns, tmp, server) = served(true, "report-curl");
    let path = tmp.join("report.json");
    let (json, d) = curl_report(&ns, &server, &path, &[]);
    assert!(u64_at(&d, "/converted") >= 1, "{json}");
    assert_eq!(at(&d, "/fallback"), &json!(0), "{json}");
    let programs: Vec<&str> = array_at(&d, "/processes")
        .iter()
        .map(|p| str_at(p, "/program"))
        .collect();
    assert_eq!(programs, ["curl"], "{json}");
    // 127.0.0.1 is loopback: the socket was converted, then swapped back
    // to TCP at connect(), and the report says so.
    let converted = at(&d, "/converted");
    assert_eq!(at(&d, "/swapped_to_tcp"), converted, "{json}");

    // With --loopback the connection stays MPTCP: nothing swapped.
    let (json, d) = curl_report(&ns, &server, &path, &["--loopback"]);
    assert_eq!(at(&d, "/swapped_to_tcp"), &json!(0), "{json}");
}

#[test]
fn report_counts_fallbacks_when_mptcp_is_off() {
    let (ns, tmp, server) = served(false, "report-off");
    let path = tmp.join("report.json");
    let (json, d) = curl_report(&ns, &server, &path, &[]);
    assert_eq!(at(&d, "/converted"), &json!(0), "{json}");
    assert!(u64_at(&d, "/fallback") >= 1, "{json}");
    let errnos =
        (at(&d, "/errno").as_object()).unwrap_or_else(|| panic!("errno is not an object:\n{json}"));
    assert_eq!(errnos.keys().collect::<Vec<_>>(), ["ENOPROTOOPT"], "{json}");
}

#[test]
fn report_sums_threads_and_forks_without_losing_a_count() {
    require_mptcp();
    require_program("python3");
    let tmp = TempDir::new("report-tree");
    let path = tmp.join("report.json");
    let mut cmd = launch([
        "run",
        "--report",
        path_str(&path),
        "--",
        "python3",
        "-c",
        THREADS_AND_FORKS,
    ]);
    run_timeout(&mut cmd, LONG).success();
    let (json, d) = report(&path);
    assert_eq!(at(&d, "/converted"), &json!(435), "{json}");
    assert_eq!(at(&d, "/fallback"), &json!(0), "{json}");
    assert_eq!(at(&d, "/unrecorded_processes"), &json!(0), "{json}");
    // Every exec'd image has its own entry (a python3 found on PATH may be
    // a wrapper script that execs the interpreter): count the socket makers.
    let mut per_process: Vec<u64> = array_at(&d, "/processes")
        .iter()
        .map(|p| u64_at(p, "/converted"))
        .filter(|&converted| converted != 0)
        .collect();
    per_process.sort_unstable();
    assert_eq!(per_process, [5, 10, 10, 10, 400], "{json}");
    // The untouched UDP socket; python3 may open more at start-up.
    assert!(u64_at(&d, "/untouched") >= 1, "{json}");
}

#[test]
fn report_with_the_seccomp_engine() {
    require_mptcp();
    let tmp = TempDir::new("report-seccomp");
    let path = tmp.join("report.json");
    let mut cmd = launch([
        "run",
        "--engine",
        "seccomp",
        "--report",
        path_str(&path),
        "--",
    ]);
    cmd.arg(sockprobe()).args(["stress", "8", "50"]);
    run_timeout(&mut cmd, LONG).success();
    let (json, d) = report(&path);
    assert_eq!(at(&d, "/converted"), &json!(400), "{json}");
    assert_eq!(
        array_at(&d, "/processes").len(),
        1,
        "threads are one process\n{json}"
    );
}

#[test]
fn report_keeps_the_programs_status_and_signal() {
    let tmp = TempDir::new("report-status");
    let path = tmp.join("report.json");
    let run = |script: &str| {
        let mut cmd = launch(["run", "--report", path_str(&path), "sh", "-c", script]);
        run_timeout(&mut cmd, SHORT)
    };
    run("exit 3").expect_code(3);
    report(&path);
    let out = run("kill -TERM $$");
    assert_eq!(out.signal(), Some(libc::SIGTERM), "{out}");
    report(&path);

    // A signal sent to run reaches the program, and the report is written.
    let mut cmd = launch([
        "run",
        "--report",
        path_str(&path),
        "sh",
        "-c",
        "trap 'exit 7' USR1; sleep 20 & wait",
    ]);
    let mut child = ChildGuard::spawn(&mut cmd);
    std::thread::sleep(Duration::from_millis(500));
    child.signal(libc::SIGUSR1);
    let status = child.wait_timeout(SHORT);
    assert_eq!(status.code(), Some(7), "SIGUSR1 forwarded to the program");
    report(&path);
}

#[test]
fn unwritable_report_fails_before_the_program_runs() {
    let tmp = TempDir::new("report-bad");
    let marker = tmp.join("ran");
    let mut cmd = launch([
        "run",
        "--report",
        "/nonexistent-dir/report.json",
        "touch",
        path_str(&marker),
    ]);
    let out = run_timeout(&mut cmd, SHORT);
    out.expect_code(125);
    assert!(out.stderr.contains("cannot write the report"), "{out}");
    assert!(!marker.exists(), "the program must not have run");
}

#[test]
fn require_mptcp_with_the_seccomp_engine() {
    let ns = netns(false);
    let mut args = vec!["--engine", "seccomp", "--require-mptcp", "--"];
    let probe = sockprobe();
    args.extend([path_str(&probe), "sockets"]);
    let out = run_in(&ns, &args);
    out.success();
    for name in ["tcp4", "tcp6-flags"] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name));
        let line = line.unwrap_or_else(|| panic!("no {name} line\n{out}"));
        assert!(
            line.contains("error 92"),
            "{name} must fail with ENOPROTOOPT\n{out}"
        );
    }
    assert_eq!(
        probe_protocol(&out.stdout, "udp4"),
        17,
        "UDP is not trapped\n{out}"
    );
    let notices = out
        .stderr
        .lines()
        .filter(|l| l.contains("--require-mptcp"))
        .count();
    assert_eq!(notices, 1, "the reason is printed once\n{out}");
}
