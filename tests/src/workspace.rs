//! Build the workspace once per test process and locate its artifacts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::prereq::require_program;
use crate::process::run_timeout;

/// The workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests crate lives inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative paths taken
/// from the workspace root, where the nested build runs) or `ROOT/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Artifacts of the nested (debug) build.
fn debug_dir() -> PathBuf {
    target_dir().join("debug")
}

static BUILT: OnceLock<Result<(), String>> = OnceLock::new();

/// Run `cargo build -q --workspace --bins --lib` once per test process.
/// Panics in every caller if that build failed.
pub fn ensure_built() {
    let result = BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "--workspace", "--bins", "--lib"])
            .current_dir(workspace_root());
        let out = run_timeout(&mut cmd, Duration::from_secs(1200));
        if !out.status.success() {
            return Err(format!("building the workspace failed:\n{out}"));
        }
        for p in [
            debug_dir().join("mptcpize-rs"),
            debug_dir().join("libmptcpize_preload.so"),
        ] {
            if !p.is_file() {
                return Err(format!(
                    "the workspace build succeeded but {} does not exist \
                     (unexpected target directory layout? CARGO_TARGET_DIR={:?})",
                    p.display(),
                    std::env::var_os("CARGO_TARGET_DIR")
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// `target/debug/mptcpize-rs` (built on first use).
pub fn launcher() -> PathBuf {
    ensure_built();
    debug_dir().join("mptcpize-rs")
}

/// `target/debug/libmptcpize_preload.so` (built on first use).
pub fn shim() -> PathBuf {
    ensure_built();
    debug_dir().join("libmptcpize_preload.so")
}

/// `target/debug/sockprobe`, the dynamically linked probe program of this crate.
pub fn sockprobe() -> PathBuf {
    ensure_built();
    let p = debug_dir().join("sockprobe");
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

/// Path of a file in `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Compile `fixtures/other_preload.c` into `DIR/libother.so` with `cc`.
/// The library hooks socket() (forwarding to the next definition) and
/// appends marker lines to the file named by `$OTHER_PRELOAD_MARK`.
pub fn build_other_preload(dir: &Path) -> PathBuf {
    build_fixture(
        dir,
        "other_preload",
        "libother.so",
        &["-shared", "-fPIC", "-Wall", "-ldl"],
    )
}

/// Compiles `fixtures/NAME.c` with `cc` and `ARGS` into `DIR/OUT`.
pub fn build_fixture(dir: &Path, name: &str, out: &str, args: &[&str]) -> PathBuf {
    require_program("cc");
    let out_path = dir.join(out);
    let mut cmd = Command::new("cc");
    cmd.args(args)
        .arg("-o")
        .arg(&out_path)
        .arg(fixture(&format!("{name}.c")));
    run_timeout(&mut cmd, Duration::from_secs(120)).success();
    out_path
}

/// Whether the ELF file at `path` has a program interpreter (PT_INTERP),
/// i.e. is dynamically linked. Panics if it is not a readable ELF64 file.
pub fn is_dynamically_linked(path: &Path) -> bool {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        data.len() > 64 && &data[..4] == b"\x7fELF" && data[4] == 2 && data[5] == 1,
        "{} is not a little-endian ELF64 file",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16_at(0x36);
    let phnum = u16_at(0x38);
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= data.len() && u32::from_le_bytes(data[o..o + 4].try_into().unwrap()) == 3
    })
}
