//! Prerequisite checks. They panic with an actionable message instead of
//! letting a test pass (or skip) silently.

use std::path::{Path, PathBuf};

/// Whether the test process runs with effective UID 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Panic unless running as root; `why` says what the test needs root for.
pub fn require_root(why: &str) {
    if !is_root() {
        panic!(
            "this test needs root ({why}); run the test suite as root, \
             e.g. `sudo -E tests/run-all.sh` or `sudo -E cargo test --workspace`"
        );
    }
}

/// Debian package that provides `program`.
fn package_for(program: &str) -> &str {
    match program {
        "ip" | "ss" | "nstat" => "iproute2",
        "busybox" => "busybox-static",
        "cc" | "gcc" => "gcc",
        "nm" | "readelf" => "binutils",
        "ncat" => "ncat",
        "python3" => "python3",
        "go" => "golang-go",
        "debootstrap" => "debootstrap",
        "systemd-nspawn" => "systemd-container",
        "nsenter" | "unshare" | "setpriv" => "util-linux",
        "mount" => "mount",
        "rpm" | "rpmspec" | "rpmbuild" => "rpm",
        "dpkg-deb" => "dpkg",
        "dpkg-architecture" | "dpkg-shlibdeps" => "dpkg-dev",
        other => other,
    }
}

/// Look `program` up on PATH (or check it directly if it contains a '/').
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exe(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_exe(p))
}

/// Panic unless `program` is on PATH; returns its full path.
pub fn require_program(program: &str) -> PathBuf {
    find_program(program).unwrap_or_else(|| {
        panic!(
            "missing prerequisite: {program} (install it: apt-get install {}; \
             the README's test command does this)",
            package_for(program)
        )
    })
}

/// Panic unless MPTCP is available and enabled in the current network
/// namespace (`net.mptcp.enabled = 1`).
pub fn require_mptcp() {
    let path = "/proc/sys/net/mptcp/enabled";
    match std::fs::read_to_string(path) {
        Ok(v) if v.trim() == "1" => {}
        Ok(v) => panic!(
            "missing prerequisite: MPTCP is disabled here ({path} = {}); \
             enable it with `sysctl -w net.mptcp.enabled=1`",
            v.trim()
        ),
        Err(e) => panic!(
            "missing prerequisite: this kernel has no MPTCP support ({path}: {e}); \
             the tests need Linux >= 5.6 with CONFIG_MPTCP"
        ),
    }
}
