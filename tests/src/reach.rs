//! The programs that show which engine reaches which sockets: the C probe
//! `fixtures/reach_probe.c` (a TCP socket by libc, by a raw system call, or
//! by io_uring) and a Go program linked dynamically (cgo).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::prereq::require_program;
use crate::process::run_timeout;
use crate::workspace::{fixture, is_dynamically_linked};

/// How `reach_probe` is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linking {
    Dynamic,
    /// `cc -static`: libc's socket() is then a raw system call too.
    Static,
}

/// Compiles `fixtures/reach_probe.c` with `cc` into `DIR/reach_probe` (or
/// `reach_probe-static`).
pub fn build_reach_probe(dir: &Path, linking: Linking) -> PathBuf {
    require_program("cc");
    let (name, flags): (_, &[&str]) = match linking {
        Linking::Dynamic => ("reach_probe", &[]),
        Linking::Static => ("reach_probe-static", &["-static"]),
    };
    let out_path = dir.join(name);
    let mut cmd = Command::new("cc");
    cmd.args(["-O2", "-Wall", "-Wextra", "-Werror"])
        .args(flags)
        .arg("-o")
        .arg(&out_path)
        .arg(fixture("reach_probe.c"));
    run_timeout(&mut cmd, Duration::from_secs(120)).success();
    assert_eq!(
        is_dynamically_linked(&out_path),
        linking == Linking::Dynamic,
        "{}",
        out_path.display()
    );
    out_path
}

/// `reach_probe`'s one line, `via=WAY protocol=N`: (WAY, N).
pub fn reach_result(stdout: &str) -> (String, i32) {
    let line = stdout.trim();
    let parsed = line.strip_prefix("via=").and_then(|rest| {
        let (via, protocol) = rest.split_once(" protocol=")?;
        Some((via.to_string(), protocol.parse().ok()?))
    });
    parsed.unwrap_or_else(|| panic!("not a reach_probe line: {line:?}"))
}

/// Builds `fixtures/NAME.go` into `DIR/NAME-cgo` with cgo, which links a
/// program using `net` dynamically against libc (the resolver): a Go
/// program the dynamic loader, and so LD_PRELOAD, does start in.
pub fn build_go_fixture_with_cgo(dir: &Path, name: &str) -> PathBuf {
    let out_path = crate::seccomp::go_build(dir, name, &format!("{name}-cgo"), true);
    assert!(
        is_dynamically_linked(&out_path),
        "cgo with net should give a dynamically linked binary: {}",
        out_path.display()
    );
    out_path
}
