//! Helpers for the seccomp engine tests: the static programs it is for
//! (Debian's busybox-static, a Go client built at test time), its `-d`
//! lines and the background supervisor it leaves for daemons.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::prereq::require_program;
use crate::process::run_timeout;
use crate::workspace::{fixture, is_dynamically_linked};

/// The statically linked busybox (Debian's busybox-static); panics with an
/// install hint if busybox is missing or dynamically linked.
pub fn static_busybox() -> PathBuf {
    let busybox = require_program("busybox");
    assert!(
        !is_dynamically_linked(&busybox),
        "{} is dynamically linked; install busybox-static (apt-get install busybox-static)",
        busybox.display()
    );
    busybox
}

/// Builds `fixtures/gofetch.go` into `DIR/gofetch`: a static Go HTTP client
/// (`CGO_ENABLED=0`), with caches in DIR and nothing downloaded.
pub fn build_gofetch(dir: &Path) -> PathBuf {
    build_go_fixture(dir, "gofetch")
}

/// Builds `fixtures/NAME.go` into `DIR/NAME`, statically (`CGO_ENABLED=0`),
/// with caches in DIR and nothing downloaded.
pub fn build_go_fixture(dir: &Path, name: &str) -> PathBuf {
    let out_path = go_build(dir, name, name, false);
    assert!(
        !is_dynamically_linked(&out_path),
        "CGO_ENABLED=0 should give a static binary: {}",
        out_path.display()
    );
    out_path
}

/// `go build` of `fixtures/NAME.go` into `DIR/OUT`, with cgo or without,
/// caches in DIR and nothing downloaded.
pub fn go_build(dir: &Path, name: &str, out: &str, cgo: bool) -> PathBuf {
    let go = require_program("go");
    if cgo {
        require_program("cc");
    }
    let out_path = dir.join(out);
    let mut cmd = Command::new(go);
    cmd.args(["build", "-o"])
        .arg(&out_path)
        .arg(fixture(&format!("{name}.go")))
        .current_dir(dir)
        .env("CGO_ENABLED", if cgo { "1" } else { "0" })
        .env("GOCACHE", dir.join("go-cache"))
        .env("GOPATH", dir.join("go-path"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env_remove("GOROOT");
    run_timeout(&mut cmd, Duration::from_secs(600)).success();
    out_path
}

/// Builds `fixtures/connprobe.c` into `DIR/connprobe` with `cc -static`: a
/// static client that prints its connected socket's SO_PROTOCOL, can
/// register it with epoll before connecting, and checks an echo exchange
/// (see the file). Panics with an install hint without a static libc.
pub fn build_connprobe(dir: &Path) -> PathBuf {
    require_program("cc");
    let out_path = dir.join("connprobe");
    let mut cmd = Command::new("cc");
    cmd.args(["-static", "-O2", "-Wall", "-o"])
        .arg(&out_path)
        .arg(fixture("connprobe.c"));
    let out = run_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.code() == Some(0),
        "cc -static failed (install libc6-dev for a static libc):\n{out}"
    );
    assert!(
        !is_dynamically_linked(&out_path),
        "cc -static gave a dynamically linked {}",
        out_path.display()
    );
    out_path
}

/// Builds `fixtures/optprobe.c` into `DIR/optprobe-static` (`cc -static`,
/// for the seccomp engine) or `DIR/optprobe` (dynamic, for the shim): a
/// program that prints what setsockopt()/getsockopt() of options MPTCP
/// rejects answer it. Panics with an install hint without a static libc.
pub fn build_optprobe(dir: &Path, static_link: bool) -> PathBuf {
    require_program("cc");
    let out_path = dir.join(if static_link {
        "optprobe-static"
    } else {
        "optprobe"
    });
    let mut cmd = Command::new("cc");
    if static_link {
        cmd.arg("-static");
    }
    cmd.args(["-O2", "-Wall", "-o"])
        .arg(&out_path)
        .arg(fixture("optprobe.c"));
    let out = run_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        out.code() == Some(0),
        "cc failed (install libc6-dev for a static libc):\n{out}"
    );
    assert_eq!(
        is_dynamically_linked(&out_path),
        !static_link,
        "{}",
        out_path.display()
    );
    out_path
}

/// The seccomp supervisor's decision lines (`mptcpize-rs[PID]: ... (seccomp)`).
pub fn seccomp_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("mptcpize-rs[") && l.ends_with("(seccomp)"))
        .collect()
}

/// How many sockets the supervisor converted, according to its lines.
pub fn seccomp_conversions(text: &str) -> usize {
    seccomp_lines(text)
        .iter()
        .filter(|l| l.contains("converted to MPTCP"))
        .count()
}

/// The PID of the background supervisor `run` handed the filter to when
/// the program ended before processes it started (its `-d` line:
/// `... continues in the background as PID N ...`).
pub fn background_supervisor_pid(log: &str) -> Option<u32> {
    let (_, rest) = log.split_once("continues in the background as PID ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether process `pid` still runs (a zombie does not: it only waits to
/// be reaped by init).
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "PID (comm) STATE ...": comm may hold spaces and parentheses.
        Ok(stat) => !matches!(
            stat.rsplit_once(')').map(|(_, rest)| rest.trim_start()),
            Some(rest) if rest.starts_with('Z') || rest.starts_with('X')
        ),
        Err(_) => false,
    }
}

/// Waits at most `timeout` for process `pid` to end; whether it did.
pub fn wait_process_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while process_running(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Waits at most `timeout` for `path` to exist; its text, or None.
pub fn wait_for_file(path: &Path, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Some(text);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
