//! Which engine reaches which sockets, measured: the table `check`, `run
//! --help` and the README show (`mptcpize_rs::engine::REACH`) run row by
//! row with both engines on a C probe; `run --no-io-uring`, which turns an
//! io_uring program back to `socket()`; and the warning for a Go program
//! under the preload engine, from `run` and from `enable`.

use std::ffi::OsStr;
use std::path::Path;

use mptcpize_rs::engine::REACH;
use mptcpize_rs_tests::reach::{
    Linking, build_go_fixture_with_cgo, build_reach_probe, reach_result,
};
use mptcpize_rs_tests::*;

/// `mptcpize-rs run FLAGS... PROBE MODE`: how the probe made its socket
/// and its protocol, checked for success.
fn probe(flags: &[&str], probe: &Path, mode: &str) -> (String, i32) {
    let mut argv: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    argv.insert(0, OsStr::new("run"));
    argv.extend([probe.as_os_str(), OsStr::new(mode)]);
    let out = mptcpize(argv);
    out.success();
    reach_result(&out.stdout)
}

/// Each row of the table, with each engine, on a dynamically linked
/// program: `raw` is `syscall(SYS_socket, ...)`, the raw system call static
/// and Go programs make. Reached means an MPTCP socket.
#[test]
fn each_engine_reaches_what_the_table_says() {
    require_mptcp();
    let tmp = TempDir::new("reach-table");
    let dynamic = build_reach_probe(tmp.path(), Linking::Dynamic);
    let modes = ["libc", "raw", "io_uring"];
    assert_eq!(REACH.len(), modes.len());
    for (row, mode) in REACH.iter().zip(modes) {
        for (engine, reached) in [("preload", row.preload), ("seccomp", row.seccomp)] {
            let got = probe(&["--engine", engine], &dynamic, mode);
            let protocol = if reached { MPTCP } else { TCP };
            assert_eq!(got, (mode.to_string(), protocol), "{engine}: {row:?}");
        }
    }
    // Without an engine: the same program makes plain TCP each way.
    for mode in modes {
        let out = run_timeout(std::process::Command::new(&dynamic).arg(mode), SHORT);
        out.success();
        assert_eq!(reach_result(&out.stdout), (mode.to_string(), TCP), "{mode}");
    }
}

/// `--no-io-uring`: io_uring_setup says ENOSYS, the probe falls back to
/// socket(), which the seccomp engine makes MPTCP; without it the io_uring
/// socket stays TCP. With `--keep-pid` too, and under `auto` for a static
/// program.
#[test]
fn no_io_uring_turns_an_io_uring_program_back_to_socket() {
    require_mptcp();
    let tmp = TempDir::new("reach-io-uring");
    let dynamic = build_reach_probe(tmp.path(), Linking::Dynamic);
    let fallen_back = ("socket".to_string(), MPTCP);
    let seccomp = ["--engine", "seccomp"];
    assert_eq!(
        probe(&seccomp, &dynamic, "io_uring"),
        ("io_uring".to_string(), TCP)
    );
    let refused = ["--engine", "seccomp", "--no-io-uring"];
    assert_eq!(probe(&refused, &dynamic, "io_uring"), fallen_back);
    let in_place = ["--keep-pid", "--engine", "seccomp", "--no-io-uring"];
    assert_eq!(probe(&in_place, &dynamic, "io_uring"), fallen_back);
    // Other sockets are as without the option.
    assert_eq!(
        probe(&refused, &dynamic, "libc"),
        ("libc".to_string(), MPTCP)
    );
    let static_probe = build_reach_probe(tmp.path(), Linking::Static);
    assert_eq!(probe(&[], &static_probe, "io_uring").1, TCP);
    assert_eq!(
        probe(&["--no-io-uring"], &static_probe, "io_uring"),
        fallen_back
    );
}

/// With the preload engine, asked for or chosen by `auto`, `--no-io-uring`
/// is a usage error and nothing runs: the shim cannot refuse io_uring.
#[test]
fn no_io_uring_is_refused_with_the_preload_engine() {
    let tmp = TempDir::new("reach-io-uring-preload");
    let dynamic = build_reach_probe(tmp.path(), Linking::Dynamic);
    for flags in [&["--engine", "preload"][..], &[]] {
        let mut argv: Vec<&OsStr> = vec![OsStr::new("run"), OsStr::new("--no-io-uring")];
        argv.extend(flags.iter().map(OsStr::new));
        argv.extend([dynamic.as_os_str(), OsStr::new("io_uring")]);
        let out = mptcpize(argv);
        out.expect_code(2).stderr_has(&[
            "--no-io-uring needs the seccomp engine",
            "add --engine seccomp",
        ]);
        assert_eq!(out.stdout, "", "nothing ran:\n{out}");
    }
}

/// A Go program, static or dynamically linked (cgo), under `--engine
/// preload`: one warning line naming the way out; none under `auto`, which
/// picks seccomp. `enable --engine preload` says the same of a Go service.
#[test]
fn preload_on_a_go_program_warns() {
    let tmp = TempDir::new("reach-go");
    let static_go = build_gofetch(tmp.path());
    let dynamic_go = build_go_fixture_with_cgo(tmp.path(), "gofetch");
    for program in [&static_go, &dynamic_go] {
        // Without arguments gofetch prints its usage and exits 2.
        let out = mptcpize([
            OsStr::new("run"),
            OsStr::new("--engine"),
            OsStr::new("preload"),
            program.as_os_str(),
        ]);
        out.expect_code(2);
        let warnings = out.warnings();
        assert_eq!(warnings.len(), 1, "one line:\n{out}");
        for needle in [
            "is a Go program; Go makes its own system calls and the shim will not see them",
            "use --engine seccomp or auto",
        ] {
            assert!(warnings[0].contains(needle), "{needle:?}:\n{out}");
        }
        let out = mptcpize([OsStr::new("run"), OsStr::new("-d"), program.as_os_str()]);
        out.expect_code(2)
            .stderr_has(&["using the seccomp engine", "is a Go program"]);
        assert!(out.warnings().is_empty(), "\n{out}");
    }

    let root = TempDir::new("reach-go-enable");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::copy(&static_go, root.join("usr/bin/gofetch")).unwrap();
    write_file(
        &root.join("etc/systemd/system/fetch.service"),
        "[Service]\nExecStart=/usr/bin/gofetch http://x/ /tmp/x\n",
    );
    let enable = |engine: &str| {
        let mut cmd = std::process::Command::new(launcher());
        cmd.args(["enable", "--root"]).arg(root.path()).args([
            "fetch",
            "--dry-run",
            "--engine",
            engine,
        ]);
        run_timeout(&mut cmd, SHORT)
    };
    enable("preload").success().stdout_has(&[
        "Note: /usr/bin/gofetch is a Go program; Go makes its own system calls",
        "enable with --engine seccomp or auto.",
    ]);
    let auto = enable("auto");
    auto.success();
    assert!(!auto.stdout.contains("Note: /usr/bin/gofetch"), "\n{auto}");
}

/// `check` prints the table, and `check --json` carries it.
#[test]
fn check_shows_the_reach_table() {
    let out = mptcpize(["check"]);
    out.stdout_has(&[
        "Which sockets each engine reaches:",
        "socket() as a raw system call  no       yes",
        "io_uring IORING_OP_SOCKET      no       no",
    ]);
    let out = mptcpize(["check", "--json"]);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let rows = document["engines"]["reach"].as_array().expect("reach rows");
    assert_eq!(rows.len(), REACH.len(), "{document}");
    assert_eq!(rows[2]["calls"], "io_uring IORING_OP_SOCKET");
    assert_eq!(rows[2]["seccomp"], false);
}
