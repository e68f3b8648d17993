//! The shipped build: `cargo build --release` puts the launcher and the shim
//! side by side, the launcher finds that shim, and the shim exports exactly
//! the calls it wraps (a preload library must not interpose anything more:
//! its own `memcpy` and the like stay inside) and imports exactly four
//! symbols (each import is a lookup the dynamic loader makes in every
//! process the shim is loaded into, about 760 instructions: issue 20).

use std::process::Command;
use std::time::Duration;

use mptcpize_rs_tests::*;

#[test]
fn release_build_layout_and_exports() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "mptcpize-rs",
            "-p",
            "mptcpize-preload",
        ])
        .current_dir(workspace_root());
    run_timeout(&mut build, Duration::from_secs(1200)).success();

    let release = target_dir().join("release");
    let launcher = release.join("mptcpize-rs");
    let shim = release.join("libmptcpize_preload.so");
    assert!(
        launcher.is_file() && shim.is_file(),
        "missing artifacts in {release:?}"
    );

    let version = run_timeout(
        Command::new(&launcher).arg("--version"),
        Duration::from_secs(10),
    );
    let expected = format!("shim: {}", shim.canonicalize().unwrap().display());
    assert!(version.success().stdout.contains(&expected), "{version}");

    require_program("nm");
    let mut nm = Command::new("nm");
    nm.args(["-D", "--defined-only"]).arg(&shim);
    let symbols = run_timeout(&mut nm, Duration::from_secs(10));
    let exported: Vec<&str> = symbols
        .success()
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        exported,
        [
            "close",
            "connect",
            "dup",
            "dup2",
            "dup3",
            "epoll_ctl",
            "fcntl",
            "fcntl64",
            "getsockopt",
            "listen",
            "sendmsg",
            "setsockopt",
            "socket"
        ],
        "{symbols}"
    );
    let mut nm = Command::new("nm");
    nm.args(["-D", "--undefined-only"]).arg(&shim);
    let symbols = run_timeout(&mut nm, Duration::from_secs(10));
    let imported: Vec<&str> = symbols
        .success()
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|name| name.split('@').next().unwrap_or(name))
        .collect();
    assert_eq!(
        imported,
        [
            "__errno_location",
            "__register_atfork",
            "getauxval",
            "syscall"
        ],
        "{symbols}"
    );

    let mut probe = Command::new(&launcher);
    probe
        .env_remove("LD_PRELOAD")
        .args(["run"])
        .arg(sockprobe())
        .arg("sockets");
    let out = run_timeout(&mut probe, Duration::from_secs(30));
    assert_eq!(probe_protocol(&out.success().stdout, "tcp4"), 262, "{out}");
}
