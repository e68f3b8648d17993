//! The seccomp engine of `mptcpize-rs run` with real programs: the probe
//! (dynamically linked, forced with `--engine seccomp`), static busybox and
//! a static Go client (chosen automatically). Tests marked "root" build
//! network namespaces; the others run as any user on a host with MPTCP.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use mptcpize_contract::env;
use mptcpize_rs_tests::*;

/// Path 1's server address on the two-path network.
const SERVER: &str = "198.18.1.2";

/// `mptcpize-rs run FLAGS... --engine seccomp sockprobe ARGS...` on a host
/// with MPTCP; its output, checked for success.
fn probe_under_seccomp(flags: &[&str], args: &[&str]) -> CmdOutput {
    require_mptcp();
    let probe = sockprobe();
    let mut argv = vec![OsStr::new("run")];
    argv.extend(flags.iter().copied().map(OsStr::new));
    argv.extend([
        OsStr::new("--engine"),
        OsStr::new("seccomp"),
        probe.as_os_str(),
    ]);
    argv.extend(args.iter().copied().map(OsStr::new));
    let out = mptcpize(argv);
    out.success();
    out
}

#[test]
fn probe_gets_mptcp_for_tcp_only() {
    let out = probe_under_seccomp(&["-d"], &["sockets"]);
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

/// `mptcpize-rs run --engine seccomp sh -c SCRIPT`; its output, unchecked.
fn seccomp_sh(script: &str) -> CmdOutput {
    mptcpize(["run", "--engine", "seccomp", "sh", "-c", script])
}

#[test]
fn seccomp_engine_sets_no_ld_preload() {
    let out = seccomp_sh("echo \"[$LD_PRELOAD] [$GODEBUG]\"");
    out.success();
    assert_eq!(out.stdout.trim(), "[] [multipathtcp=1]", "\n{out}");
}

#[test]
fn exit_status_is_the_programs() {
    let out = seccomp_sh("exit 3");
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
    assert!(out.warnings().is_empty(), "\n{out}");
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
    let out = seccomp_sh("kill -TERM $$; sleep 5");
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
    let out = probe_under_seccomp(&[], &["stress", "32", "200"]);
    assert_eq!(out.stdout.trim(), "converted 6400 of 6400", "\n{out}");
}

/// A grandchild orphaned by its parent's exit opens its socket later: `run`
/// has returned by then (with the program's status and report, written
/// when the program ended), and the grandchild still gets MPTCP from the
/// background supervisor, which exits after it.
#[test]
fn orphaned_grandchild_is_served_after_run_returns() {
    require_mptcp();
    let tmp = TempDir::new("seccomp-orphan");
    let result = tmp.join("orphan.txt");
    let report = tmp.join("report.json");
    let log = tmp.join("run.log");
    let probe = sockprobe();
    let mut cmd = launch([
        "run".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
        probe.as_os_str(),
        "orphan".as_ref(),
        result.as_os_str(),
        "3000".as_ref(),
    ]);
    // Files, not pipes: the grandchild inherits standard error.
    let stderr = fs::File::create(tmp.join("stderr")).unwrap();
    cmd.env(env::LOG.name(), &log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let status = ChildGuard::spawn(&mut cmd).wait_timeout(SHORT);
    let show = || {
        format!(
            "log:\n{}\nstderr:\n{}",
            tmp.read_text("run.log"),
            tmp.read_text("stderr")
        )
    };
    assert!(status.success(), "{status:?}\n{}", show());
    assert!(
        !result.exists(),
        "run returned only after the grandchild's socket (3 s after the program ended)\n{}",
        show()
    );
    // Written when the program ended: its counts, not the grandchild's.
    let json = fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no report when run returned ({e})\n{}", show()));
    let d = json::parse(&json);
    assert_eq!(json::at(&d, "/converted"), &json::json!(0), "{json}");
    let supervisor = background_supervisor_pid(&tmp.read_text("run.log"))
        .unwrap_or_else(|| panic!("no hand-off to a background supervisor\n{}", show()));

    let text = wait_for_file(&result, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the grandchild wrote no result\n{}", show()));
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"protocol"), "{text}\n{}", show());
    assert_eq!(words.get(1), Some(&"262"), "{text}\n{}", show());
    let pid = words.get(3).copied().unwrap_or("?");
    assert!(
        wait_process_gone(supervisor, Duration::from_secs(5)),
        "the background supervisor {supervisor} outlived the grandchild\n{}",
        show()
    );
    let log = tmp.read_text("run.log");
    assert!(
        seccomp_lines(&log)
            .iter()
            .any(|l| l.contains(&format!("mptcpize-rs[{pid}]")) && l.contains("converted")),
        "no decision line for the grandchild {pid}\n{}",
        show()
    );
    assert!(
        log.contains(&format!(
            "background supervisor (PID {supervisor}): no process uses the filter any more"
        )),
        "\n{}",
        show()
    );
}

/// A program that daemonizes (busybox httpd forks and the process `run`
/// started exits at once): `run` returns promptly with its status and
/// without holding its output open; the daemon's listener is MPTCP and
/// serves files; its later sockets (a CGI script's) are still converted by
/// the supervisor that went on in the background; once the daemon is
/// killed nothing is left (root: a namespace of its own).
#[test]
fn daemonizing_program_returns_and_keeps_mptcp() {
    let busybox = static_busybox();
    let curl = require_program("curl");
    let ns = netns(true);
    let tmp = TempDir::new("seccomp-daemon");
    let www = tmp.join("www");
    fs::create_dir_all(www.join("cgi-bin")).unwrap();
    let data = random_bytes(BLOB_SIZE);
    fs::write(www.join("blob.bin"), &data).unwrap();
    let cgi = format!(
        "#!{} sh\necho 'Content-Type: text/plain'\necho\nexec {} sockets\n",
        busybox.display(),
        sockprobe().display()
    );
    write_file_mode(&www.join("cgi-bin/probe"), cgi.as_bytes(), 0o755);
    let log = tmp.join("run.log");
    let port = HTTP_PORT.to_string();
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    cmd.args(["run".as_ref(), busybox.as_os_str(), "httpd".as_ref()])
        .args(["-p".as_ref(), port.as_ref(), "-h".as_ref(), www.as_os_str()])
        .env(env::LOG.name(), &log);
    let start = Instant::now();
    // Captured through pipes: this also fails if anything left behind
    // holds run's standard output or error open.
    let out = run_timeout(&mut cmd, SHORT);
    let elapsed = start.elapsed();
    let show = || format!("{out}\nlog:\n{}", tmp.read_text("run.log"));
    out.success();
    assert!(
        elapsed < Duration::from_secs(5),
        "run took {elapsed:?} to return\n{}",
        show()
    );
    let text = tmp.read_text("run.log");
    assert!(
        text.contains("using the seccomp engine") && text.contains("statically linked"),
        "the engine was not chosen automatically\n{}",
        show()
    );
    let supervisor = background_supervisor_pid(&text)
        .unwrap_or_else(|| panic!("no hand-off to a background supervisor\n{}", show()));
    assert!(process_running(supervisor), "\n{}", show());

    wait_for_listen(&ns, HTTP_PORT, SHORT);
    assert!(
        ns.has_mptcp_listener(HTTP_PORT),
        "the daemon's listener is not MPTCP: {:?}\n{}",
        ns.listeners(),
        show()
    );
    let curl = path_str(&curl);
    let fetch = |path: &str, dest: &str| {
        let url = format!("http://127.0.0.1:{HTTP_PORT}/{path}");
        let args = ["-q", "-sS", "--fail", "--noproxy", "*", "--max-time", "30"];
        let mut cmd = ns.cmd(curl);
        cmd.args(args).args(["-o", dest, &url]);
        run_timeout(&mut cmd, SHORT).success();
    };
    let blob = tmp.join("blob.out");
    fetch("blob.bin", path_str(&blob));
    assert_same_bytes(&data, &blob, "curl from busybox httpd");
    let sockets = tmp.join("cgi.out");
    fetch("cgi-bin/probe", path_str(&sockets));
    let sockets = tmp.read_text("cgi.out");
    for &name in TCP_CASES {
        assert_eq!(
            probe_protocol(&sockets, name),
            MPTCP,
            "{name} in the daemon's CGI script\n{}",
            show()
        );
    }

    // Kill the daemon (SIGTERM): the supervisor follows it within seconds,
    // and nothing of this run remains in the namespace.
    let daemons: Vec<i32> = ns
        .pids()
        .into_iter()
        .filter(|&pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("httpd") && pid as u32 != supervisor
        })
        .collect();
    assert!(!daemons.is_empty(), "no httpd daemon in {}", ns.name());
    for &pid in &daemons {
        // SAFETY: kill(2) with a PID and a signal number.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    assert!(
        wait_process_gone(supervisor, Duration::from_secs(5)),
        "the background supervisor {supervisor} outlived the daemon {daemons:?}\n{}",
        show()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ns.pids().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ns.pids(), Vec::<i32>::new(), "left behind\n{}", show());
    assert!(
        tmp.read_text("run.log")
            .contains("no process uses the filter any more"),
        "\n{}",
        show()
    );
}

/// `run` sent SIGTERM while a worker the program started runs on: the
/// program gets the signal and `run` dies of it at once; the worker's
/// sockets opened afterwards are still MPTCP (not ENOSYS), served by the
/// background supervisor, which leaves with the worker.
#[test]
fn worker_left_after_sigterm_keeps_getting_mptcp() {
    require_mptcp();
    let busybox = static_busybox();
    let probe = sockprobe();
    let tmp = TempDir::new("seccomp-sigterm");
    let go = tmp.join("go");
    let result = tmp.join("sockets.txt");
    let log = tmp.join("run.log");
    // The worker waits (20 s at most) for the go-ahead, given only once
    // `run` is gone, then opens its sockets.
    let script = format!(
        "( i=0; while [ ! -e {go} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; \
         {probe} sockets >{result}.tmp; mv {result}.tmp {result} ) </dev/null >/dev/null 2>&1 & \
         echo ready; wait",
        go = path_str(&go),
        probe = path_str(&probe),
        result = path_str(&result),
    );
    let mut cmd = launch([
        "run".as_ref(),
        busybox.as_os_str(),
        "sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
    ]);
    cmd.env(env::LOG.name(), &log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut run = ChildGuard::spawn(&mut cmd);
    let show = || format!("log:\n{}", tmp.read_text("run.log"));
    let mut stdout = run.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut ready = [0u8; 6];
        let _ = tx.send(std::io::Read::read_exact(&mut stdout, &mut ready).map(|()| ready));
    });
    match rx.recv_timeout(SHORT) {
        Ok(Ok(ready)) => assert_eq!(&ready, b"ready\n", "\n{}", show()),
        other => panic!("the script did not start: {other:?}\n{}", show()),
    }
    let start = Instant::now();
    run.signal(libc::SIGTERM);
    let status = run.wait_timeout(SHORT);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM),
        "{status:?}\n{}",
        show()
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "run took {:?} to die\n{}",
        start.elapsed(),
        show()
    );
    let supervisor = background_supervisor_pid(&tmp.read_text("run.log"))
        .unwrap_or_else(|| panic!("no hand-off to a background supervisor\n{}", show()));

    fs::write(&go, "").unwrap();
    let sockets = wait_for_file(&result, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the worker wrote no result\n{}", show()));
    for &name in TCP_CASES {
        assert_eq!(
            probe_protocol(&sockets, name),
            MPTCP,
            "{name} opened after run died\n{}",
            show()
        );
    }
    assert!(
        wait_process_gone(supervisor, Duration::from_secs(5)),
        "the background supervisor {supervisor} outlived the worker\n{}",
        show()
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
    assert!(out.warnings().is_empty(), "\n{out}");
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
    let warnings = out.warnings();
    assert_eq!(warnings.len(), 1, "\n{out}");
    assert!(warnings[0].contains("statically linked"), "\n{out}");
}

/// The rule options are accepted with the seccomp engine (the supervisor
/// applies them: `tests/rules.rs`); a malformed rule, or a malformed
/// inherited `MPTCPIZE_RS_RULES`, stops `run` with status 2 before anything
/// starts or is written.
#[test]
fn rules_are_accepted_and_malformed_ones_refused() {
    let busybox = static_busybox();
    let tmp = TempDir::new("seccomp-rules");
    let report = tmp.join("report.json");
    for flags in [
        &["--exclude-port", "22"][..],
        &[
            "--engine",
            "seccomp",
            "--no-listen",
            "--include",
            "198.18.0.0/15",
        ],
        &["--loopback", "--include-port", "443"],
    ] {
        let mut args = vec![OsStr::new("run")];
        args.extend(flags.iter().map(OsStr::new));
        args.extend([busybox.as_os_str(), OsStr::new("true")]);
        mptcpize(args).expect_code(0);
    }
    let bad = mptcpize([
        "run".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
        "--exclude".as_ref(),
        "10.0.0.0/33".as_ref(),
        busybox.as_os_str(),
        "true".as_ref(),
    ]);
    bad.expect_code(2).stderr_has(&["--exclude"]);
    assert!(!report.exists(), "the report file was created\n{bad}");
    let mut cmd = launch(["run".as_ref(), busybox.as_os_str(), "true".as_ref()]);
    cmd.env(env::RULES.name(), "loopback=2");
    let inherited = run_timeout(&mut cmd, SHORT);
    inherited
        .expect_code(2)
        .stderr_has(&[env::RULES.name(), "must be 0 or 1"]);
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

/// A root-started program that drops to `nobody` gets sockets owned by
/// `nobody`, as if it had made them (what `ip rule uidrange` and the owner
/// match see), not by the supervisor's root (issue 15). Root: a namespace
/// and setpriv.
#[test]
fn sockets_carry_the_callers_credentials() {
    let busybox = static_busybox();
    let setpriv = require_program("setpriv");
    let ns = netns(true);
    let port = "5410";
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    cmd.args(["run", "--engine", "seccomp", "--"])
        .arg(&setpriv)
        .args(SETPRIV_NOBODY)
        .arg(&busybox)
        .args(["nc", "-l", "-p", port]);
    let mut server = ChildGuard::spawn(cmd.stdin(Stdio::null()).stdout(Stdio::null()));
    wait_for_listen(&ns, 5410, SHORT);
    let listeners = ns
        .run_ok("ss", &["-Hltne", "sport", "=", ":5410"])
        .stdout
        .clone();
    let mptcp = ns.run_ok("ss", &["-HMltn"]).stdout.clone();
    server.kill();
    assert!(
        listeners.contains("uid:65534"),
        "the listener must belong to nobody (65534):\n{listeners}"
    );
    assert!(
        mptcp.contains(":5410"),
        "the listener must be MPTCP:\n{mptcp}"
    );
}

// ---------------------------------------------------------------------------
// Real programs over the network (root)
// ---------------------------------------------------------------------------

/// Fetches `url` into `dest` inside `ns` with `client ARGS...` under plain
/// `mptcpize-rs run -d` (auto engine); returns its output (checked).
fn run_client(ns: &Netns, client: &[&std::ffi::OsStr]) -> CmdOutput {
    let mut cmd = launch_in(ns, ["run", "-d", "--"]);
    cmd.args(client);
    let out = run_timeout(&mut cmd, LONG);
    out.success();
    out
}

/// `busybox wget -q -O DEST URL` inside `ns` through [`run_client`].
fn busybox_wget(ns: &Netns, busybox: &Path, dest: &Path, url: &str) -> CmdOutput {
    run_client(
        ns,
        &[
            busybox.as_os_str(),
            "wget".as_ref(),
            "-q".as_ref(),
            "-O".as_ref(),
            dest.as_os_str(),
            url.as_ref(),
        ],
    )
}

/// The client of `net` joined at least one second subflow.
fn assert_second_subflow(net: &TwoPathNet) {
    assert!(
        joins(net) >= 1,
        "the client joined no second subflow: {:?}",
        net.client.netstat()
    );
}

#[test]
fn static_busybox_wget_uses_two_subflows() {
    let busybox = static_busybox();
    let net = two_path_net(100);
    let tmp = TempDir::new("seccomp-busybox");
    let server = HttpServer::start(&net.server, &tmp, true);
    let dest = tmp.join("busybox.bin");
    let url = format!("http://{SERVER}:{HTTP_PORT}/blob.bin");
    let out = busybox_wget(&net.client, &busybox, &dest, &url);
    assert!(
        out.stderr.contains("using the seccomp engine") && out.stderr.contains("statically linked"),
        "the engine was not chosen automatically\n{out}"
    );
    assert!(out.warnings().is_empty(), "\n{out}");
    assert!(seccomp_conversions(&out.stderr) >= 1, "\n{out}");
    assert_same_bytes(&server.data, &dest, "busybox wget");
    assert_second_subflow(&net);
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
    assert_second_subflow(&net);
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
    let out = busybox_wget(&ns, &busybox, &dest, &url);
    assert_same_bytes(&server.data, &dest, "busybox wget without MPTCP");
    assert_eq!(seccomp_conversions(&out.stderr), 0, "\n{out}");
    assert!(
        out.stderr.contains("fell back to TCP"),
        "no fallback line\n{out}"
    );
}

/// `mptcpize-rs run --keep-pid --engine seccomp python3 -c SCRIPT` (python3
/// is dynamically linked: the filter reaches it all the same).
fn keep_pid_python(script: &str) -> CmdOutput {
    require_mptcp();
    mptcpize([
        "run",
        "--keep-pid",
        "--engine",
        "seccomp",
        "python3",
        "-c",
        script,
    ])
}

/// `--keep-pid`: the program is the process `run` was (same PID), its TCP
/// sockets are MPTCP, it has no child it did not make (a program that
/// waits for all its children must not wait for the supervisor), and its
/// exit status and death by a signal are its own, with no forwarding.
#[test]
fn keep_pid_execs_the_program_in_place() {
    let script = "import os, socket, sys\n\
                  s = socket.socket()\n\
                  print('protocol', s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))\n\
                  try:\n    os.waitpid(-1, 0)\n    print('children: some')\n\
                  except ChildProcessError:\n    print('children: none')\n\
                  print('ppid', os.getppid())\n\
                  sys.exit(5)";
    let out = keep_pid_python(script);
    out.expect_code(5)
        .stdout_has(&["protocol 262\n", "children: none\n"]);
    // The launcher's parent (the test) is the program's parent.
    assert!(
        out.stdout
            .contains(&format!("ppid {}\n", std::process::id())),
        "{out}"
    );
    let out = keep_pid_python("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)");
    assert_eq!(out.signal(), Some(libc::SIGTERM), "\n{out}");
    // With the PID of the shell that exec'd run.
    let out = mptcpize([
        "run",
        "--keep-pid",
        "--engine",
        "seccomp",
        "--argv0",
        "renamed",
        "sh",
        "-c",
        "echo \"$0\"",
    ]);
    out.success();
    assert_eq!(out.stdout, "renamed\n", "{out}");
}

/// `--keep-pid`: a process the program leaves behind is still served by
/// the supervisor after the program has exited, also after signals sent
/// to every process of a service (a stop's SIGTERM, `systemctl kill -s
/// SIGALRM` or `SIGRTMIN+1`), and the supervisor leaves once it has exited
/// too.
#[test]
fn keep_pid_serves_what_the_program_leaves_then_leaves() {
    require_mptcp();
    let tmp = TempDir::new("keep-pid-left");
    let result = tmp.join("left.txt");
    let marker = format!("keep-pid-marker-{}", std::process::id());
    let script = format!(
        "import os, socket, sys, time\n\
         if os.fork() == 0:\n\
         \x20   os.setsid()\n\
         \x20   null = os.open('/dev/null', os.O_RDWR)\n\
         \x20   for fd in (0, 1, 2): os.dup2(null, fd)\n\
         \x20   time.sleep(1.0)\n\
         \x20   s = socket.socket()\n\
         \x20   open({result:?}, 'w').write(str(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)))\n\
         \x20   os._exit(0)\n\
         sys.exit(0)\n\
         # {marker}",
        result = result.display().to_string()
    );
    let out = keep_pid_python(&script);
    out.success();
    // The supervisor: the process running the launcher, marker included.
    let supervisors: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let exe = fs::read_link(entry.path().join("exe")).unwrap_or_default();
            exe == launcher().canonicalize().unwrap()
                && String::from_utf8_lossy(&cmdline).contains(&marker)
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    assert_eq!(supervisors.len(), 1, "one supervisor: {supervisors:?}");
    for signal in [
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGALRM,
        libc::SIGRTMIN() + 1,
    ] {
        // SAFETY: kill(2) of the supervisor this test started.
        unsafe { libc::kill(supervisors[0], signal) };
    }
    let deadline = Instant::now() + SHORT;
    while fs::read_to_string(&result).unwrap_or_default().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(fs::read_to_string(&result).unwrap_or_default(), "262");
    // The supervisor's command line is run's, marker included.
    let supervisor_left = || {
        fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat.rsplit(')').next().is_some_and(|s| s.starts_with(" Z"));
            !zombie && String::from_utf8_lossy(&cmdline).contains(&marker)
        })
    };
    let deadline = Instant::now() + SHORT;
    while supervisor_left() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!supervisor_left(), "the supervisor is still there");
}

#[test]
fn keep_pid_and_report_are_refused_together() {
    let tmp = TempDir::new("keep-pid-report");
    let report = tmp.join("r.json");
    let out = mptcpize([
        "run".as_ref(),
        "--keep-pid".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
        "true".as_ref(),
    ]);
    out.expect_code(2).stderr_has(&["--keep-pid", "--report"]);
    assert!(!report.exists());
}

/// `--keep-pid` where it cannot work falls back like `run` does, before
/// anything changed: under an outer seccomp listener (EBUSY, found by the
/// intermediate process) `auto` uses preload and `no_new_privs` is not
/// set by the inner run; as PID 1 of a PID namespace, which would adopt
/// the supervisor, `--engine seccomp` is refused and `auto` falls back.
/// Root (a PID namespace).
#[test]
fn keep_pid_falls_back_where_it_cannot_work() {
    require_root("a PID namespace (unshare --pid)");
    let busybox = static_busybox();
    let launcher = launcher();
    let outer = mptcpize([
        "run".as_ref(),
        "--engine".as_ref(),
        "seccomp".as_ref(),
        "--".as_ref(),
        launcher.as_os_str(),
        "run".as_ref(),
        "--keep-pid".as_ref(),
        busybox.as_os_str(),
        "sh".as_ref(),
        "-c".as_ref(),
        "exit 4".as_ref(),
    ]);
    outer
        .expect_code(4)
        .stderr_has(&["Device or resource busy", "using LD_PRELOAD"]);

    let in_pid_namespace = |args: &[&std::ffi::OsStr]| {
        let mut cmd = std::process::Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--"])
            .arg(&launcher)
            .args(["run", "--keep-pid"])
            .args(args);
        run_timeout(&mut cmd, SHORT)
    };
    let refused = in_pid_namespace(&["--engine".as_ref(), "seccomp".as_ref(), "true".as_ref()]);
    refused
        .expect_code(125)
        .stderr_has(&["PID 1 (or a child subreaper)", "run without --keep-pid"]);
    let fallback = in_pid_namespace(&[busybox.as_os_str(), "true".as_ref()]);
    fallback
        .expect_code(0)
        .stderr_has(&["PID 1 (or a child subreaper)", "using LD_PRELOAD"]);
}
