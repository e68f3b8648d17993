//! Helpers for the seccomp engine tests: the static programs it is for
//! (Debian's busybox-static, a Go client built at test time) and its `-d`
//! lines.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::prereq::require_program;
use crate::process::run_timeout;
use crate::workspace::{fixture, is_dynamically_linked};

/// The statically linked busybox (Debian's busybox-static); panics with an
/// install hint if busybox is missing or dynamically linked.
pub fn static_busybox() -> PathBuf {
    let busybox = require_program("busybox");
    assert!(
        !is_dynamically_linked(&busybox),
        "{} is dynamically linked; install busybox-static (apt-get install busybox-static)",
        busybox.display()
    );
    busybox
}

/// Builds `fixtures/gofetch.go` into `DIR/gofetch`: a static Go HTTP client
/// (`CGO_ENABLED=0`), with caches in DIR and nothing downloaded.
pub fn build_gofetch(dir: &Path) -> PathBuf {
    let go = require_program("go");
    let out_path = dir.join("gofetch");
    let mut cmd = Command::new(go);
    cmd.args(["build", "-o"])
        .arg(&out_path)
        .arg(fixture("gofetch.go"))
        .current_dir(dir)
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", dir.join("go-cache"))
        .env("GOPATH", dir.join("go-path"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env_remove("GOROOT");
    run_timeout(&mut cmd, Duration::from_secs(600)).success();
    assert!(
        !is_dynamically_linked(&out_path),
        "CGO_ENABLED=0 should give a static binary: {}",
        out_path.display()
    );
    out_path
}

/// The seccomp supervisor's decision lines (`mptcpize-rs[PID]: ... (seccomp)`).
pub fn seccomp_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("mptcpize-rs[") && l.ends_with("(seccomp)"))
        .collect()
}

/// How many sockets the supervisor converted, according to its lines.
pub fn seccomp_conversions(text: &str) -> usize {
    seccomp_lines(text)
        .iter()
        .filter(|l| l.contains("converted to MPTCP"))
        .count()
}
