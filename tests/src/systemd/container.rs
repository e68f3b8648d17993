//! [`SystemdContainer`]: booting systemd as PID 1 with `systemd-nspawn`
//! over an overlay of the cached root filesystem, waiting until it runs,
//! and powering it off and removing everything on drop (see the module
//! documentation of [`super`]).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::cgroups::{CGROUP_PARENT, destroy_cgroups, hierarchies, kill_cgroup};
use super::commands::EXEC_TIMEOUT;
use super::leftovers::{spawn_watcher, sweep_stale};
use crate::fs::TempDir;
use crate::prereq::{require_program, require_root};
use crate::process::tail;

/// Bound for a container to boot (`is-system-running` = running/degraded).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for a clean shutdown on drop, before everything is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Prefix of machine names: `mpz-PID-N` (PID of the test process).
pub(super) const NAME_PREFIX: &str = "mpz-";
/// Tag of the containers' temporary directories (`mpz-test-systemd-PID-N`).
pub(super) const TEMP_TAG: &str = "systemd";

/// Runs as `sh -c` in a fresh private mount namespace (`unshare --mount`),
/// then becomes systemd-nspawn: join the container's cgroups, give nspawn a
/// private `/run/systemd/nspawn`, mount the overlay.
/// Arguments: LOWER DIR CGROUP_DIR... -- NSPAWN ARGS...
const BOOT_SCRIPT: &str = r#"set -eu
lower=$1 dir=$2
shift 2
while [ "$1" != -- ]; do
    echo $$ > "$1/cgroup.procs"
    shift
done
shift
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755,size=16m mpz-nspawn-run /run/systemd/nspawn
mount -t overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" mpz-overlay "$dir/root"
exec "$@"
"#;

static NAME_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A systemd booted as PID 1 in a throwaway container. Dropping it powers
/// the container off (bounded, then kills it), which also removes the
/// overlay, the cgroups and the temporary directory. See the module docs.
pub struct SystemdContainer {
    pub(super) name: String,
    /// `upper/`, `work/`, `root/` (overlay mount point, in nspawn's private
    /// mount namespace only) and `console.log`.
    dir: TempDir,
    /// Our cgroup in each hierarchy (`.../mptcpize-rs-tests/NAME`).
    cgroups: Vec<PathBuf>,
    nspawn: Option<Child>,
    /// Cleans up if the test process dies without dropping the guard (see
    /// `WATCH_SCRIPT`), with the write end of its stdin pipe.
    watcher: Option<(Child, File)>,
    /// Host PID of the container's systemd (PID 1 inside).
    pub(super) init_pid: u32,
    boot_time: Duration,
}

impl SystemdContainer {
    /// Boot a container (building the cached root filesystem first if
    /// needed) and wait until systemd is up. Panics with the console log if
    /// it does not come up within [`BOOT_TIMEOUT`].
    pub fn boot() -> SystemdContainer {
        Self::boot_suite(super::rootfs::SUITE)
    }

    /// [`SystemdContainer::boot`] over the Debian release `suite`
    /// ([`super::rootfs::SUITE`] or [`super::rootfs::SUITE_SYSTEMD_257`]).
    pub fn boot_suite(suite: &'static str) -> SystemdContainer {
        require_root("systemd-nspawn, overlayfs and cgroups need root");
        let nspawn = require_program("systemd-nspawn");
        for program in ["unshare", "nsenter", "mount"] {
            require_program(program);
        }
        let lower = super::rootfs::rootfs_of(suite);
        let hierarchies = hierarchies();
        assert!(
            !hierarchies.is_empty(),
            "no cgroup2 or name=systemd cgroup hierarchy is mounted; systemd-nspawn needs one"
        );
        sweep_stale(&hierarchies);

        let start = Instant::now();
        let dir = TempDir::new(TEMP_TAG);
        for sub in ["upper", "work", "root"] {
            fs::create_dir(dir.join(sub))
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.join(sub).display()));
        }
        for p in [&lower, dir.path()] {
            let s = p.to_string_lossy();
            assert!(
                !s.contains([',', ':', '\\', '\n']),
                "{s}: overlayfs options cannot name a path with ',', ':' or '\\'"
            );
        }
        let mut container = SystemdContainer {
            name: String::new(),
            dir,
            cgroups: Vec::new(),
            nspawn: None,
            watcher: None,
            init_pid: 0,
            boot_time: Duration::ZERO,
        };
        // A unique machine name with fresh cgroups (a stale directory of a
        // dead process with our PID is skipped).
        'names: for _ in 0..1000 {
            let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{NAME_PREFIX}{}-{n}", std::process::id());
            let mut created = Vec::new();
            for h in &hierarchies {
                let parent = h.dir.join(CGROUP_PARENT);
                fs::create_dir_all(&parent)
                    .unwrap_or_else(|e| panic!("cannot create cgroup {}: {e}", parent.display()));
                let cg = parent.join(&name);
                match fs::create_dir(&cg) {
                    Ok(()) => created.push(cg),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        for c in &created {
                            let _ = fs::remove_dir(c);
                        }
                        continue 'names;
                    }
                    Err(e) => panic!("cannot create cgroup {}: {e}", cg.display()),
                }
            }
            container.name = name;
            container.cgroups = created;
            break;
        }
        assert!(!container.name.is_empty(), "no free container name");

        container.watcher = Some(spawn_watcher(container.dir.path(), &container.cgroups));

        let log_path = container.dir.join("console.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log.try_clone().expect("dup console log");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(BOOT_SCRIPT)
            .arg("mpz-boot")
            .arg(&lower)
            .arg(container.dir.path())
            .args(&container.cgroups)
            .arg("--")
            .arg(&nspawn)
            .args([
                "--quiet",
                "--boot",
                "--private-network",
                "--register=no",
                "--keep-unit",
                "--link-journal=no",
                "--resolv-conf=off",
                "--timezone=off",
                "--settings=no",
                "--console=read-only",
            ])
            .arg(format!("--machine={}", container.name))
            .arg("--directory")
            .arg(container.dir.join("root"))
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("TERM", "dumb")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if hierarchies.iter().any(|h| h.unified) {
            cmd.env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1");
        }
        for var in ["SYSTEMD_LOG_LEVEL", "SYSTEMD_LOG_TARGET"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start systemd-nspawn: {e}"));
        container.nspawn = Some(child);
        container.wait_until_running(start + BOOT_TIMEOUT);
        container.boot_time = start.elapsed();
        container
    }

    /// The machine name (also the container's hostname), `mpz-PID-N`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host PID of the container's systemd (PID 1 inside).
    pub fn init_pid(&self) -> u32 {
        self.init_pid
    }

    /// How long [`boot`](Self::boot) took, after the root filesystem existed.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// systemd-nspawn's output so far: the container's console (boot
    /// messages), for diagnostics.
    pub fn console_log(&self) -> String {
        self.dir.read_text("console.log")
    }

    /// The host PID of nspawn's child that is PID 1 in its PID namespace.
    fn find_init(&self) -> Option<u32> {
        let nspawn = self.nspawn.as_ref()?.id();
        let nspawn_ppid = format!("{nspawn}");
        for entry in fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            let is_child = field("PPid:") == Some(nspawn_ppid.as_str());
            let ns_pids: Vec<&str> = field("NSpid:")
                .map(|v| v.split_whitespace().collect())
                .unwrap_or_default();
            if is_child && ns_pids.len() > 1 && ns_pids.last() == Some(&"1") {
                return Some(pid);
            }
        }
        None
    }

    fn nspawn_exited(&mut self) -> Option<ExitStatus> {
        self.nspawn
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn wait_until_running(&mut self, deadline: Instant) {
        let mut last = String::from("(systemd not started yet)");
        loop {
            if let Some(status) = self.nspawn_exited() {
                panic!(
                    "systemd-nspawn exited ({status}) while booting container {}; console:\n{}",
                    self.name,
                    tail(&self.console_log(), 80)
                );
            }
            if self.init_pid == 0
                && let Some(pid) = self.find_init()
            {
                self.init_pid = pid;
            }
            // Only once the child has exec'd systemd (before that it is
            // still nspawn setting up, with the host's root).
            let comm =
                fs::read_to_string(format!("/proc/{}/comm", self.init_pid)).unwrap_or_default();
            if self.init_pid != 0 && comm.trim() == "systemd" {
                let out = self.exec_timeout(&["systemctl", "is-system-running"], EXEC_TIMEOUT);
                let state = out.stdout.trim().to_string();
                match state.as_str() {
                    "running" => return,
                    "degraded" => {
                        let failed =
                            self.exec(&["systemctl", "--failed", "--no-legend", "--plain"]);
                        eprintln!(
                            "container {} booted degraded; failed units:\n{}",
                            self.name, failed.stdout
                        );
                        return;
                    }
                    _ => last = format!("{state} {}", out.stderr.trim()),
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "container {} did not finish booting within {BOOT_TIMEOUT:?} \
                     (init PID {}, last `systemctl is-system-running`: {last}); console:\n{}",
                    self.name,
                    self.init_pid,
                    tail(&self.console_log(), 80)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Power off (bounded), then kill whatever is left, and remove the
    /// cgroups. Returns what could not be cleaned up.
    fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(mut child) = self.nspawn.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // nspawn asks the container's systemd to shut down.
                // SAFETY: kill(2) on our own unreaped child.
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
                let deadline = Instant::now() + STOP_TIMEOUT;
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(20));
                }
                if matches!(child.try_wait(), Ok(None)) {
                    problems.push(format!(
                        "container {} did not power off within {STOP_TIMEOUT:?}; killed it",
                        self.name
                    ));
                    for cg in &self.cgroups {
                        kill_cgroup(cg);
                    }
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
        }
        if !self.cgroups.is_empty() {
            if let Err(e) = destroy_cgroups(&self.cgroups, STOP_TIMEOUT) {
                problems.push(e);
            }
            self.cgroups.clear();
        }
        self.init_pid = 0;
        if let Some((mut watcher, mut pipe)) = self.watcher.take() {
            // Cleaned up already: tell the watcher to exit without acting.
            let _ = pipe.write_all(b"done\n");
            drop(pipe);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(watcher.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = watcher.kill();
            let _ = watcher.wait();
        }
        problems
    }
}

impl Drop for SystemdContainer {
    fn drop(&mut self) {
        let problems = self.teardown();
        if !problems.is_empty() {
            let msg = format!(
                "cleaning up container {}: {}",
                self.name,
                problems.join("; ")
            );
            if thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
        // Then `dir` (upper, work, console log) is removed: the overlay
        // lived only in the namespaces that died with the container.
    }
}
