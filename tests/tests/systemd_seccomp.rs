//! `enable` with the seccomp engine, under a real systemd booted in a
//! container (never the host's): a static server (busybox httpd, chosen by
//! `--engine auto`) under systemd 252 and a `Type=notify` Go service built
//! with Go 1.19 (which ignores GODEBUG=multipathtcp) under systemd 257.
//! Each gets an MPTCP listener, keeps systemd's main PID, survives
//! `systemctl reload`, `restart` and `stop` as without mptcpize-rs, and is
//! plain TCP again after `disable`. Needs root.

use std::time::{Duration, Instant};

use mptcpize_rs_tests::seccomp::{build_go_fixture, static_busybox};
use mptcpize_rs_tests::*;

const WAIT: Duration = Duration::from_secs(30);
const DROPIN: &str = "zz-mptcpize-rs.conf";

/// The main process's PID and the executable it runs.
fn main_process(container: &SystemdContainer, unit: &str) -> (String, String) {
    let pid = container.unit_property(unit, "MainPID");
    assert_ne!(
        pid,
        "0",
        "{unit} has no main process:\n{}",
        container.unit_report(unit)
    );
    let exe = container.exec_ok(&["readlink", &format!("/proc/{pid}/exe")]);
    (pid, exe.stdout.trim().to_string())
}

/// An HTTP GET of `/` on loopback inside the container (python3: plain
/// TCP, which an MPTCP listener accepts), its body.
fn http_get(container: &SystemdContainer, port: u16) -> String {
    let client = format!(
        "import urllib.request\n\
         print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=10).read().decode(), end='')"
    );
    container.exec_ok(&["python3", "-c", &client]).stdout
}

/// `systemctl ACTION unit` as a test step: fails with the unit's report.
fn systemctl_ok(container: &SystemdContainer, action: &str, unit: &str) {
    let out = container.systemctl(&[action, unit]);
    assert!(
        out.status.success(),
        "systemctl {action} {unit}:\n{out}\n{}",
        container.unit_report(unit)
    );
}

/// After a stop: inactive, a clean result, and no process left in the
/// unit's control group (the supervisor leaves with the program).
fn assert_stopped_cleanly(container: &SystemdContainer, unit: &str, started: Instant) {
    assert_eq!(container.unit_property(unit, "ActiveState"), "inactive");
    assert_eq!(
        container.unit_property(unit, "Result"),
        "success",
        "{}",
        container.unit_report(unit)
    );
    // systemd waits for the whole control group (up to TimeoutStopSec,
    // 90 s): a supervisor that stayed would show as a slow stop.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopping {unit} took {:?}",
        started.elapsed()
    );
}

#[test]
fn static_service_gets_the_seccomp_engine_under_systemd_252() {
    let container = SystemdContainer::boot();
    container.install_mptcpize_rs();
    container.install(static_busybox(), "/usr/local/bin/busybox", 0o755);
    container.write("/srv/www/index.html", "hello from busybox\n");
    let unit_text = "[Unit]\nDescription=static web server\n\n[Service]\n\
                     ExecStart=-/usr/local/bin/busybox httpd -f -p 8090 -h /srv/www\n\
                     ExecReload=/usr/local/bin/busybox kill -HUP $MAINPID\n";
    container.write("/etc/systemd/system/bb.service", unit_text);
    container.daemon_reload();
    container.start("bb.service");
    container.wait_for_listen(8090, WAIT);
    assert!(
        container.mptcp_listeners(8090).is_empty(),
        "TCP before enable"
    );

    // --engine auto (the default) reads the ExecStart= binary: static.
    let enable = container.exec(&[CONTAINER_LAUNCHER, "enable", "bb", "--now"]);
    enable.expect_code(0).stdout_has(&[
        "Engine for bb.service: seccomp (/usr/local/bin/busybox is statically linked)",
        "Restarted bb.service",
    ]);
    let dropin = container.read(&format!("/etc/systemd/system/bb.service.d/{DROPIN}"));
    assert!(
        dropin.contains(&format!(
            "\nExecStart=\nExecStart=-{CONTAINER_LAUNCHER} run --keep-pid --engine auto -- \
             /usr/local/bin/busybox httpd -f -p 8090 -h /srv/www\n"
        )),
        "{dropin}"
    );
    assert_eq!(container.read("/etc/systemd/system/bb.service"), unit_text);
    container.wait_for_mptcp_listen(8090, WAIT);
    assert_eq!(http_get(&container, 8090), "hello from busybox\n");
    // The program itself is systemd's main process.
    let (pid, exe) = main_process(&container, "bb.service");
    assert_eq!(exe, "/usr/local/bin/busybox");

    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "bb"]);
    status.expect_code(0).stdout_has(&[
        "engine: seccomp",
        &format!("main process {pid}: under the seccomp engine's filter; 1 of 1 TCP-family"),
    ]);
    let json = container.exec(&[CONTAINER_LAUNCHER, "status", "--json"]);
    json.expect_code(0);
    let document = json::parse(&json.stdout);
    let units = document["units"].as_array().expect("units");
    assert_eq!(units.len(), 1, "{document}");
    assert_eq!(units[0]["unit"], "bb.service");
    assert_eq!(units[0]["state"], "current");
    assert_eq!(units[0]["engine"], "seccomp");
    assert_eq!(units[0]["running"]["seccomp_filter"], true);
    assert_eq!(units[0]["running"]["mptcp_sockets"], 1);

    // reload: the signal reaches the program (same PID), which keeps serving.
    systemctl_ok(&container, "reload", "bb.service");
    assert_eq!(main_process(&container, "bb.service").0, pid);
    assert_eq!(http_get(&container, 8090), "hello from busybox\n");
    systemctl_ok(&container, "restart", "bb.service");
    let (restarted, _) = main_process(&container, "bb.service");
    assert_ne!(restarted, pid);
    container.wait_for_mptcp_listen(8090, WAIT);
    let started = Instant::now();
    systemctl_ok(&container, "stop", "bb.service");
    assert_stopped_cleanly(&container, "bb.service", started);
    systemctl_ok(&container, "start", "bb.service");
    container.wait_for_mptcp_listen(8090, WAIT);

    container
        .exec(&[CONTAINER_LAUNCHER, "disable", "bb", "--now"])
        .expect_code(0);
    assert!(!container.exists("/etc/systemd/system/bb.service.d"));
    container.wait_for_listen(8090, WAIT);
    assert!(
        container.mptcp_listeners(8090).is_empty(),
        "TCP after disable"
    );
    assert_eq!(http_get(&container, 8090), "hello from busybox\n");
}

#[test]
fn go_notify_service_gets_the_seccomp_engine_under_systemd_257() {
    let build = TempDir::new("goservice");
    let goservice = build_go_fixture(build.path(), "goservice");
    let container = SystemdContainer::boot_suite(mptcpize_rs_tests::systemd::SUITE_SYSTEMD_257);
    container.install_mptcpize_rs();
    container.install(&goservice, "/usr/local/bin/goservice", 0o755);
    // The minimal root has no /bin/kill (procps).
    container.install(static_busybox(), "/usr/local/bin/busybox", 0o755);
    let unit_text = "[Service]\nType=notify\n\
                     ExecStart=@/usr/local/bin/goservice goservice 8091\n\
                     ExecReload=/usr/local/bin/busybox kill -HUP $MAINPID\n";
    container.write("/etc/systemd/system/gosvc.service", unit_text);
    container.daemon_reload();
    systemctl_ok(&container, "start", "gosvc.service");
    assert!(
        container.mptcp_listeners(8091).is_empty(),
        "TCP before enable"
    );

    let enable = container.exec(&[CONTAINER_LAUNCHER, "enable", "--engine", "seccomp", "gosvc"]);
    enable
        .expect_code(0)
        .stdout_has(&["Engine for gosvc.service: seccomp (--engine seccomp)"]);
    let dropin = container.read(&format!("/etc/systemd/system/gosvc.service.d/{DROPIN}"));
    assert!(
        dropin.contains(&format!(
            "ExecStart={CONTAINER_LAUNCHER} run --keep-pid --engine seccomp --argv0=goservice \
             -- /usr/local/bin/goservice 8091\n"
        )),
        "{dropin}"
    );
    // Type=notify: `start` returns once READY=1 came from the main PID,
    // which is the program's (NotifyAccess=main, the default, untouched).
    systemctl_ok(&container, "restart", "gosvc.service");
    assert_eq!(
        container.unit_property("gosvc.service", "ActiveState"),
        "active"
    );
    assert_eq!(
        container.unit_property("gosvc.service", "NotifyAccess"),
        "main"
    );
    let (pid, exe) = main_process(&container, "gosvc.service");
    assert_eq!(exe, "/usr/local/bin/goservice");
    let argv0 = container.read(&format!("/proc/{pid}/cmdline"));
    assert_eq!(argv0, "goservice\08091\0", "@ gives argv[0]");
    container.wait_for_mptcp_listen(8091, WAIT);
    assert_eq!(http_get(&container, 8091), "reloads=0\n");

    systemctl_ok(&container, "reload", "gosvc.service");
    assert_eq!(main_process(&container, "gosvc.service").0, pid);
    let deadline = Instant::now() + WAIT;
    let mut body = http_get(&container, 8091);
    while body != "reloads=1\n" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        body = http_get(&container, 8091);
    }
    assert_eq!(body, "reloads=1\n", "SIGHUP reached the program once");

    let started = Instant::now();
    systemctl_ok(&container, "stop", "gosvc.service");
    assert_stopped_cleanly(&container, "gosvc.service", started);
    systemctl_ok(&container, "start", "gosvc.service");
    container.wait_for_mptcp_listen(8091, WAIT);
    let status = container.exec(&[CONTAINER_LAUNCHER, "status", "gosvc"]);
    status
        .expect_code(0)
        .stdout_has(&["enabled", "engine: seccomp"]);

    container
        .exec(&[CONTAINER_LAUNCHER, "disable", "gosvc", "--now"])
        .expect_code(0);
    container.wait_for_listen(8091, WAIT);
    assert!(
        container.mptcp_listeners(8091).is_empty(),
        "TCP after disable"
    );
    assert_eq!(http_get(&container, 8091), "reloads=0\n");
}
