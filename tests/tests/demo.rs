//! Integration tests of `mptcpize-rs demo` (root): the whole demo as a user
//! runs it, and Ctrl-C in the middle of it. Both check that no namespace
//! is left behind.

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use mptcpize_rs_tests::*;

/// Upper bound for one demo run with `--seconds 4` (it takes about 13 s).
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// `mptcpize-rs demo ARGS...` without variables that would change what the
/// demo's peers load.
fn demo(args: &[&str]) -> Command {
    require_root("the demo builds network namespaces");
    for program in ["ip", "tc"] {
        require_program(program);
    }
    require_mptcp();
    let mut cmd = Command::new(launcher());
    cmd.arg("demo").args(args);
    clean_env(&mut cmd);
    cmd
}

/// Namespaces of the demo run by process `pid` (`mpz-demo-cli-<pid>-<n>`,
/// `mpz-demo-srv-<pid>-<n>`) that still exist.
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = run_timeout(Command::new("ip").args(["netns", "list"]), SHORT);
    out.success();
    let owned = [
        format!("mpz-demo-cli-{pid}-"),
        format!("mpz-demo-srv-{pid}-"),
    ];
    out.stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| owned.iter().any(|o| name.starts_with(o.as_str())))
        .map(str::to_string)
        .collect()
}

/// The table row that starts with `label`.
fn row<'a>(out: &'a CmdOutput, label: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} row in the demo's output:\n{out}"))
}

/// The Mbit/s figures in a row, in order.
fn mbits(row: &str) -> Vec<f64> {
    let words: Vec<&str> = row.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[1].starts_with("Mbit/s"))
        .filter_map(|pair| pair[0].trim_start_matches('(').parse().ok())
        .collect()
}

#[test]
fn demo_shows_multipath_and_removes_its_namespaces() {
    let out = run_timeout(&mut demo(&["--seconds", "4"]), DEMO_TIMEOUT);
    out.success();
    for needle in [
        "Two paths of 100 Mbit/s",
        "plain TCP",
        "MPTCP (mptcpize-rs run)",
    ] {
        assert!(out.stdout.contains(needle), "missing {needle:?}:\n{out}");
    }

    let rates = mbits(row(&out, "both paths up"));
    assert_eq!(rates.len(), 2, "two rates expected:\n{out}");
    let (tcp, mptcp) = (rates[0], rates[1]);
    assert!(
        tcp > 50.0,
        "plain TCP at {tcp} Mbit/s on a 100 Mbit/s path:\n{out}"
    );
    assert!(
        mptcp >= 1.5 * tcp,
        "MPTCP ({mptcp} Mbit/s) is not 1.5 times plain TCP ({tcp} Mbit/s):\n{out}"
    );

    let subflows: Vec<&str> = row(&out, "subflows").split_whitespace().skip(1).collect();
    assert_eq!(subflows, ["1", "2"], "subflows:\n{out}");

    let failure = row(&out, "path 1 down");
    assert!(
        failure.contains("stalled"),
        "plain TCP should stall:\n{out}"
    );
    assert!(
        failure.contains("continued on path 2"),
        "MPTCP should continue on path 2:\n{out}"
    );
    let after = mbits(failure);
    assert!(
        after.last().is_some_and(|&rate| rate > 50.0),
        "MPTCP's rate on path 2:\n{out}"
    );

    let delivered = row(&out, "delivered intact");
    assert!(
        delivered.trim_end().ends_with("0 bytes lost"),
        "MPTCP must lose nothing:\n{out}"
    );

    assert_eq!(namespaces_of(out.pid), Vec::<String>::new(), "{out}");
}

#[test]
fn ctrl_c_removes_everything() {
    let mut cmd = demo(&["--seconds", "4"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut cmd);
    // About 1 s into the plain TCP transfer: namespaces and peers exist.
    thread::sleep(Duration::from_secs(3));
    let pid = child.id();
    assert!(
        !namespaces_of(pid).is_empty(),
        "the demo should have built its network by now"
    );
    child.signal(libc::SIGINT);
    let out = child.output_timeout(SHORT);
    assert_eq!(out.code(), Some(130), "interrupted demo:\n{out}");
    assert!(out.stderr.contains("interrupted"), "{out}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "{out}");
}
