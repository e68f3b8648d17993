//! The seccomp engine of `mptcpize-rs run` with real programs: the probe
//! (dynamically linked, forced with `--engine seccomp`), static busybox and
//! a static Go client (chosen automatically). Tests marked "root" build
//! network namespaces; the others run as any user on a host with MPTCP.

use std::fs;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use mptcpize_rs_tests::*;

/// Path 1's server address on the two-path network.
const SERVER: &str = "198.18.1.2";

fn warnings(out: &CmdOutput) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect()
}

#[test]
fn probe_gets_mptcp_for_tcp_only() {
    require_mptcp();
    let probe = sockprobe();
    let out = mptcpize([
        "run".as_ref(),
        "-d".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        probe.as_os_str(),
        "sockets".as_ref(),
    ]);
    out.success();
    for &name in TCP_CASES {
        assert_eq!(probe_protocol(&out.stdout, name), MPTCP, "{name}\n{out}");
        let flagged = FLAG_CASES.contains(&name);
        let want = if flagged { "1" } else { "0" };
        assert_eq!(
            probe_flag(&out.stdout, name, "nonblock"),
            want,
            "{name}\n{out}"
        );
        assert_eq!(
            probe_flag(&out.stdout, name, "cloexec"),
            want,
            "{name}\n{out}"
        );
    }
    assert_eq!(probe_protocol(&out.stdout, "mptcp4"), MPTCP, "\n{out}");
    assert_eq!(probe_protocol(&out.stdout, "udp4"), UDP, "\n{out}");
    assert_eq!(probe_protocol(&out.stdout, "udp6"), UDP, "\n{out}");
    assert_eq!(probe_protocol(&out.stdout, "unix"), 0, "\n{out}");
    // One decision per TCP socket, all from the supervisor: UDP, UNIX and
    // the explicit MPTCP socket never reach it.
    assert_eq!(seccomp_conversions(&out.stderr), TCP_CASES.len(), "\n{out}");
    assert_eq!(seccomp_lines(&out.stderr).len(), TCP_CASES.len(), "\n{out}");
    assert!(
        out.stderr
            .contains("using the seccomp engine (--engine seccomp)"),
        "\n{out}"
    );
}

#[test]
fn seccomp_engine_sets_no_ld_preload() {
    let out = mptcpize([
        "run",
        "--engine",
        "seccomp",
        "sh",
        "-c",
        "echo \"[$LD_PRELOAD] [$GODEBUG]\"",
    ]);
    out.success();
    assert_eq!(out.stdout.trim(), "[] [multipathtcp=1]", "\n{out}");
}

#[test]
fn exit_status_is_the_programs() {
    let out = mptcpize(["run", "--engine", "seccomp", "sh", "-c", "exit 3"]);
    out.expect_code(3);
    let busybox = static_busybox();
    let out = mptcpize([
        "run".as_ref(),
        busybox.as_os_str(),
        "sh".as_ref(),
        "-c".as_ref(),
        "exit 42".as_ref(),
    ]);
    out.expect_code(42);
    assert!(warnings(&out).is_empty(), "\n{out}");
}

#[test]
fn missing_and_unexecutable_programs_keep_their_statuses() {
    let out = mptcpize(["run", "--engine", "seccomp", "mptcpize-rs-no-such-tool"]);
    out.expect_code(127);
    let out = mptcpize(["run", "--engine", "seccomp", "/etc/passwd"]);
    out.expect_code(126);
}

/// A program killed by a signal: `run` dies of the same signal.
#[test]
fn death_by_signal_is_passed_on() {
    let out = mptcpize([
        "run",
        "--engine",
        "seccomp",
        "sh",
        "-c",
        "kill -TERM $$; sleep 5",
    ]);
    assert_eq!(out.signal(), Some(libc::SIGTERM), "\n{out}");
}

/// SIGTERM sent to `run` reaches the program (which dies of it, and so
/// does `run`); SIGUSR1 is forwarded too (the program exits 7 on it).
#[test]
fn signals_are_forwarded() {
    let mut cmd = launch(["run", "--engine", "seccomp", "sleep", "30"]);
    cmd.stdin(Stdio::null());
    let mut child = ChildGuard::spawn(&mut cmd);
    thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    child.signal(libc::SIGTERM);
    let status = child.wait_timeout(SHORT);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM),
        "{status:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));

    let script = "trap 'exit 7' USR1; echo ready; while :; do sleep 0.05; done";
    let mut cmd = launch(["run", "--engine", "seccomp", "sh", "-c", script]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut cmd);
    let mut stdout = child.stdout.take().expect("piped");
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut ready).expect("the script starts");
    child.signal(libc::SIGUSR1);
    let status = child.wait_timeout(SHORT);
    assert_eq!(status.code(), Some(7), "{status:?}");
}

#[test]
fn many_threads_all_get_mptcp() {
    require_mptcp();
    let probe = sockprobe();
    let out = mptcpize([
        "run".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        probe.as_os_str(),
        "stress".as_ref(),
        "32".as_ref(),
        "200".as_ref(),
    ]);
    out.success();
    assert_eq!(out.stdout.trim(), "converted 6400 of 6400", "\n{out}");
}

/// A grandchild orphaned by its parent's exit opens its socket later: it
/// still gets MPTCP, and `run` waits for it (the filter's last user).
#[test]
fn orphaned_grandchild_is_served_and_waited_for() {
    require_mptcp();
    let tmp = TempDir::new("seccomp-orphan");
    let report = tmp.join("orphan.txt");
    let probe = sockprobe();
    let start = Instant::now();
    let out = mptcpize([
        "run".as_ref(),
        "-d".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        probe.as_os_str(),
        "orphan".as_ref(),
        report.as_os_str(),
        "700".as_ref(),
    ]);
    let elapsed = start.elapsed();
    out.success();
    // The report is written before the grandchild exits, so it must exist
    // the moment `run` returns.
    let text = fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no report from the grandchild ({e}) when run exited\n{out}"));
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"protocol"), "{text}");
    assert_eq!(words.get(1), Some(&"262"), "{text}");
    assert!(
        elapsed >= Duration::from_millis(700),
        "run returned after {elapsed:?}, before the grandchild's socket"
    );
    let pid = words.get(3).copied().unwrap_or("?");
    assert!(
        seccomp_lines(&out.stderr)
            .iter()
            .any(|l| l.contains(&format!("mptcpize-rs[{pid}]")) && l.contains("converted")),
        "no decision line for the grandchild {pid}\n{out}"
    );
}

/// Static busybox: `auto` picks seccomp, so there is no warning now; the
/// old warning remains with `--engine preload`.
#[test]
fn static_program_gets_seccomp_without_warning() {
    let busybox = static_busybox();
    let out = mptcpize([
        "run".as_ref(),
        "-d".as_ref(),
        busybox.as_os_str(),
        "true".as_ref(),
    ]);
    out.expect_code(0);
    assert!(warnings(&out).is_empty(), "\n{out}");
    assert!(
        out.stderr.contains("using the seccomp engine") && out.stderr.contains("statically linked"),
        "\n{out}"
    );
    let out = mptcpize([
        "run".as_ref(),
        "--engine".as_ref(),
        "preload".as_ref(),
        busybox.as_os_str(),
        "true".as_ref(),
    ]);
    out.expect_code(0);
    let warnings = warnings(&out);
    assert_eq!(warnings.len(), 1, "\n{out}");
    assert!(warnings[0].contains("statically linked"), "\n{out}");
}

/// Rules only the shim can apply are refused, not silently ignored, when
/// the seccomp engine is chosen (automatically for static busybox, or by
/// --engine), before anything starts or is written; --loopback is fine.
#[test]
fn rules_the_seccomp_engine_cannot_apply_are_refused() {
    let busybox = static_busybox();
    let tmp = TempDir::new("seccomp-rules");
    let report = tmp.join("report.json");
    let auto = mptcpize([
        "run".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
        "--exclude-port".as_ref(),
        "22".as_ref(),
        busybox.as_os_str(),
        "true".as_ref(),
    ]);
    auto.expect_code(2);
    assert!(
        auto.stderr
            .contains("--exclude-port cannot be applied by the seccomp engine")
            && auto.stderr.contains("statically linked"),
        "\n{auto}"
    );
    assert!(!report.exists(), "the report file was created\n{auto}");
    let asked = mptcpize([
        "run".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        "--no-listen".as_ref(),
        "--include".as_ref(),
        "198.18.0.0/15".as_ref(),
        busybox.as_os_str(),
        "true".as_ref(),
    ]);
    asked.expect_code(2);
    assert!(
        asked
            .stderr
            .contains("--include, --no-listen cannot be applied")
            && asked.stderr.contains("use --engine preload"),
        "\n{asked}"
    );
    mptcpize([
        "run".as_ref(),
        "--loopback".as_ref(),
        busybox.as_os_str(),
        "true".as_ref(),
    ])
    .expect_code(0);
}

/// A program that moves to another network namespace: the supervisor
/// cannot create sockets there, so they stay TCP (root: `unshare -n`).
#[test]
fn other_network_namespace_stays_tcp() {
    require_root("unshare -n needs CAP_SYS_ADMIN");
    let unshare = require_program("unshare");
    let probe = sockprobe();
    let out = mptcpize([
        "run".as_ref(),
        "-d".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        unshare.as_os_str(),
        "-n".as_ref(),
        probe.as_os_str(),
        "sockets".as_ref(),
    ]);
    out.success();
    for &name in TCP_CASES {
        assert_eq!(probe_protocol(&out.stdout, name), TCP, "{name}\n{out}");
    }
    assert!(out.stderr.contains("another network namespace"), "\n{out}");
}

// ---------------------------------------------------------------------------
// Real programs over the network (root)
// ---------------------------------------------------------------------------

/// Fetches `url` into `dest` inside `ns` with `client ARGS...` under plain
/// `mptcpize-rs run -d` (auto engine); returns its output (checked).
fn run_client(ns: &Netns, client: &[&std::ffi::OsStr]) -> CmdOutput {
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    cmd.args(["run", "-d", "--"]).args(client);
    let out = run_timeout(&mut cmd, LONG);
    out.success();
    out
}

/// Joins seen by the client host (MP_JOIN SYN/ACKs received).
fn joins(net: &TwoPathNet) -> u64 {
    net.client.mptcp_counter("MPJoinSynAckRx")
}

#[test]
fn static_busybox_wget_uses_two_subflows() {
    let busybox = static_busybox();
    let net = two_path_net(100);
    let tmp = TempDir::new("seccomp-busybox");
    let server = HttpServer::start(&net.server, &tmp, true);
    let dest = tmp.join("busybox.bin");
    let url = format!("http://{SERVER}:{HTTP_PORT}/blob.bin");
    let out = run_client(
        &net.client,
        &[
            busybox.as_os_str(),
            "wget".as_ref(),
            "-q".as_ref(),
            "-O".as_ref(),
            dest.as_os_str(),
            url.as_ref(),
        ],
    );
    assert!(
        out.stderr.contains("using the seccomp engine") && out.stderr.contains("statically linked"),
        "the engine was not chosen automatically\n{out}"
    );
    assert!(warnings(&out).is_empty(), "\n{out}");
    assert!(seccomp_conversions(&out.stderr) >= 1, "\n{out}");
    assert_same_bytes(&server.data, &dest, "busybox wget");
    assert!(
        joins(&net) >= 1,
        "the client joined no second subflow: {:?}",
        net.client.netstat()
    );
}

#[test]
fn static_go_client_uses_two_subflows() {
    let tmp = TempDir::new("seccomp-go");
    let gofetch = build_gofetch(tmp.path());
    let net = two_path_net(100);
    let server = HttpServer::start(&net.server, &tmp, true);
    let dest = tmp.join("go.bin");
    let url = format!("http://{SERVER}:{HTTP_PORT}/blob.bin");
    let out = run_client(
        &net.client,
        &[gofetch.as_os_str(), url.as_ref(), dest.as_os_str()],
    );
    // GODEBUG=multipathtcp=1 is set too, but Go 1.19 ignores it: the
    // supervisor's lines prove the seccomp engine made the MPTCP socket.
    assert!(
        out.stderr.contains("using the seccomp engine") && out.stderr.contains("is a Go program"),
        "the engine was not chosen automatically\n{out}"
    );
    assert!(seccomp_conversions(&out.stderr) >= 1, "\n{out}");
    assert_same_bytes(&server.data, &dest, "gofetch");
    assert!(
        joins(&net) >= 1,
        "the client joined no second subflow: {:?}",
        net.client.netstat()
    );
}

/// `net.mptcp.enabled=0`: the supervisor cannot make MPTCP sockets and lets
/// the kernel make the TCP ones; the static program works as without us.
#[test]
fn static_program_works_with_mptcp_disabled() {
    let busybox = static_busybox();
    let ns = netns(false);
    let tmp = TempDir::new("seccomp-disabled");
    let server = HttpServer::start(&ns, &tmp, true);
    let dest = tmp.join("busybox.bin");
    let url = format!("http://127.0.0.1:{HTTP_PORT}/blob.bin");
    let out = run_client(
        &ns,
        &[
            busybox.as_os_str(),
            "wget".as_ref(),
            "-q".as_ref(),
            "-O".as_ref(),
            dest.as_os_str(),
            url.as_ref(),
        ],
    );
    assert_same_bytes(&server.data, &dest, "busybox wget without MPTCP");
    assert_eq!(seccomp_conversions(&out.stderr), 0, "\n{out}");
    assert!(
        out.stderr.contains("fell back to TCP"),
        "no fallback line\n{out}"
    );
}
