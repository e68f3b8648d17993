//! What a container leaves when its test process dies without dropping the
//! guard (SIGKILL, abort): a watcher process per container cleans up at
//! once, and [`sweep_stale`] removes anything that escaped even that at the
//! next boot (names carry the owner's PID).

use std::fs::{self, File};
use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::cgroups::{CGROUP_PARENT, Hierarchy, destroy_cgroups};
use super::container::{NAME_PREFIX, STOP_TIMEOUT, TEMP_TAG};
use super::mounts::mounts_below;

/// Runs as `sh -c` beside each container, its stdin the read end of a pipe
/// whose write end only the test process holds. The guard writes `done`
/// after its own cleanup; EOF without it means the test process died
/// (SIGKILL, abort): then kill the container and remove its cgroups and
/// temporary directory. Arguments: DIR CGROUP_DIR...
const WATCH_SCRIPT: &str = r#"read -r word || :
if [ "$word" = done ]; then exit 0; fi
dir=$1
shift
n=0
while :; do
    pids=$(for cg; do find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null; done)
    if [ -z "$pids" ]; then break; fi
    n=$((n + 1))
    if [ "$n" -gt 200 ]; then exit 1; fi
    for cg; do
        if [ -e "$cg/cgroup.kill" ]; then echo 1 > "$cg/cgroup.kill"; fi
    done 2>/dev/null
    kill -9 $pids 2>/dev/null
    sleep 0.05
done
for cg; do find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null; done
rm -rf -- "$dir"
"#;

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The PID in a name `PREFIX-PID-N`.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Clean up after test processes that died without dropping their
/// containers (SIGKILL, abort): kill what is left in their cgroups, remove
/// the cgroups and the temporary directories. Only touches names whose
/// owner PID no longer exists.
pub(super) fn sweep_stale(hierarchies: &[Hierarchy]) {
    let me = std::process::id();
    let stale = |name: &str, prefix: &str| {
        owner_pid(name, prefix).is_some_and(|p| p != me && !pid_alive(p))
    };
    let mut stale_cgroups: Vec<PathBuf> = Vec::new();
    for h in hierarchies {
        let Ok(entries) = fs::read_dir(h.dir.join(CGROUP_PARENT)) else {
            continue;
        };
        for entry in entries.flatten() {
            if stale(&entry.file_name().to_string_lossy(), NAME_PREFIX) {
                stale_cgroups.push(entry.path());
            }
        }
    }
    if !stale_cgroups.is_empty() {
        eprintln!("removing containers left behind by dead test processes: {stale_cgroups:?}");
        if let Err(e) = destroy_cgroups(&stale_cgroups, STOP_TIMEOUT) {
            eprintln!("warning: {e}");
        }
    }
    let prefix = format!("mpz-test-{TEMP_TAG}-");
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let path = entry.path();
            if stale(&entry.file_name().to_string_lossy(), &prefix)
                && path.is_dir()
                && mounts_below(&path).is_empty()
            {
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
}

/// Start the watcher of a container (see `WATCH_SCRIPT`): in its own
/// process group, so a Ctrl-C aimed at the tests does not stop it.
pub(super) fn spawn_watcher(dir: &Path, cgroups: &[PathBuf]) -> (Child, File) {
    assert!(dir.is_absolute() && dir.starts_with(std::env::temp_dir()));
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2(2) fills two descriptors; close-on-exec keeps the write
    // end out of every other child (only the test process holds it).
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (read_end, write_end) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            File::from_raw_fd(fds[1]),
        )
    };
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(WATCH_SCRIPT)
        .arg("mpz-watch")
        .arg(dir)
        .args(cgroups)
        .stdin(Stdio::from(read_end))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the container watcher: {e}"));
    // `cmd` (and with it our copy of the read end) is dropped here.
    (child, write_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pids() {
        assert_eq!(owner_pid("mpz-123-4", NAME_PREFIX), Some(123));
        assert_eq!(
            owner_pid("mpz-test-systemd-77-0", "mpz-test-systemd-"),
            Some(77)
        );
        assert_eq!(owner_pid("other-1-2", NAME_PREFIX), None);
    }
}
