//! Temporary directories and byte helpers (no external crates).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under `std::env::temp_dir()`, unique per test
/// (`mpz-test-TAG-PID-N`), removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("mpz-test-{tag}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create temp dir {}: {e}", path.display()),
            }
        }
        panic!("cannot find a free temp dir name under {}", base.display());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Read a file in this directory as (lossy) text; empty if absent.
    pub fn read_text(&self, name: impl AsRef<Path>) -> String {
        fs::read(self.join(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Write `contents` to `path` and set its permission bits to `mode`.
pub fn write_file_mode(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

/// Write `contents` to `path`, creating its parent directories first.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// Every file under `dir` and its content (directories as empty, symbolic
/// links as their target, never followed): to prove a command wrote
/// nothing, or wrote exactly what it should.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                into.insert(path.clone(), Vec::new());
                walk(&path, into);
            } else if meta.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                into.insert(path, target.into_os_string().into_encoded_bytes());
            } else {
                into.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, &mut files);
    files
}

/// `len` pseudo-random bytes (xorshift64*), seeded from the clock and PID.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    if x == 0 {
        x = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a 64-bit hash, for short messages about large buffers.
pub fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Panic unless the file at `got` holds exactly `expected`.
pub fn assert_same_bytes(expected: &[u8], got: &Path, what: &str) {
    let data =
        fs::read(got).unwrap_or_else(|e| panic!("{what}: cannot read {}: {e}", got.display()));
    if data != expected {
        let first_diff = expected
            .iter()
            .zip(&data)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(data.len()));
        panic!(
            "{what}: {} differs from the served file: {} bytes (fnv {:016x}) vs expected {} bytes \
             (fnv {:016x}); first difference at offset {first_diff}",
            got.display(),
            data.len(),
            fnv64(&data),
            expected.len(),
            fnv64(expected)
        );
    }
}
