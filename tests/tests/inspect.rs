//! Integration tests of `mptcpize-rs inspect` (root: each test builds its
//! own network namespace; `inspect` runs inside it).

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mptcpize_rs_tests::apps::Wrap;
use mptcpize_rs_tests::json::{Value, array_at, at, json, parse, str_at, u64_at};
use mptcpize_rs_tests::*;

/// `mptcpize-rs inspect ARGS...` inside `ns`, bounded.
fn inspect(ns: &Netns, args: &[&str]) -> CmdOutput {
    run_timeout(launch_in(ns, ["inspect"]).args(args), SHORT)
}

/// A client that connects to the http.server on [::1]:HTTP_PORT and stays
/// connected (at most 60 s; killed on drop), wrapped or not.
fn idle_client(ns: &Netns, wrapped: bool) -> ChildGuard {
    let script = format!(
        "import socket, time\n\
         s = socket.create_connection(('::1', {HTTP_PORT}))\n\
         time.sleep(60)"
    );
    let mut cmd = Wrap::when(wrapped, &["--loopback"]).command(ns, "python3");
    cmd.args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    ChildGuard::spawn(&mut cmd)
}

/// `inspect --json PID` until the process has an ESTABLISHED socket (the
/// client may still be connecting); returns the JSON.
fn inspect_until_established(ns: &Netns, pid: u32) -> String {
    let deadline = Instant::now() + SHORT;
    loop {
        let out = inspect(ns, &["--json", &pid.to_string()]);
        out.expect_code(0);
        let d = parse(&out.stdout);
        let established = array_at(&d, "/0/sockets")
            .iter()
            .any(|s| str_at(s, "/state") == "ESTABLISHED");
        if established {
            return out.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} has no ESTABLISHED socket after {SHORT:?}:\n{out}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The first socket of the `process`th process whose `state` is `state`
/// (panics, showing the document, when there is none).
fn socket_in<'a>(d: &'a Value, process: usize, state: &str) -> &'a Value {
    array_at(d, &format!("/{process}/sockets"))
        .iter()
        .find(|s| str_at(s, "/state") == state)
        .unwrap_or_else(|| panic!("no {state} socket in process {process}:\n{d:#}"))
}

/// root: a wrapped `python3 -m http.server`: its listener is MPTCP; with a
/// wrapped client connected, the server's connection and the client's are
/// MPTCP, ESTABLISHED, with at least one subflow and no fallback.
#[test]
fn wrapped_http_server() {
    let ns = netns(true);
    let tmp = TempDir::new("inspect-wrapped");
    let server = HttpServer::start(&ns, &tmp, true);
    let server_pid = server.child.id();

    let out = inspect(&ns, &[&server_pid.to_string()]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("PID {server_pid} (python3)")),
        "{out}"
    );
    assert!(out.stdout.contains("FD  PROTOCOL  STATE"), "{out}");
    let listen = out.stdout.lines().find(|l| l.contains("LISTEN"));
    let listen = listen.unwrap_or_else(|| panic!("no LISTEN row:\n{out}"));
    assert!(listen.contains("mptcp"), "{out}");
    assert!(listen.contains(&format!("[::]:{HTTP_PORT}")), "{out}");

    let out = inspect(&ns, &["--json", &server_pid.to_string()]);
    out.expect_code(0);
    let json = &out.stdout;
    let d = parse(json);
    assert_eq!(array_at(&d, "").len(), 1, "{json}");
    assert_eq!(at(&d, "/0/pid"), &json!(server_pid), "{json}");
    let listener = socket_in(&d, 0, "LISTEN");
    assert_eq!(at(listener, "/protocol"), &json!("mptcp"), "{json}");
    assert_eq!(
        at(listener, "/local"),
        &json!(format!("[::]:{HTTP_PORT}")),
        "{json}"
    );

    let mut client = idle_client(&ns, true);
    let client_pid = client.id();
    let json = inspect_until_established(&ns, server_pid);
    let d = parse(&json);
    let connection = socket_in(&d, 0, "ESTABLISHED");
    assert_eq!(at(connection, "/protocol"), &json!("mptcp"), "{json}");
    assert_eq!(
        at(connection, "/local"),
        &json!(format!("[::1]:{HTTP_PORT}")),
        "{json}"
    );
    assert!(u64_at(connection, "/subflows") >= 1, "{json}");
    assert_eq!(at(connection, "/fallback"), &json!(false), "{json}");

    // The client's side, and two PIDs in one call.
    let out = inspect(
        &ns,
        &["--json", &server_pid.to_string(), &client_pid.to_string()],
    );
    out.expect_code(0);
    let json = &out.stdout;
    let d = parse(json);
    let pids: Vec<u64> = array_at(&d, "").iter().map(|p| u64_at(p, "/pid")).collect();
    assert_eq!(pids, [server_pid, client_pid].map(u64::from), "{json}");
    let client_socket = socket_in(&d, 1, "ESTABLISHED");
    assert_eq!(at(client_socket, "/protocol"), &json!("mptcp"), "{json}");
    assert_eq!(
        at(client_socket, "/remote"),
        &json!(format!("[::1]:{HTTP_PORT}")),
        "{json}"
    );
    assert!(u64_at(client_socket, "/subflows") >= 1, "{json}");
    client.kill();
}

/// root: the same server and client without `mptcpize-rs run`: every
/// socket is plain TCP, and TCP sockets carry no subflow count.
#[test]
fn plain_http_server() {
    let ns = netns(true);
    let tmp = TempDir::new("inspect-plain");
    let server = HttpServer::start(&ns, &tmp, false);
    let server_pid = server.child.id();
    let _client = idle_client(&ns, false);
    let json = inspect_until_established(&ns, server_pid);
    let d = parse(&json);
    let sockets = array_at(&d, "/0/sockets");
    let protocols: std::collections::BTreeSet<&str> =
        sockets.iter().map(|s| str_at(s, "/protocol")).collect();
    assert_eq!(protocols.into_iter().collect::<Vec<_>>(), ["tcp"], "{json}");
    let listener = socket_in(&d, 0, "LISTEN");
    assert_eq!(
        at(listener, "/local"),
        &json!(format!("[::]:{HTTP_PORT}")),
        "{json}"
    );
    assert!(
        !sockets.iter().any(|s| s.get("subflows").is_some()),
        "{json}"
    );

    let out = inspect(&ns, &[&server_pid.to_string()]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("0 of 2 TCP-family sockets are MPTCP"),
        "{out}"
    );
}

/// A PID with no process is an error (1); a malformed one a usage error (2).
#[test]
fn bad_pids() {
    // Above any pid_max (at most 2^22), so never a live process.
    let out = run_timeout(
        Command::new(launcher()).args(["inspect", "2147483647"]),
        SHORT,
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("no process with PID 2147483647"),
        "{out}"
    );
    for bad in ["abc", "0", "-3", "12x"] {
        let out = run_timeout(Command::new(launcher()).args(["inspect", bad]), SHORT);
        out.expect_code(2);
    }
    let out = run_timeout(Command::new(launcher()).arg("inspect"), SHORT);
    out.expect_code(2);
}

/// A process name is another user's text: control characters in it are
/// shown escaped, never sent raw to the terminal (issue 15). A python
/// process renames itself to "evil ESC]0;owned BEL" with PR_SET_NAME.
#[test]
fn control_characters_in_a_process_name_are_escaped() {
    require_program("python3");
    let ns = netns(true);
    let script = "import ctypes, socket, sys, time\n\
         ctypes.CDLL(None).prctl(15, b'evil\\x1b]0;owned\\x07', 0, 0, 0)\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', 0))\n\
         s.listen()\n\
         print('ready', flush=True)\n\
         time.sleep(60)";
    let mut cmd = ns.cmd("python3");
    clean_env(&mut cmd);
    cmd.args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(&mut cmd);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let out = inspect(&ns, &[&child.id().to_string()]);
    out.expect_code(0);
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
        "raw control characters in:\n{out:?}"
    );
    assert!(
        out.stdout.contains("evil\\u{1b}]0;owned\\u{7}"),
        "the name must be shown escaped:\n{out}"
    );
}
