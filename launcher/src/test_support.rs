//! Helpers shared by unit tests. Plain std so no dev-dependency is needed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "mptcpize-rs-test-{}-{label}-{unique}",
            std::process::id()
        ));
        // A stale directory can only come from a crashed run with a reused PID.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates (with parents) a file with the given contents and mode.
    pub fn file(&self, relative: &str, contents: &[u8], mode: u32) -> PathBuf {
        let path = self.path.join(relative);
        fs::create_dir_all(path.parent().expect("has parent")).expect("create parent");
        fs::write(&path, contents).expect("write file");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    pub fn dir(&self, relative: &str) -> PathBuf {
        let path = self.path.join(relative);
        fs::create_dir_all(&path).expect("create dir");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A small seeded generator for property tests (xorshift64*), so that the
/// parsers of untrusted input are exercised without a fuzzing dependency.
/// `MPTCPIZE_RS_FUZZ_SEED` picks the seed (the default is fixed, so CI is
/// reproducible) and `MPTCPIZE_RS_FUZZ_CASES` the number of cases, which
/// bounds the time; a failure message carries both.
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> (Rng, usize) {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let seed = var("MPTCPIZE_RS_FUZZ_SEED").unwrap_or(0x6d70_7463_7069_7a65);
        let cases = var("MPTCPIZE_RS_FUZZ_CASES").unwrap_or(2000) as usize;
        (Rng(seed | 1), cases)
    }

    pub fn seed(&self) -> u64 {
        self.0
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
