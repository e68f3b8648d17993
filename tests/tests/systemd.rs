//! `enable`, `status` and `disable` under a real systemd, booted as PID 1 in
//! its own namespaces over a throwaway Debian root (never the host's): a
//! python3 http.server service goes from TCP to MPTCP (and to a plain TCP
//! listener again with `--no-listen`) and back, keeping its other settings;
//! a socket unit's listener is refused under systemd 252 (Debian 12) and
//! becomes MPTCP under systemd 257 (Debian 13), where a client in a
//! namespace joined to the container by two paths then streams data through
//! the socket-activated service over MPTCP with a second subflow. Needs root.

use std::time::Duration;

use mptcpize_rs_tests::*;

const UNIT: &str = "[Unit]\nDescription=test web server\n\n[Service]\n\
                    Environment=FOO=bar \"GREETING=hello world\"\n\
                    ExecStart=/usr/bin/python3 -m http.server 8080 --bind ::\n";
const PORT: u16 = 8080;
const WAIT: Duration = Duration::from_secs(30);

/// The main process's environment, as `NAME=value` lines.
fn main_environment(container: &SystemdContainer) -> String {
    let pid = container.unit_property("web.service", "MainPID");
    container
        .exec_ok(&["cat", &format!("/proc/{pid}/environ")])
        .stdout
        .replace('\0', "\n")
}

/// Waits until the restarted service listens, then reports the listener's
/// protocol as `ss` sees it (MPTCP listeners are listed by `ss -M`).
fn listens_as_mptcp(container: &SystemdContainer) -> bool {
    container.wait_for_listen(PORT, WAIT);
    !container.mptcp_listeners(PORT).is_empty()
}

#[test]
fn enable_status_disable_under_real_systemd() {
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    container.write("/etc/systemd/system/web.service", UNIT);
    container.daemon_reload();
    container.start("web.service");
    assert!(
        !listens_as_mptcp(&container),
        "before enable the service is plain TCP"
    );

    let enable = container.exec(&[CONTAINER_LAUNCHER, "enable", "web", "--now"]);
    enable.expect_code(0);
    assert!(enable.stdout.contains("Reloaded systemd"), "{enable}");
    let dropin = container.read("/etc/systemd/system/web.service.d/zz-mptcpize-rs.conf");
    assert!(
        dropin.contains(&format!("LD_PRELOAD={CONTAINER_SHIM}")),
        "{dropin}"
    );
    assert_eq!(
        container.read("/etc/systemd/system/web.service"),
        UNIT,
        "unit file untouched"
    );

    assert!(
        listens_as_mptcp(&container),
        "after enable --now the listener is MPTCP"
    );
    let environment = main_environment(&container);
    for expected in ["FOO=bar", "GREETING=hello world", "GODEBUG=multipathtcp=1"] {
        assert!(
            environment.lines().any(|l| l == expected),
            "{expected} in:\n{environment}"
        );
    }

    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "web"]);
    status.expect_code(0);
    status.stdout_has(&[
        "web.service: enabled",
        "shim loaded",
        "1 of 1 TCP-family sockets are MPTCP",
    ]);

    // Connection rules: with --no-listen the listener stays plain TCP while
    // the shim is loaded; status shows the rules and is not out of date.
    container
        .exec(&[CONTAINER_LAUNCHER, "enable", "web", "--no-listen", "--now"])
        .expect_code(0);
    assert!(
        !listens_as_mptcp(&container),
        "with --no-listen the listener is TCP"
    );
    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "web"]);
    status.expect_code(0);
    status.stdout_has(&[
        "rules: loopback=0;listen=0",
        "shim loaded",
        "0 of 1 TCP-family sockets are MPTCP",
    ]);
    assert!(!status.stdout.contains("out of date"), "{status}");

    container
        .exec(&[CONTAINER_LAUNCHER, "disable", "web"])
        .expect_code(0);
    assert!(
        !container.exists("/etc/systemd/system/web.service.d"),
        "directory removed"
    );
    container.restart("web.service");
    assert!(
        !listens_as_mptcp(&container),
        "after disable and a restart it is TCP again"
    );
    let environment = main_environment(&container);
    assert!(!environment.contains("LD_PRELOAD"), "{environment}");
    assert!(environment.lines().any(|l| l == "FOO=bar"), "{environment}");

    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "web"]);
    status.expect_code(1);
    assert!(status.stdout.contains("not enabled"), "{status}");
}

/// The environment `enable` merges into is systemd's own: with a dash-prefix
/// drop-in (`web-.service.d/`) and the top-level `service.d/` both naming
/// `10-lib.conf`, systemd applies the more specific one, and so does the
/// drop-in `enable` would write.
#[test]
fn enable_reads_the_dropins_systemd_reads() {
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    container.write("/etc/systemd/system/web-app.service", UNIT);
    container.write(
        "/usr/lib/systemd/system/web-.service.d/10-lib.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/opt/prefix.so\n",
    );
    container.write(
        "/etc/systemd/system/service.d/10-lib.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/opt/generic.so\n",
    );
    container.write(
        "/etc/systemd/system/service.d/20-go.conf",
        "[Service]\nEnvironment=GODEBUG=http2client=0\n",
    );
    container.daemon_reload();
    let shown = container.systemctl(&["show", "--value", "-p", "Environment", "web-app.service"]);
    shown.expect_code(0);
    for expected in ["LD_PRELOAD=/opt/prefix.so", "GODEBUG=http2client=0"] {
        assert!(
            shown.stdout.split_whitespace().any(|word| word == expected),
            "systemd: {expected:?} in:\n{shown}"
        );
    }
    let dry_run = container.exec(&[CONTAINER_LAUNCHER, "enable", "web-app", "--dry-run"]);
    dry_run.expect_code(0);
    for expected in [
        format!("Environment=\"LD_PRELOAD=/opt/prefix.so:{CONTAINER_SHIM}\""),
        "Environment=\"GODEBUG=http2client=0,multipathtcp=1\"".to_string(),
    ] {
        assert!(
            dry_run.stdout.lines().any(|line| line == expected),
            "enable: {expected:?} in:\n{dry_run}"
        );
    }
}

/// One variable of a unit's main process, from /proc/PID/environ (exact
/// bytes: `systemctl show` quotes values ambiguously).
fn process_variable(container: &SystemdContainer, unit: &str, name: &str) -> Option<String> {
    let pid = container.unit_property(unit, "MainPID");
    let environ = container
        .exec_ok(&["cat", &format!("/proc/{pid}/environ")])
        .stdout;
    let prefix = format!("{name}=");
    environ
        .split('\0')
        .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_string))
}

/// Issue 15, finding 3, under a real systemd: units whose GODEBUG and
/// LD_PRELOAD values are written in every escape and quoting form systemd
/// knows, one of them carrying a directive after escaped line ends. After
/// `enable`, systemd reads from the drop-in exactly the values it decoded
/// from the unit (plus what enable merges in), specifiers included, and no
/// directive: the decode-then-encode round trip checked against systemd.
#[test]
fn unit_values_round_trip_through_systemd_and_inject_nothing() {
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    let values = [
        r#""GODEBUG=x\n[Service]\nExecStartPre=/bin/touch /tmp/pwned""#,
        r#"GODEBUG=a\x41\101\u00e9\U0001F600"#,
        r#"'GODEBUG=single "double" \\ back'"#,
        r#"GODEBUG=tab\there\ssp\rcr\abell\vvt\ffeed\bbs"#,
        r#"GODEBUG="half quoted"\"tail\'"#,
        r#"GODEBUG=unit=%n,pct=%%,dollar=$HOME"#,
        r#"GODEBUG=\u2028sep\x7fdel\302\205nel"#,
    ];
    let units: Vec<String> = (0..values.len()).map(|i| format!("t{i}.service")).collect();
    for (unit, value) in units.iter().zip(values) {
        container.write(
            &format!("/etc/systemd/system/{unit}"),
            format!(
                "[Service]\nEnvironment={value}\n\
                 Environment=LD_PRELOAD=/opt/none.so\\nExecStartPre=/bin/touch\\x20/tmp/pwned\n\
                 ExecStart=/bin/sleep infinity\n"
            ),
        );
    }
    container.daemon_reload();
    let mut before = Vec::new();
    for unit in &units {
        container.start(unit);
        let godebug = process_variable(&container, unit, "GODEBUG");
        let preload = process_variable(&container, unit, "LD_PRELOAD");
        let godebug = godebug.unwrap_or_else(|| panic!("{unit}: systemd set no GODEBUG"));
        before.push((godebug, preload.expect("LD_PRELOAD")));
    }
    for unit in &units {
        container
            .exec(&[CONTAINER_LAUNCHER, "enable", unit, "--now"])
            .expect_code(0);
    }
    for (unit, (godebug, preload)) in units.iter().zip(&before) {
        let context = || {
            let dropin =
                container.read(&format!("/etc/systemd/system/{unit}.d/zz-mptcpize-rs.conf"));
            format!("{unit}: systemd read before {godebug:?}; drop-in:\n{dropin}")
        };
        assert_eq!(
            process_variable(&container, unit, "GODEBUG"),
            Some(format!("{godebug},multipathtcp=1")),
            "{}",
            context()
        );
        assert_eq!(
            process_variable(&container, unit, "LD_PRELOAD"),
            Some(format!("{preload}:{CONTAINER_SHIM}")),
            "{}",
            context()
        );
        assert_eq!(
            container.unit_property(unit, "ExecStartPre"),
            "",
            "{}",
            context()
        );
    }
    assert!(!container.exists("/tmp/pwned"), "an injected line ran");
    // The first unit's value is the attack, decoded as systemd decodes it.
    assert_eq!(
        before[0].0,
        "x\n[Service]\nExecStartPre=/bin/touch /tmp/pwned"
    );
    assert_eq!(before[5].0, "unit=t5.service,pct=%,dollar=$HOME");
}

/// Issue 15, findings 4 and 5, under a real systemd: a shim in a directory
/// anyone can write is refused for a system service (found through
/// MPTCPIZE_RS_PRELOAD), accepted with --force and a warning; a masked unit
/// is refused by enable and reported by status.
#[test]
fn replaceable_shim_and_masked_unit_under_real_systemd() {
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    container.write("/usr/lib/systemd/system/web.service", UNIT);
    container.daemon_reload();
    let planted = "/srv/open/libmptcpize_preload.so";
    container.install(shim(), planted, 0o644);
    container.exec_ok(&["chmod", "0777", "/srv/open"]);
    let with_planted = |args: &[&str]| {
        let mut argv = vec![
            "env",
            "MPTCPIZE_RS_PRELOAD=/srv/open/libmptcpize_preload.so",
        ];
        argv.push(CONTAINER_LAUNCHER);
        argv.extend_from_slice(args);
        container.exec(&argv)
    };
    let refused = with_planted(&["enable", "web"]);
    refused.expect_code(1);
    refused.stderr_has(&[
        "refusing to preload /srv/open/libmptcpize_preload.so",
        "/srv/open is writable by its group and others",
        "make install",
    ]);
    assert!(!container.exists("/etc/systemd/system/web.service.d"));
    let forced = with_planted(&["enable", "web", "--force"]);
    forced.expect_code(0);
    assert!(forced.stderr.contains("warning"), "{forced}");
    assert_eq!(
        container.unit_property("web.service", "Environment"),
        format!("FOO=bar \"GREETING=hello world\" LD_PRELOAD={planted} GODEBUG=multipathtcp=1")
    );
    container
        .exec(&[CONTAINER_LAUNCHER, "disable", "web"])
        .expect_code(0);

    // The installed, root-owned shim is accepted; a masked unit is not
    // (systemctl mask links /etc/systemd/system/web.service to /dev/null).
    container.systemctl(&["mask", "web.service"]).success();
    let enable = container.exec(&[CONTAINER_LAUNCHER, "enable", "web"]);
    enable.expect_code(1);
    assert!(enable.stderr.contains("web.service is masked"), "{enable}");
    assert!(!container.exists("/etc/systemd/system/web.service.d"));
    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "web"]);
    status.expect_code(1);
    assert!(status.stdout.contains("web.service: masked"), "{status}");
    container.systemctl(&["unmask", "web.service"]).success();
    container
        .exec(&[CONTAINER_LAUNCHER, "enable", "web"])
        .expect_code(0);
}

/// The review's finding 5 under a real systemd: a shim in a directory
/// whose name holds `%` (`/opt/50%off`). The drop-in writes it `%%`, so
/// systemd's specifier expansion gives the service exactly that path;
/// unescaped, systemd would refuse or change it.
#[test]
fn shim_path_with_a_percent_reaches_the_service_unchanged() {
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    let shim = "/opt/50%off/libmptcpize_preload.so";
    container.exec_ok(&["mkdir", "-p", "/opt/50%off"]);
    container.exec_ok(&["cp", CONTAINER_SHIM, shim]);
    container.write(
        "/etc/systemd/system/pct.service",
        "[Service]\nExecStart=/bin/sleep infinity\n",
    );
    container.daemon_reload();
    container.start("pct.service");
    let override_var = format!("MPTCPIZE_RS_PRELOAD={shim}");
    container
        .exec(&[
            "env",
            &override_var,
            CONTAINER_LAUNCHER,
            "enable",
            "pct",
            "--now",
        ])
        .expect_code(0);
    let dropin = container.read("/etc/systemd/system/pct.service.d/zz-mptcpize-rs.conf");
    assert!(
        dropin.contains("LD_PRELOAD=/opt/50%%off/libmptcpize_preload.so"),
        "{dropin}"
    );
    assert_eq!(
        process_variable(&container, "pct.service", "LD_PRELOAD").as_deref(),
        Some(shim),
        "{dropin}"
    );
    let status = container.exec(&["env", &override_var, CONTAINER_LAUNCHER, "status", "pct"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("shim loaded") && !status.stdout.contains("out of date"),
        "{status}"
    );
}

/// Issue 17: `status` without a unit under a real systemd lists exactly
/// the enabled units, with their main process; `--json` parses and says
/// the same; `check` reports this systemd (252: no SocketProtocol=mptcp).
#[test]
fn status_lists_exactly_the_enabled_units_under_real_systemd() {
    use mptcpize_rs_tests::json::{array_at, at, json, parse, str_at, u64_at};
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    container.write("/etc/systemd/system/web.service", UNIT);
    let sleeper = "[Service]\nExecStart=/bin/sleep infinity\n";
    for unit in ["api", "other"] {
        container.write(&format!("/etc/systemd/system/{unit}.service"), sleeper);
    }
    container.daemon_reload();

    let none = container.exec(&[CONTAINER_LAUNCHER, "status"]);
    none.expect_code(0);
    assert!(none.stdout.contains("No units are enabled"), "{none}");

    for unit in ["web", "api"] {
        container
            .exec(&[CONTAINER_LAUNCHER, "enable", unit])
            .expect_code(0);
    }
    container.start("web.service");
    container.start("api.service");
    container.start("other.service");
    container.wait_for_listen(PORT, WAIT);

    let status = container.exec(&[CONTAINER_LAUNCHER, "status"]);
    status.expect_code(0);
    status.stdout_has(&[
        "api.service: enabled, current",
        "web.service: enabled, current",
        "shim loaded; 1 of 1 TCP-family sockets are MPTCP",
        "2 units have the mptcpize-rs drop-in; 2 current.",
    ]);
    assert!(!status.stdout.contains("other.service"), "{status}");

    let out = container.exec(&[CONTAINER_LAUNCHER, "status", "--json"]);
    out.expect_code(0);
    let d = parse(&out.stdout);
    assert_eq!(at(&d, "/manager_running"), &json!(true));
    assert_eq!(at(&d, "/all_current"), &json!(true));
    let units: Vec<&str> = array_at(&d, "/units")
        .iter()
        .map(|u| str_at(u, "/unit"))
        .collect();
    assert_eq!(units, ["api.service", "web.service"], "{d:#}");
    for i in 0..2 {
        assert_eq!(str_at(&d, &format!("/units/{i}/state")), "current");
        assert_eq!(
            str_at(&d, &format!("/units/{i}/running/active_state")),
            "active"
        );
        assert_eq!(
            at(&d, &format!("/units/{i}/running/shim_loaded")),
            &json!(true)
        );
        assert!(u64_at(&d, &format!("/units/{i}/running/main_pid")) > 1);
    }
    assert_eq!(u64_at(&d, "/units/1/running/tcp_family_sockets"), 1);
    assert_eq!(u64_at(&d, "/units/1/running/mptcp_sockets"), 1);

    // One stale drop-in makes the verdict 1.
    container.write(
        "/etc/systemd/system/api.service.d/10-x.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/x.so\n",
    );
    container.daemon_reload();
    let stale = container.exec(&[CONTAINER_LAUNCHER, "status"]);
    stale.expect_code(1);
    assert!(
        stale.stdout.contains("api.service: enabled, OUT OF DATE"),
        "{stale}"
    );

    let check = container.exec(&[CONTAINER_LAUNCHER, "check", "--json"]);
    assert!(matches!(check.code(), Some(0 | 1)), "{check}");
    let d = parse(&check.stdout);
    assert_eq!(at(&d, "/systemd/installed"), &json!(true));
    assert_eq!(at(&d, "/systemd/running"), &json!(true));
    assert_eq!(u64_at(&d, "/systemd/version"), 252, "{d:#}");
    assert_eq!(at(&d, "/systemd/socket_protocol_mptcp"), &json!(false));
    let text = container.exec(&[CONTAINER_LAUNCHER, "check"]);
    assert!(
        text.stdout
            .contains("SocketProtocol=mptcp in .socket units: no (needs systemd 257)"),
        "{text}"
    );
}

/// A bare port: the wildcard address, where the join on path 2 arrives.
const SOCKET_UNIT: &str = "[Socket]\nListenStream=8080\n";
/// Echoes every connection accepted on the listener systemd passes (fd 3),
/// one thread each, until the client's EOF, then closes it.
const ECHO_SERVER: &str = "import socket, threading
listener = socket.socket(fileno=3)
def echo(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=echo, args=(conn,), daemon=True).start()
";
const ECHO_SERVER_PATH: &str = "/usr/local/lib/mpz-echo.py";
const ACTIVATED_UNIT: &str = "[Service]\nExecStart=/usr/bin/python3 /usr/local/lib/mpz-echo.py\n";
const SOCKET_DROPIN: &str = "/etc/systemd/system/web.socket.d/zz-mptcpize-rs.conf";
/// Bytes each two-path client streams through a socket-activated echo
/// service: a fraction of a second on two 100 Mbit/s paths, enough to fill
/// the first one.
const ECHO_BYTES: u64 = 2_000_000;

/// `web.socket` (TCP port 8080) and the echo service it activates.
fn install_socket_activated_echo(container: &SystemdContainer) {
    container.write(ECHO_SERVER_PATH, ECHO_SERVER);
    container.write("/etc/systemd/system/web.socket", SOCKET_UNIT);
    container.write("/etc/systemd/system/web.service", ACTIVATED_UNIT);
    container.daemon_reload();
}

/// systemd 252 (Debian 12) has no SocketProtocol=mptcp: `enable web.socket`
/// refuses (exit 1) with the version needed and the alternatives, and
/// writes nothing; `enable web` on the socket-activated service says that
/// the listener systemd passes stays TCP.
#[test]
fn socket_units_are_refused_under_systemd_252() {
    let container = SystemdContainer::boot();
    let version = container.exec_ok(&["systemctl", "--version"]).stdout;
    assert!(version.starts_with("systemd 252"), "{version}");
    container.install_mptcpize_rs();
    install_socket_activated_echo(&container);
    container.start("web.socket");
    container.wait_for_listen(PORT, WAIT);

    let enable = container.exec(&[CONTAINER_LAUNCHER, "enable", "web.socket", "--now"]);
    enable.expect_code(1);
    enable.stderr_has(&[
        "needs systemd 257",
        "systemd 252",
        "own listener",
        "upgrade systemd",
    ]);
    assert!(
        !container.exists("/etc/systemd/system/web.socket.d"),
        "nothing written"
    );
    assert!(container.mptcp_listeners(PORT).is_empty(), "still TCP");

    let service = container.exec(&[CONTAINER_LAUNCHER, "enable", "web"]);
    service.expect_code(0);
    service.stdout_has(&["socket-activated by web.socket", "stays TCP"]);
    container
        .exec(&[CONTAINER_LAUNCHER, "status", "web.socket"])
        .expect_code(1);
}

/// systemd 257 (Debian 13): `enable web.socket` writes SocketProtocol=mptcp
/// and, once the socket restarts, the listener systemd creates is MPTCP and
/// data flows over MPTCP through the socket-activated service, from a
/// client in a namespace joined to the container by two paths, with a
/// subflow joined on the second path that carries data both ways; before
/// `enable` and after `disable` the same client falls back to TCP.
#[test]
fn socket_units_become_mptcp_under_systemd_257() {
    let container = SystemdContainer::boot_suite(mptcpize_rs_tests::systemd::SUITE_SYSTEMD_257);
    let version = container.exec_ok(&["systemctl", "--version"]).stdout;
    assert!(version.starts_with("systemd 257"), "{version}");
    container.install_mptcpize_rs();
    install_socket_activated_echo(&container);
    let paths = container.link_two_paths();
    container.start("web.socket");
    container.wait_for_listen(PORT, WAIT);
    assert!(
        container.mptcp_listeners(PORT).is_empty(),
        "TCP before enable"
    );

    let service = container.exec(&[CONTAINER_LAUNCHER, "enable", "web"]);
    service.expect_code(0);
    assert!(
        service
            .stdout
            .contains("`mptcpize-rs enable web.socket` too"),
        "{service}"
    );
    // A first connection starts the service: it holds the TCP listener,
    // and the client's MPTCP falls back to TCP.
    paths.echo(PORT, ECHO_BYTES).assert_fell_back(ECHO_BYTES);
    assert_eq!(
        container.unit_property("web.service", "ActiveState"),
        "active"
    );
    // --now stops the running service (systemd refuses to restart a socket
    // whose service runs) and restarts the socket.
    let enable = container.exec(&[CONTAINER_LAUNCHER, "enable", "web.socket", "--now"]);
    enable.expect_code(0);
    assert!(enable.stdout.contains("Stopped web.service"), "{enable}");
    assert!(
        container
            .read(SOCKET_DROPIN)
            .contains("\n[Socket]\nSocketProtocol=mptcp\n"),
        "{enable}"
    );
    container.wait_for_mptcp_listen(PORT, WAIT);
    let echo = paths.echo(PORT, ECHO_BYTES);
    echo.assert_multipath(ECHO_BYTES, paths.second());
    eprintln!("web.socket over two paths: {}", echo.summary());
    assert_eq!(
        container.unit_property("web.service", "ActiveState"),
        "active"
    );
    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "web.socket"]);
    status.expect_code(0);
    assert!(status.stdout.contains("web.socket: enabled"), "{status}");
    let all = container.exec(&[CONTAINER_LAUNCHER, "status"]);
    assert!(all.stdout.contains("web.socket: enabled, current"), "{all}");

    container
        .exec(&[CONTAINER_LAUNCHER, "disable", "web.socket", "--now"])
        .expect_code(0);
    assert!(!container.exists("/etc/systemd/system/web.socket.d"));
    container.wait_for_listen(PORT, WAIT);
    assert!(
        container.mptcp_listeners(PORT).is_empty(),
        "TCP after disable"
    );
    paths.echo(PORT, ECHO_BYTES).assert_fell_back(ECHO_BYTES);
}

/// An `Accept=yes` socket under systemd 257: systemd accepts each
/// connection itself and starts one `echo@.service` per connection (`cat`
/// on the connection, until the client's EOF), so only the socket's
/// drop-in can make those connections MPTCP. Before enable a client of the
/// two-path network falls back to TCP; after `enable echo.socket --now`
/// the listener is MPTCP and the same client's data flows over MPTCP, with
/// a subflow joined on the second path that carries data both ways.
#[test]
fn accept_yes_sockets_become_mptcp_under_systemd_257() {
    let container = SystemdContainer::boot_suite(mptcpize_rs_tests::systemd::SUITE_SYSTEMD_257);
    container.install_mptcpize_rs();
    container.write(
        "/etc/systemd/system/echo.socket",
        "[Socket]\nListenStream=8081\nAccept=yes\n",
    );
    container.write(
        "/etc/systemd/system/echo@.service",
        "[Service]\nExecStart=/usr/bin/cat\nStandardInput=socket\nStandardOutput=socket\n",
    );
    container.daemon_reload();
    let paths = container.link_two_paths();
    container.start("echo.socket");
    container.wait_for_listen(8081, WAIT);
    assert!(
        container.mptcp_listeners(8081).is_empty(),
        "TCP before enable"
    );
    paths.echo(8081, ECHO_BYTES).assert_fell_back(ECHO_BYTES);
    let service = container.exec(&[CONTAINER_LAUNCHER, "enable", "echo@.service"]);
    service.expect_code(0);
    assert!(
        service.stdout.contains("echo.socket (Accept=yes"),
        "{service}"
    );
    container
        .exec(&[CONTAINER_LAUNCHER, "enable", "echo.socket", "--now"])
        .expect_code(0);
    container.wait_for_mptcp_listen(8081, WAIT);
    let echo = paths.echo(8081, ECHO_BYTES);
    echo.assert_multipath(ECHO_BYTES, paths.second());
    eprintln!(
        "echo.socket (Accept=yes) over two paths: {}",
        echo.summary()
    );
}
