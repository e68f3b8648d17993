//! The systemd container harness itself (`mptcpize_rs_tests::systemd`):
//! a real systemd boots as PID 1 over a throwaway overlay, runs units,
//! keeps its hands off the host's /tmp, and cleans up after itself.
//!
//! Root; the first run builds the cached Debian root filesystem with
//! debootstrap (about a minute with a nearby mirror).

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mptcpize_rs_tests::systemd::rootfs;
use mptcpize_rs_tests::*;

const WEB_UNIT: &str = "\
[Unit]
Description=test web server

[Service]
ExecStart=/usr/bin/python3 -m http.server 8080 --bind ::
Environment=FOO=bar
";

/// A file in the host's /tmp, removed on drop.
struct Marker(PathBuf);

impl Marker {
    fn new() -> Marker {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = PathBuf::from(format!(
            "/tmp/mpz-systemd-marker-{}-{nanos}",
            std::process::id()
        ));
        fs::write(&path, "host /tmp must survive\n")
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        Marker(path)
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Mount points in the host's mount table under `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| Path::new(m).starts_with(dir))
        })
        .map(str::to_string)
        .collect()
}

fn start_web(c: &SystemdContainer) {
    c.write("/etc/systemd/system/web.service", WEB_UNIT);
    c.daemon_reload();
    c.start("web.service");
    let lines = c.wait_for_listen(8080, LONG);
    eprintln!("{}: {}", c.name(), lines.join(" | "));
}

/// (root) Boot, run a unit with an environment, talk to it; the host's
/// /tmp and the cached root filesystem stay untouched; nothing is left.
#[test]
fn boots_systemd_and_runs_a_service() {
    require_root("booting systemd in a container");
    let lower = rootfs();
    let marker = Marker::new();
    let start = Instant::now();
    let c = SystemdContainer::boot();
    eprintln!(
        "container {} booted in {:.2} s (init PID {} on the host)",
        c.name(),
        start.elapsed().as_secs_f64(),
        c.init_pid()
    );

    // systemd is PID 1 in its own PID and UTS namespaces.
    assert_eq!(c.read("/proc/1/comm").trim(), "systemd");
    assert_eq!(c.exec_ok(&["hostname"]).stdout.trim(), c.name());
    assert_eq!(
        c.systemctl(&["is-system-running"]).stdout.trim(),
        "running",
        "failed units: {}",
        c.systemctl(&["--failed", "--no-pager"]).stdout
    );
    // Its own network namespace: only the loopback interface.
    let links = c.exec_ok(&["ip", "-o", "link", "show"]).stdout;
    assert_eq!(links.lines().count(), 1, "links inside:\n{links}");
    assert!(links.contains("lo:"), "links inside:\n{links}");

    start_web(&c);
    let env = c.systemctl(&["show", "-p", "Environment", "web.service"]);
    env.success();
    assert!(
        env.stdout.contains("FOO=bar"),
        "Environment of web.service: {env}"
    );
    assert_eq!(c.unit_property("web.service", "ActiveState"), "active");
    // A plain TCP server: no MPTCP listener.
    assert!(c.mptcp_listeners(8080).is_empty());
    assert_eq!(c.tcp_listeners(8080).len(), 1);
    let main_pid = c.unit_property("web.service", "MainPID");
    assert_eq!(c.read(&format!("/proc/{main_pid}/comm")).trim(), "python3");
    let fetched = c.exec_ok(&[
        "python3",
        "-c",
        "import urllib.request; print(urllib.request.urlopen('http://[::1]:8080/').status)",
    ]);
    assert_eq!(fetched.stdout.trim(), "200", "{fetched}");

    // Files written inside land in the overlay, not in the cache.
    assert!(c.exists("/etc/systemd/system/web.service"));
    assert!(!lower.join("etc/systemd/system/web.service").exists());
    // The container's tmpfiles ran at boot (they clean /tmp) ...
    assert!(
        c.exists("/tmp") && !c.exists(&marker.0.to_string_lossy()),
        "the container sees the host's /tmp"
    );
    // ... and the host's /tmp kept its marker.
    assert!(marker.0.is_file(), "{} vanished", marker.0.display());
    // The overlay is not in the host's mount table.
    assert!(
        host_mounts_under(&std::env::temp_dir()).is_empty(),
        "mounts under the temp dir: {:?}",
        host_mounts_under(&std::env::temp_dir())
    );

    let init = c.init_pid();
    let stop = Instant::now();
    drop(c);
    eprintln!("powered off in {:.2} s", stop.elapsed().as_secs_f64());
    assert!(
        !Path::new(&format!("/proc/{init}")).exists(),
        "the container's systemd (PID {init}) is still running"
    );
    assert!(marker.0.is_file(), "{} vanished", marker.0.display());
}

/// (root) Two containers boot at the same time and are isolated from each
/// other: both serve on port 8080, files and machine IDs are their own.
#[test]
fn two_containers_boot_in_parallel() {
    require_root("booting systemd in containers");
    rootfs();
    let start = Instant::now();
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(SystemdContainer::boot);
        let b = s.spawn(SystemdContainer::boot);
        (a.join(), b.join())
    });
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e),
    };
    eprintln!(
        "{} and {} booted in parallel in {:.2} s",
        a.name(),
        b.name(),
        start.elapsed().as_secs_f64()
    );
    assert_ne!(a.name(), b.name());
    assert_ne!(a.init_pid(), b.init_pid());
    assert_ne!(
        a.read("/etc/machine-id").trim(),
        b.read("/etc/machine-id").trim()
    );

    a.write("/root/who", "a\n");
    b.write("/root/who", "b\n");
    assert_eq!(a.read("/root/who"), "a\n");
    assert_eq!(b.read("/root/who"), "b\n");

    // Same port in both: separate network namespaces.
    start_web(&a);
    start_web(&b);
    a.stop("web.service");
    assert_eq!(b.unit_property("web.service", "ActiveState"), "active");
    b.restart("web.service");
    b.wait_for_listen(8080, LONG);
}

/// (root) Host-built binaries run inside (same glibc): the launcher and
/// shim install where `mptcpize-rs enable` expects them.
#[test]
fn installs_the_launcher_and_shim() {
    require_root("booting systemd in a container");
    let c = SystemdContainer::boot();
    c.install_mptcpize_rs();
    let mode = c.exec_ok(&["stat", "-c", "%a", CONTAINER_LAUNCHER]).stdout;
    assert_eq!(mode.trim(), "755");
    let version = c.exec_ok(&["mptcpize-rs", "--version"]);
    assert!(
        version.stdout.contains(CONTAINER_SHIM),
        "the launcher inside does not find the shim at {CONTAINER_SHIM}:\n{version}"
    );
    // MPTCP works in the container's network namespace and `ss -M` sees it.
    c.write(
        "/etc/systemd/system/mptcp-listener.service",
        "[Service]\nExecStart=/usr/bin/python3 -c \"import socket, time; \
         s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, 262); \
         s.bind(('::', 9000)); s.listen(); time.sleep(600)\"\n",
    );
    c.daemon_reload();
    c.start("mptcp-listener.service");
    let lines = c.wait_for_mptcp_listen(9000, LONG);
    eprintln!("ss -lMnH: {lines:?}\nss -ltnM:\n{}", c.ss(&["-ltnM"]));
    assert_eq!(c.mptcp_listeners(9000).len(), 1);

    let size = c.exec_ok(&["stat", "-c", "%s", CONTAINER_SHIM]).stdout;
    let host_size = fs::metadata(shim()).expect("shim").len();
    assert_eq!(
        size.trim(),
        host_size.to_string(),
        "size of {CONTAINER_SHIM}"
    );
}
