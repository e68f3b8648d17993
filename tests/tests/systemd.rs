//! `enable`, `status` and `disable` under a real systemd, booted as PID 1 in
//! its own namespaces over a throwaway Debian root (never the host's): a
//! python3 http.server service goes from TCP to MPTCP (and to a plain TCP
//! listener again with `--no-listen`) and back, keeping its other settings.
//! Needs root.

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
    for expected in [
        "web.service: enabled",
        "shim loaded",
        "1 of 1 TCP-family sockets are MPTCP",
    ] {
        assert!(
            status.stdout.contains(expected),
            "{expected:?} in:\n{status}"
        );
    }

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
    for expected in [
        "rules: loopback=0;listen=0",
        "shim loaded",
        "0 of 1 TCP-family sockets are MPTCP",
    ] {
        assert!(
            status.stdout.contains(expected),
            "{expected:?} in:\n{status}"
        );
    }
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
