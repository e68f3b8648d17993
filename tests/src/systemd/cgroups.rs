//! The containers' cgroups: which hierarchies nspawn uses, and killing and
//! removing a container's cgroups (bounded).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::mounts::unescape_mountinfo;

/// Parent cgroup (in each hierarchy) of the containers' cgroups.
pub(super) const CGROUP_PARENT: &str = "mptcpize-rs-tests";

/// A cgroup hierarchy nspawn uses: where it is mounted and our cgroup in it.
#[derive(Debug, Clone)]
pub(super) struct Hierarchy {
    /// `/sys/fs/cgroup/unified`, `/sys/fs/cgroup/systemd` or `/sys/fs/cgroup`.
    pub(super) dir: PathBuf,
    pub(super) unified: bool,
}

/// The cgroup2 hierarchy and the named `systemd` v1 hierarchy (if mounted),
/// each as the directory of this process's own cgroup.
pub(super) fn hierarchies() -> Vec<Hierarchy> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own_path = |pred: &dyn Fn(&str) -> bool| {
        own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            pred(controllers).then(|| path.to_string())
        })
    };
    let mut found = Vec::new();
    let mut seen_unified = false;
    let mut seen_named = false;
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let (root, mount_point, fstype, super_opts) = (pre[3], pre[4], post[0], post[2]);
        let (unified, path) = if fstype == "cgroup2" && !seen_unified {
            seen_unified = true;
            (true, own_path(&|c| c.is_empty()))
        } else if fstype == "cgroup"
            && !seen_named
            && super_opts.split(',').any(|o| o == "name=systemd")
        {
            seen_named = true;
            (
                false,
                own_path(&|c| c.split(',').any(|o| o == "name=systemd")),
            )
        } else {
            continue;
        };
        let Some(path) = path else { continue };
        // Our cgroup relative to the mounted subtree.
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .trim_start_matches('/');
        let mut dir = PathBuf::from(unescape_mountinfo(mount_point));
        if !relative.is_empty() {
            dir.push(relative);
        }
        found.push(Hierarchy { dir, unified });
    }
    found
}

/// PIDs in the cgroup `dir` and all its descendants.
fn cgroup_pids(dir: &Path) -> Vec<libc::pid_t> {
    let mut pids: Vec<libc::pid_t> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pids.extend(cgroup_pids(&entry.path()));
            }
        }
    }
    pids
}

/// SIGKILL everything in cgroup `dir` (and below).
pub(super) fn kill_cgroup(dir: &Path) {
    let kill_file = dir.join("cgroup.kill");
    if kill_file.exists() {
        let _ = fs::write(&kill_file, "1");
    }
    for pid in cgroup_pids(dir) {
        // SAFETY: kill(2) with a PID read from our own cgroup.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Remove cgroup `dir` and its descendants (deepest first).
fn remove_cgroup(dir: &Path) -> io::Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path())?;
            }
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Kill and remove cgroups `dirs` (bounded); describe what failed.
pub(super) fn destroy_cgroups(dirs: &[PathBuf], timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let pids: Vec<libc::pid_t> = dirs.iter().flat_map(|d| cgroup_pids(d)).collect();
        if pids.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "processes {pids:?} in {dirs:?} survived SIGKILL for {timeout:?}"
            ));
        }
        for d in dirs {
            kill_cgroup(d);
        }
        thread::sleep(Duration::from_millis(20));
    }
    loop {
        let failed: Vec<String> = dirs
            .iter()
            .filter_map(|d| {
                remove_cgroup(d)
                    .err()
                    .map(|e| format!("{}: {e}", d.display()))
            })
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("cannot remove cgroups: {}", failed.join("; ")));
        }
        thread::sleep(Duration::from_millis(20));
    }
}
