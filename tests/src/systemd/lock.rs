//! An exclusive flock(2) on a file, released on drop: serializes the
//! processes that would build the same root filesystem.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// An exclusive flock(2) on a file, released on drop.
pub(super) struct FileLock {
    file: File,
}

impl FileLock {
    /// Poll for the lock (LOCK_NB) up to `timeout`.
    pub(super) fn acquire(path: &Path, timeout: Duration) -> Result<FileLock, String> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
        let deadline = Instant::now() + timeout;
        let mut told = false;
        loop {
            // SAFETY: flock(2) on a descriptor we own.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(FileLock { file });
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => {}
                _ => return Err(format!("flock {}: {err}", path.display())),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "another process held {} for more than {timeout:?} (a stuck rootfs build?)",
                    path.display()
                ));
            }
            if !told {
                eprintln!(
                    "waiting for another process building the container root filesystem ({})",
                    path.display()
                );
                told = true;
            }
            thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: flock(2) on a descriptor we own (closing would also unlock).
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}
