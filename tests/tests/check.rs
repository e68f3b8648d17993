//! Integration tests of `mptcpize-rs check` (root: each test builds its own
//! network namespace and runs `check` inside it).

use mptcpize_rs_tests::json::{Value, array_at, at, json, parse, str_at};
use mptcpize_rs_tests::*;

/// `mptcpize-rs check ARGS...` inside `ns`, bounded, environment cleaned.
fn check(ns: &Netns, args: &[&str]) -> CmdOutput {
    run_timeout(launch_in(ns, ["check"]).args(args), SHORT)
}

/// `check --json` inside `ns`, which must exit with `code`: its output and
/// the document parsed.
fn check_json(ns: &Netns, code: i32) -> (String, Value) {
    let out = check(ns, &["--json"]);
    out.expect_code(code);
    let d = parse(&out.stdout);
    (out.stdout, d)
}

/// The findings with `severity` in a `check --json` document.
fn findings<'a>(d: &'a Value, severity: &str) -> Vec<&'a Value> {
    array_at(d, "/findings")
        .iter()
        .filter(|f| str_at(f, "/severity") == severity)
        .collect()
}

/// The ids of the findings with `severity` in a `check --json` document.
fn finding_ids<'a>(d: &'a Value, severity: &str) -> Vec<&'a str> {
    findings(d, severity)
        .into_iter()
        .map(|f| str_at(f, "/id"))
        .collect()
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
    // As in testnet.rs, spelled out: this test wants in view exactly the
    // configuration whose report it checks.
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

    let (json, d) = check_json(&ns, 0);
    assert_eq!(at(&d, "/mptcp_can_work"), &json!(true));
    assert_eq!(at(&d, "/enabled"), &json!(true));
    assert_eq!(at(&d, "/kernel_support"), &json!(true));
    assert_eq!(at(&d, "/limits/subflows"), &json!(2));
    assert_eq!(at(&d, "/limits/add_addr_accepted"), &json!(2));
    assert_eq!(array_at(&d, "/endpoints").len(), 1);
    assert_eq!(at(&d, "/endpoints/0/address"), &json!("10.77.0.1"));
    assert_eq!(at(&d, "/endpoints/0/dev"), &json!("mpz0"));
    assert_eq!(at(&d, "/endpoints/0/subflow"), &json!(true));
    assert_eq!(at(&d, "/endpoints/0/signal"), &json!(false));
    assert_eq!(at(&d, "/endpoints/0/flags"), &json!(["subflow"]));
    assert_eq!(at(&d, "/self_test/result"), &json!("mptcp"));
    assert_eq!(at(&d, "/self_test/fallback"), &json!(false));
    assert_eq!(at(&d, "/path_manager/name"), &json!("kernel"));
    assert_eq!(at(&d, "/engines/preload/usable"), &json!(true));
    assert_eq!(finding_ids(&d, "error"), Vec::<&str>::new(), "{json}");
    assert_eq!(finding_ids(&d, "warning"), Vec::<&str>::new(), "{json}");
    assert!(
        finding_ids(&d, "ok").contains(&"self-test-passed"),
        "{json}"
    );

    // This host's systemd: known when systemctl runs, and SocketProtocol=
    // support only when systemd runs here too.
    assert!(
        out.stdout
            .contains("SocketProtocol=mptcp in .socket units: "),
        "{out}"
    );
    let running = std::path::Path::new("/run/systemd/system").is_dir();
    assert_eq!(at(&d, "/systemd/running"), &json!(running), "{json}");
    let installed = at(&d, "/systemd/installed") == &json!(true);
    assert_eq!(at(&d, "/systemd/version").is_u64(), installed, "{json}");
    assert_eq!(at(&d, "/systemd/error").is_string(), !installed, "{json}");
    if !(installed && running) {
        assert_eq!(at(&d, "/systemd/socket_protocol_mptcp"), &Value::Null);
    }
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

    let (json, d) = check_json(&ns, 1);
    assert_eq!(at(&d, "/mptcp_can_work"), &json!(false));
    assert_eq!(at(&d, "/enabled"), &json!(false));
    assert_eq!(at(&d, "/mptcp_socket/ok"), &json!(false));
    assert_eq!(at(&d, "/self_test/result"), &json!("skipped"));
    assert_eq!(finding_ids(&d, "error"), ["mptcp-disabled"], "{json}");
    let disabled = array_at(&d, "/findings")
        .iter()
        .find(|f| str_at(f, "/id") == "mptcp-disabled")
        .unwrap_or_else(|| panic!("no mptcp-disabled finding:\n{json}"));
    assert!(
        str_at(disabled, "/message").contains("net.mptcp.enabled"),
        "{json}"
    );
    assert!(
        str_at(disabled, "/fix").contains("sysctl -w net.mptcp.enabled=1"),
        "{json}"
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

    let (json, d) = check_json(&ns, 0);
    assert_eq!(at(&d, "/mptcp_can_work"), &json!(true));
    assert_eq!(at(&d, "/endpoints"), &json!([]));
    assert_eq!(at(&d, "/self_test/result"), &json!("mptcp"));
    assert_eq!(finding_ids(&d, "error"), Vec::<&str>::new(), "{json}");
    let warnings = finding_ids(&d, "warning");
    assert!(warnings.contains(&"no-endpoints"), "{json}");
    let warnings = findings(&d, "warning");
    assert!(
        warnings.iter().any(|f| at(f, "/fix")
            .as_str()
            .is_some_and(|fix| fix.contains("ip mptcp"))),
        "{json}"
    );
    assert!(
        warnings
            .iter()
            .any(|f| str_at(f, "/message").contains("one path")),
        "{json}"
    );
}
