//! Integration tests of `mptcpize-rs check` (root: each test builds its own
//! network namespace and runs `check` inside it).

use mptcpize_rs_tests::json::json_eval;
use mptcpize_rs_tests::*;

/// `mptcpize-rs check ARGS...` inside `ns`, bounded, environment cleaned.
fn check(ns: &Netns, args: &[&str]) -> CmdOutput {
    run_timeout(launch_in(ns, ["check"]).args(args), SHORT)
}

/// The ids of the findings with `severity` in a `check --json` document.
fn finding_ids(json: &str, severity: &str) -> String {
    json_eval(
        json,
        &format!("[f['id'] for f in d['findings'] if f['severity'] == '{severity}']"),
    )
}

/// root: limits raised and one `subflow` endpoint on a veth: exit 0, no
/// warnings or errors, the live self-test stays MPTCP, and the JSON has the
/// limits and the endpoint with its flags.
#[test]
fn healthy_namespace() {
    let ns = netns(true);
    ns.ip([
        "link", "add", "mpz0", "type", "veth", "peer", "name", "mpz1",
    ])
    .unwrap();
    ns.ip(["addr", "add", "10.77.0.1/24", "dev", "mpz0"])
        .unwrap();
    for dev in ["mpz0", "mpz1"] {
        ns.ip(["link", "set", dev, "up"]).unwrap();
    }
    ns.ip([
        "mptcp",
        "limits",
        "set",
        "subflow",
        "2",
        "add_addr_accepted",
        "2",
    ])
    .unwrap();
    ns.ip([
        "mptcp",
        "endpoint",
        "add",
        "10.77.0.1",
        "dev",
        "mpz0",
        "subflow",
    ])
    .unwrap();

    let out = check(&ns, &[]);
    out.expect_code(0);
    for needle in [
        "net.mptcp.enabled  1",
        "subflow 2, add_addr_accepted 2",
        "10.77.0.1 dev mpz0 subflow",
        "self-test          passed: MPTCP connection over 127.0.0.1:",
        "MPTCP can work here (0 warnings).",
    ] {
        assert!(out.stdout.contains(needle), "missing {needle:?}:\n{out}");
    }
    assert!(!out.stdout.contains("[error]"), "{out}");

    let out = check(&ns, &["--json"]);
    out.expect_code(0);
    let json = &out.stdout;
    assert_eq!(json_eval(json, "d['mptcp_can_work']"), "true");
    assert_eq!(json_eval(json, "d['enabled']"), "true");
    assert_eq!(json_eval(json, "d['kernel_support']"), "true");
    assert_eq!(json_eval(json, "d['limits']['subflows']"), "2");
    assert_eq!(json_eval(json, "d['limits']['add_addr_accepted']"), "2");
    assert_eq!(json_eval(json, "len(d['endpoints'])"), "1");
    assert_eq!(
        json_eval(json, "d['endpoints'][0]['address']"),
        "\"10.77.0.1\""
    );
    assert_eq!(json_eval(json, "d['endpoints'][0]['dev']"), "\"mpz0\"");
    assert_eq!(json_eval(json, "d['endpoints'][0]['subflow']"), "true");
    assert_eq!(json_eval(json, "d['endpoints'][0]['signal']"), "false");
    assert_eq!(
        json_eval(json, "d['endpoints'][0]['flags']"),
        "[\"subflow\"]"
    );
    assert_eq!(json_eval(json, "d['self_test']['result']"), "\"mptcp\"");
    assert_eq!(json_eval(json, "d['self_test']['fallback']"), "false");
    assert_eq!(json_eval(json, "d['path_manager']['name']"), "\"kernel\"");
    assert_eq!(json_eval(json, "d['engines']['preload']['usable']"), "true");
    assert_eq!(finding_ids(json, "error"), "[]", "{json}");
    assert_eq!(finding_ids(json, "warning"), "[]", "{json}");
    assert!(
        finding_ids(json, "ok").contains("self-test-passed"),
        "{json}"
    );
}

/// root: with net.mptcp.enabled=0, exit 1 and a finding that names the
/// sysctl and the command that turns it on.
#[test]
fn mptcp_disabled() {
    let ns = netns(false);
    let out = check(&ns, &[]);
    out.expect_code(1);
    assert!(out.stdout.contains("[error]"), "{out}");
    assert!(out.stdout.contains("net.mptcp.enabled = 0"), "{out}");
    assert!(
        out.stdout.contains("fix: sysctl -w net.mptcp.enabled=1"),
        "{out}"
    );
    assert!(out.stdout.contains("MPTCP cannot work here"), "{out}");

    let out = check(&ns, &["--json"]);
    out.expect_code(1);
    let json = &out.stdout;
    assert_eq!(json_eval(json, "d['mptcp_can_work']"), "false");
    assert_eq!(json_eval(json, "d['enabled']"), "false");
    assert_eq!(json_eval(json, "d['mptcp_socket']['ok']"), "false");
    assert_eq!(json_eval(json, "d['self_test']['result']"), "\"skipped\"");
    assert_eq!(finding_ids(json, "error"), "[\"mptcp-disabled\"]", "{json}");
    let disabled = "[f for f in d['findings'] if f['id'] == 'mptcp-disabled'][0]";
    assert_eq!(
        json_eval(
            json,
            &format!("'net.mptcp.enabled' in {disabled}['message']")
        ),
        "true"
    );
    assert_eq!(
        json_eval(
            json,
            &format!("'sysctl -w net.mptcp.enabled=1' in {disabled}['fix']")
        ),
        "true"
    );
}

/// root: a fresh namespace (default limits, no endpoints): MPTCP works
/// (exit 0), with a warning that connections use one path and the
/// `ip mptcp` commands that change it.
#[test]
fn one_path_namespace() {
    let ns = netns(true);
    let out = check(&ns, &[]);
    out.expect_code(0);
    assert!(out.stdout.contains("endpoints          none"), "{out}");
    assert!(out.stdout.contains("[warning]"), "{out}");
    assert!(out.stdout.contains("one path"), "{out}");
    assert!(
        out.stdout
            .contains("fix: ip mptcp endpoint add ADDRESS dev IFACE subflow"),
        "{out}"
    );
    assert!(!out.stdout.contains("[error]"), "{out}");

    let out = check(&ns, &["--json"]);
    out.expect_code(0);
    let json = &out.stdout;
    assert_eq!(json_eval(json, "d['mptcp_can_work']"), "true");
    assert_eq!(json_eval(json, "d['endpoints']"), "[]");
    assert_eq!(json_eval(json, "d['self_test']['result']"), "\"mptcp\"");
    assert_eq!(finding_ids(json, "error"), "[]", "{json}");
    let warnings = finding_ids(json, "warning");
    assert!(warnings.contains("no-endpoints"), "{json}");
    let fixes = json_eval(
        json,
        "[f['fix'] for f in d['findings'] if f['severity'] == 'warning']",
    );
    assert!(fixes.contains("ip mptcp"), "{fixes}");
    let messages = json_eval(
        json,
        "' '.join(f['message'] for f in d['findings'] if f['severity'] == 'warning')",
    );
    assert!(messages.contains("one path"), "{messages}");
}
