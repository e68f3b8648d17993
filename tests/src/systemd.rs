//! A real systemd, booted as PID 1 in a throwaway container.
//!
//! [`SystemdContainer::boot`] starts `systemd-nspawn --boot` over an overlay
//! of a cached Debian root filesystem ([`rootfs`]), in its own PID, mount,
//! UTS, IPC, cgroup and network namespaces, and waits until
//! `systemctl is-system-running` says `running` (or `degraded`). Commands run
//! inside with `nsenter` ([`SystemdContainer::exec`]); files go in with
//! [`SystemdContainer::write`] and [`SystemdContainer::install`].
//!
//! Typical use (as root):
//!
//! ```ignore
//! let c = SystemdContainer::boot();
//! c.install_mptcpize_rs(); // /usr/local/bin/mptcpize-rs + the shim
//! c.write("/etc/systemd/system/web.service", "[Service]\nExecStart=...\n");
//! c.daemon_reload();
//! c.exec_ok(&["mptcpize-rs", "enable", "web.service", "--now"]);
//! c.wait_for_mptcp_listen(8080, LONG);
//! c.restart("web.service");
//! println!("{}", c.ss(&["-ltnM"]));
//! // Dropping `c` powers the container off and removes everything.
//! ```
//!
//! How it is put together (and why):
//! - The root filesystem is made once with `debootstrap --variant=minbase`
//!   and kept in `/var/cache/mptcpize-rs-tests/` (outside the repository,
//!   reused by later runs). It is built in a `build-*` directory and renamed
//!   into place when complete; concurrent builders are serialized with
//!   flock(2). debootstrap runs in private mount and PID namespaces, so an
//!   interrupted build leaves no mounts or processes behind.
//! - Each container gets an overlayfs mount (lower = the cache, upper/work in
//!   a fresh temporary directory): the cache is never modified. The overlay
//!   is mounted in a private mount namespace that only `systemd-nspawn` and
//!   the container live in, so the host's mount table never shows it, and
//!   the kernel drops it when the last of them exits (even after SIGKILL).
//!   The same namespace gets its own tmpfs on `/run/systemd/nspawn`, where
//!   nspawn keeps per-machine state that it would otherwise leave on the
//!   host when `/run` is not a tmpfs.
//! - This host has no systemd as PID 1, so nspawn runs with
//!   `--register=no --keep-unit` (no machined, no transient scope: it would
//!   need the system bus otherwise). With `--keep-unit` nspawn creates its
//!   `payload`/`supervisor` cgroups below its own cgroup, so every container
//!   is first moved to its own cgroup (`mptcpize-rs-tests/NAME` in each
//!   hierarchy nspawn uses); without that, parallel containers would share
//!   `/payload`. The same cgroup lets the guard kill everything on drop.
//! - The container gets the unified (cgroup v2) hierarchy
//!   (`SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1`) even on a hybrid host: systemd
//!   boots cleanly, but without cgroup controllers (they are bound to v1
//!   on such hosts), so resource limits (`MemoryMax=`...) have no effect.
//! - The container never sees the host's `/`, so its `systemd-tmpfiles`
//!   cleans only the overlay's `/tmp`, never the host's.
//! - Commands run with `nsenter --all --root --wd` (the container's
//!   namespaces and root, a clean environment); they stay in the host's
//!   cgroup and die with the container's PID namespace.
//! - Cleanup: dropping the guard sends SIGTERM to nspawn (the container
//!   shuts down, bounded by [`STOP_TIMEOUT`]), then kills whatever is left
//!   in its cgroups and removes them and the temporary directory. If the
//!   test process dies without dropping it (SIGKILL, abort), a watcher
//!   process per container (reading a pipe only the test process can write)
//!   sees EOF and does the same; anything that escapes even that is swept
//!   by the next [`SystemdContainer::boot`] (names carry the owner's PID).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::fs::{TempDir, fnv64};
use crate::prereq::{require_program, require_root};
use crate::process::{ChildGuard, CmdOutput, run_timeout};
use crate::workspace::{launcher, shim};

/// Where cached root filesystems live (override: `MPTCPIZE_RS_TESTS_CACHE`).
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/mptcpize-rs-tests";
/// The Debian release of the container (matches the host's glibc 2.36, so
/// host-built binaries run inside).
pub const SUITE: &str = "bookworm";
/// Packages added to the minimal base system.
pub const INCLUDE: &str = "systemd,systemd-sysv,dbus,iproute2,python3";
/// Used when the host's apt sources name no usable Debian mirror
/// (override: `MPTCPIZE_RS_TESTS_MIRROR`).
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Bump when the preparation of the root filesystem changes: a new cache
/// directory is then built.
const RECIPE_VERSION: u32 = 1;

/// Bound for building the root filesystem with debootstrap.
pub const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Bound for a container to boot (`is-system-running` = running/degraded).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for a clean shutdown on drop, before everything is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Default bound for commands run inside.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Where [`SystemdContainer::install_mptcpize_rs`] puts the launcher.
pub const CONTAINER_LAUNCHER: &str = "/usr/local/bin/mptcpize-rs";
/// Where [`SystemdContainer::install_mptcpize_rs`] puts the shim (the
/// launcher's default library directory).
pub const CONTAINER_SHIM: &str = "/usr/local/lib/mptcpize-rs/libmptcpize_preload.so";

/// Environment of commands run inside (nothing leaks from the test process).
const CONTAINER_ENV: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/root"),
    ("LANG", "C.UTF-8"),
    ("TERM", "dumb"),
];

/// Parent cgroup (in each hierarchy) of the containers' cgroups.
const CGROUP_PARENT: &str = "mptcpize-rs-tests";
/// Prefix of machine names: `mpz-PID-N` (PID of the test process).
const NAME_PREFIX: &str = "mpz-";
/// Tag of the containers' temporary directories (`mpz-test-systemd-PID-N`).
const TEMP_TAG: &str = "systemd";

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

/// Runs as `sh -c` inside: write stdin to $1 atomically with mode $2.
const WRITE_SCRIPT: &str = r#"set -eu
mkdir -p -- "$(dirname -- "$1")"
tmp="$1.mpz-tmp.$$"
cat > "$tmp"
chmod "$2" "$tmp"
mv -f -- "$tmp" "$1"
"#;

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

static NAME_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The cached Debian root filesystem, built on first use (see the module
/// documentation). Panics (with debootstrap's output) if it cannot be built.
pub fn rootfs() -> PathBuf {
    static ROOTFS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match ROOTFS.get_or_init(build_or_reuse_rootfs) {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("MPTCPIZE_RS_TESTS_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_CACHE_DIR),
    }
}

/// The Debian mirror: `$MPTCPIZE_RS_TESTS_MIRROR`, else the host's apt
/// sources, else [`DEFAULT_MIRROR`].
pub fn debian_mirror() -> String {
    if let Ok(m) = std::env::var("MPTCPIZE_RS_TESTS_MIRROR")
        && !m.is_empty()
    {
        return m;
    }
    let mut texts = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        texts.extend(paths.iter().filter_map(|p| fs::read_to_string(p).ok()));
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(text);
    }
    texts
        .iter()
        .find_map(|t| mirror_from_sources(t))
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

/// The first plain Debian archive URI (http/https, not the security
/// archive) in apt sources text, deb822 (`URIs:`) or one-line (`deb URI`).
fn mirror_from_sources(text: &str) -> Option<String> {
    let usable = |uri: &str| {
        (uri.starts_with("http://") || uri.starts_with("https://"))
            && !uri.contains("security")
            && uri.trim_end_matches('/').ends_with("/debian")
    };
    // deb822: stanzas separated by blank lines.
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        if field("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            continue;
        }
        let Some(types) = field("Types") else {
            continue;
        };
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if let Some(uri) = field("URIs").and_then(|u| u.split_whitespace().find(|u| usable(u))) {
            return Some(uri.trim_end_matches('/').to_string());
        }
    }
    // One-line format: deb [options] URI suite components...
    text.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("deb ")?.trim_start();
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once(']')?.1,
            None => rest,
        };
        let uri = rest.split_whitespace().next()?;
        usable(uri).then(|| uri.trim_end_matches('/').to_string())
    })
}

fn build_or_reuse_rootfs() -> Result<PathBuf, String> {
    require_root("debootstrap and systemd-nspawn need root");
    let cache = cache_dir();
    let recipe = format!("{SUITE} minbase {INCLUDE} v{RECIPE_VERSION}");
    let name = format!("rootfs-{SUITE}-{:016x}", fnv64(recipe.as_bytes()));
    let final_dir = cache.join(&name);
    let complete = |dir: &Path| dir.join("usr/lib/systemd/systemd").is_file();
    // Renamed into place only when complete: no lock needed to reuse it.
    if complete(&final_dir) {
        return Ok(final_dir);
    }
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let lock_path = cache.join("rootfs.lock");
    let _lock = FileLock::acquire(&lock_path, DEBOOTSTRAP_TIMEOUT + Duration::from_secs(300))?;
    if complete(&final_dir) {
        return Ok(final_dir);
    }
    if final_dir.exists() {
        return Err(format!(
            "{} exists but has no usr/lib/systemd/systemd; remove it to rebuild",
            final_dir.display()
        ));
    }
    let debootstrap = require_program("debootstrap");
    require_program("unshare");
    // Leftovers of interrupted builds (we hold the lock: nobody builds now).
    for entry in fs::read_dir(&cache).map_err(|e| format!("{}: {e}", cache.display()))? {
        let Ok(entry) = entry else { continue };
        if entry.file_name().to_string_lossy().starts_with("build-") {
            let path = entry.path();
            unmount_below(&path);
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
    let build = cache.join(format!("build-{name}-{}", std::process::id()));
    let log_path = cache.join(format!("build-{name}-{}.log", std::process::id()));
    let mirror = debian_mirror();
    eprintln!(
        "building the Debian {SUITE} root filesystem for systemd containers in {} \
         (from {mirror}; once, bounded by {DEBOOTSTRAP_TIMEOUT:?}) ...",
        final_dir.display()
    );
    let start = Instant::now();
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("unshare");
    // Private mount and PID namespaces: debootstrap's mounts (proc, sys in
    // the target) and processes vanish when it exits or is killed.
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--",
    ])
    .arg(&debootstrap)
    .arg("--variant=minbase")
    .arg(format!("--include={INCLUDE}"))
    .arg(SUITE)
    .arg(&build)
    .arg(&mirror)
    .env("DEBIAN_FRONTEND", "noninteractive")
    .env("LC_ALL", "C")
    .stdin(Stdio::null())
    .stdout(log)
    .stderr(log_err)
    .process_group(0);
    // If the test process dies (SIGKILL, Ctrl-C: the build is in its own
    // process group), unshare dies too, and with it (--kill-child) the
    // whole PID namespace. The spawning thread waits for the build below,
    // so the thread-bound death signal cannot fire early.
    // SAFETY: getpid(2) has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: only async-signal-safe calls (prctl, getppid) in the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let what = crate::process::describe(&cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{what}`: {e}"))?;
    let status = wait_group(&mut child, DEBOOTSTRAP_TIMEOUT);
    let failure = match status {
        Some(s) if s.success() => None,
        Some(s) => Some(format!("`{what}` failed ({s})")),
        None => Some(format!(
            "`{what}` did not finish within {DEBOOTSTRAP_TIMEOUT:?}; killed it"
        )),
    };
    if let Some(failure) = failure {
        let output = tail(&fs::read_to_string(&log_path).unwrap_or_default(), 60);
        let inner = tail(
            &fs::read_to_string(build.join("debootstrap/debootstrap.log")).unwrap_or_default(),
            40,
        );
        unmount_below(&build);
        let _ = fs::remove_dir_all(&build);
        return Err(format!(
            "cannot build the container root filesystem: {failure}\n\
             --- debootstrap output (tail; all of it in {}) ---\n{output}\n\
             --- debootstrap.log (tail) ---\n{inner}",
            log_path.display()
        ));
    }
    prepare_rootfs(&build).map_err(|e| format!("preparing {}: {e}", build.display()))?;
    if !complete(&build) {
        return Err(format!(
            "debootstrap succeeded but {}/usr/lib/systemd/systemd is missing",
            build.display()
        ));
    }
    fs::rename(&build, &final_dir).map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            build.display(),
            final_dir.display()
        )
    })?;
    let _ = fs::remove_file(&log_path);
    eprintln!(
        "built {} in {:.1} s",
        final_dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(final_dir)
}

/// Make the fresh debootstrap tree a good container image.
fn prepare_rootfs(root: &Path) -> io::Result<()> {
    // Empty machine-id: every boot gets its own transient ID, and it is not
    // a "first boot" (no systemd-firstboot prompts). debootstrap left a
    // fixed ID that all containers would share.
    fs::write(root.join("etc/machine-id"), "")?;
    let dbus_id = root.join("var/lib/dbus/machine-id");
    if dbus_id.symlink_metadata().is_ok() {
        fs::remove_file(&dbus_id)?;
    }
    if dbus_id.parent().is_some_and(Path::is_dir) {
        std::os::unix::fs::symlink("/etc/machine-id", &dbus_id)?;
    }
    // debootstrap copied the host's hostname; without the file the
    // container keeps the one nspawn sets, its machine name.
    match fs::remove_file(root.join("etc/hostname")) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    // Downloaded packages are not needed any more.
    if let Ok(entries) = fs::read_dir(root.join("var/cache/apt/archives")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".deb") {
                fs::remove_file(entry.path())?;
            }
        }
    }
    fs::write(
        root.join("etc/mptcpize-rs-tests-rootfs"),
        format!("{SUITE} minbase include={INCLUDE} recipe=v{RECIPE_VERSION}\n"),
    )
}

/// Wait for `child` (leader of its own process group) at most `timeout`;
/// on timeout kill the whole group and return `None`.
fn wait_group(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            // SAFETY: killpg(2) on the group the child leads (process_group(0)).
            unsafe {
                libc::killpg(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An exclusive flock(2) on a file, released on drop.
struct FileLock {
    file: File,
}

impl FileLock {
    /// Poll for the lock (LOCK_NB) up to `timeout`.
    fn acquire(path: &Path, timeout: Duration) -> Result<FileLock, String> {
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

/// Mount points of the current mount namespace at or below `dir`, deepest first.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

fn unmount_below(dir: &Path) {
    for mount_point in mounts_below(dir) {
        let Ok(c) = std::ffi::CString::new(mount_point.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: umount2(2) with a valid C string.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Undo mountinfo's octal escapes (`\040` for a space...).
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cgroup hierarchy nspawn uses: where it is mounted and our cgroup in it.
#[derive(Debug, Clone)]
struct Hierarchy {
    /// `/sys/fs/cgroup/unified`, `/sys/fs/cgroup/systemd` or `/sys/fs/cgroup`.
    dir: PathBuf,
    unified: bool,
}

/// The cgroup2 hierarchy and the named `systemd` v1 hierarchy (if mounted),
/// each as the directory of this process's own cgroup.
fn hierarchies() -> Vec<Hierarchy> {
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
fn kill_cgroup(dir: &Path) {
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
fn destroy_cgroups(dirs: &[PathBuf], timeout: Duration) -> Result<(), String> {
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
fn sweep_stale(hierarchies: &[Hierarchy]) {
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

/// A systemd booted as PID 1 in a throwaway container. Dropping it powers
/// the container off (bounded, then kills it), which also removes the
/// overlay, the cgroups and the temporary directory. See the module docs.
pub struct SystemdContainer {
    name: String,
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
    init_pid: u32,
    boot_time: Duration,
}

impl SystemdContainer {
    /// Boot a container (building the cached root filesystem first if
    /// needed) and wait until systemd is up. Panics with the console log if
    /// it does not come up within [`BOOT_TIMEOUT`].
    pub fn boot() -> SystemdContainer {
        require_root("systemd-nspawn, overlayfs and cgroups need root");
        let nspawn = require_program("systemd-nspawn");
        for program in ["unshare", "nsenter", "mount"] {
            require_program(program);
        }
        let lower = rootfs();
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

    /// `nsenter` into all the container's namespaces and its root, with a
    /// clean environment; add arguments and stdio as needed. `argv[0]` is
    /// looked up on the container's PATH.
    pub fn command(&self, argv: &[&str]) -> Command {
        assert!(!argv.is_empty(), "empty command");
        assert!(self.init_pid != 0, "container {} is not running", self.name);
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.init_pid.to_string())
            .args(["--all", "--root", "--wd", "--"])
            .args(argv)
            .env_clear()
            .envs(CONTAINER_ENV.iter().copied());
        cmd
    }

    /// Run `argv` inside (bounded by [`EXEC_TIMEOUT`]); status not checked.
    pub fn exec(&self, argv: &[&str]) -> CmdOutput {
        self.exec_timeout(argv, EXEC_TIMEOUT)
    }

    /// Run `argv` inside, waiting at most `timeout`; status not checked.
    pub fn exec_timeout(&self, argv: &[&str], timeout: Duration) -> CmdOutput {
        run_timeout(&mut self.command(argv), timeout)
    }

    /// Run `argv` inside and panic (showing its output) unless it succeeds.
    pub fn exec_ok(&self, argv: &[&str]) -> CmdOutput {
        let out = self.exec(argv);
        out.success();
        out
    }

    /// Run a shell script inside (`sh -c SCRIPT`); status not checked.
    pub fn sh(&self, script: &str) -> CmdOutput {
        self.exec(&["sh", "-c", script])
    }

    /// Write `contents` to `path` inside (mode 0644), creating parent
    /// directories. The file is replaced atomically (rename).
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        self.write_mode(path, contents, 0o644);
    }

    /// Write `contents` to `path` inside with permission bits `mode`.
    pub fn write_mode(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) {
        assert!(path.starts_with('/'), "{path}: need an absolute path");
        let mode = format!("{mode:o}");
        let mut cmd = self.command(&["sh", "-c", WRITE_SCRIPT, "mpz-write", path, &mode]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(&mut cmd);
        let mut stdin = child.stdin.take().expect("piped stdin");
        let data = contents.as_ref().to_vec();
        let writer = thread::spawn(move || stdin.write_all(&data));
        let out = child.output_timeout(EXEC_TIMEOUT);
        let written = writer.join().expect("writer thread");
        assert!(
            out.status.success() && written.is_ok(),
            "cannot write {path} in container {} ({written:?}):\n{out}",
            self.name
        );
    }

    /// Copy the host file `host_path` to `path` inside, with mode `mode`.
    pub fn install(&self, host_path: impl AsRef<Path>, path: &str, mode: u32) {
        let host_path = host_path.as_ref();
        let data =
            fs::read(host_path).unwrap_or_else(|e| panic!("read {}: {e}", host_path.display()));
        self.write_mode(path, data, mode);
    }

    /// Install the workspace's (debug) launcher and shim at
    /// [`CONTAINER_LAUNCHER`] and [`CONTAINER_SHIM`] (building them first
    /// if needed).
    pub fn install_mptcpize_rs(&self) {
        self.install(launcher(), CONTAINER_LAUNCHER, 0o755);
        self.install(shim(), CONTAINER_SHIM, 0o644);
    }

    /// The contents of `path` inside; panics if it cannot be read.
    pub fn read(&self, path: &str) -> String {
        self.exec_ok(&["cat", "--", path]).stdout
    }

    /// Whether `path` exists inside.
    pub fn exists(&self, path: &str) -> bool {
        self.exec(&["test", "-e", path]).status.success()
    }

    /// `systemctl ARGS...` inside; status not checked.
    pub fn systemctl(&self, args: &[&str]) -> CmdOutput {
        let mut argv = vec!["systemctl"];
        argv.extend_from_slice(args);
        self.exec(&argv)
    }

    /// `systemctl daemon-reload`; panics on failure.
    pub fn daemon_reload(&self) {
        self.systemctl(&["daemon-reload"]).success();
    }

    /// `systemctl start UNIT`; panics with the unit's status and journal on failure.
    pub fn start(&self, unit: &str) {
        self.unit_action("start", unit);
    }

    /// `systemctl stop UNIT`; panics with the unit's status and journal on failure.
    pub fn stop(&self, unit: &str) {
        self.unit_action("stop", unit);
    }

    /// `systemctl restart UNIT`; panics with the unit's status and journal on failure.
    pub fn restart(&self, unit: &str) {
        self.unit_action("restart", unit);
    }

    fn unit_action(&self, action: &str, unit: &str) {
        let out = self.systemctl(&[action, unit]);
        if !out.status.success() {
            panic!(
                "systemctl {action} {unit} failed in container {}:\n{out}\n{}",
                self.name,
                self.unit_report(unit)
            );
        }
    }

    /// One property of a unit (`systemctl show -p NAME --value UNIT`).
    pub fn unit_property(&self, unit: &str, property: &str) -> String {
        let out = self.systemctl(&["show", "-p", property, "--value", unit]);
        out.success();
        out.stdout.trim_end_matches('\n').to_string()
    }

    /// `systemctl status` and the journal of `unit`, for failure messages.
    pub fn unit_report(&self, unit: &str) -> String {
        let status = self.systemctl(&["status", "--no-pager", "--full", unit]);
        format!(
            "--- systemctl status {unit} ---\n{}{}\n--- journal of {unit} ---\n{}",
            status.stdout,
            status.stderr,
            self.journal(unit)
        )
    }

    /// The last 100 journal lines of `unit`.
    pub fn journal(&self, unit: &str) -> String {
        let out = self.exec(&["journalctl", "--no-pager", "-n", "100", "-u", unit]);
        format!("{}{}", out.stdout, out.stderr)
    }

    /// `ss ARGS...` inside; panics on failure, returns stdout.
    pub fn ss(&self, args: &[&str]) -> String {
        let mut argv = vec!["ss"];
        argv.extend_from_slice(args);
        self.exec_ok(&argv).stdout
    }

    /// TCP listeners on `port` inside now (`ss -ltnH` lines). Note: an
    /// MPTCP listener also shows here (its TCP subflow listener).
    pub fn tcp_listeners(&self, port: u16) -> Vec<String> {
        listeners_on(&self.ss(&["-ltnH"]), port)
    }

    /// MPTCP listeners on `port` inside now (`ss -lMnH` lines).
    pub fn mptcp_listeners(&self, port: u16) -> Vec<String> {
        listeners_on(&self.ss(&["-lMnH"]), port)
    }

    /// Wait (bounded) until a TCP socket listens on `port` inside
    /// (`ss -ltnH`; an MPTCP listener counts too); returns the matching lines.
    pub fn wait_for_listen(&self, port: u16, timeout: Duration) -> Vec<String> {
        self.wait_for_listener(&["-ltnH"], port, timeout)
    }

    /// Wait (bounded) until an MPTCP socket listens on `port` inside
    /// (`ss -lMnH`); returns the matching lines.
    pub fn wait_for_mptcp_listen(&self, port: u16, timeout: Duration) -> Vec<String> {
        self.wait_for_listener(&["-lMnH"], port, timeout)
    }

    fn wait_for_listener(&self, ss_args: &[&str], port: u16, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.ss(ss_args);
            let found = listeners_on(&out, port);
            if !found.is_empty() {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "nothing listens on port {port} in container {} after {timeout:?}; \
                     `ss {}` shows:\n{out}",
                    self.name,
                    ss_args.join(" ")
                );
            }
            thread::sleep(Duration::from_millis(100));
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

/// Start the watcher of a container (see `WATCH_SCRIPT`): in its own
/// process group, so a Ctrl-C aimed at the tests does not stop it.
fn spawn_watcher(dir: &Path, cgroups: &[PathBuf]) -> (Child, File) {
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

/// Lines of `ss -H` output with a local address ending in `:PORT`.
fn listeners_on(ss_output: &str, port: u16) -> Vec<String> {
    let suffix = format!(":{port}");
    ss_output
        .lines()
        .filter(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // Local address: 4th field, or 5th when a Netid column comes first.
            let local = if fields.first().is_some_and(|f| *f == "LISTEN") {
                fields.get(3)
            } else {
                fields.get(4)
            };
            local.is_some_and(|a| a.ends_with(&suffix))
        })
        .map(str::to_string)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_deb822() {
        let text = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
                    URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n\
                    Suites: bookworm-security\nComponents: main\n";
        assert_eq!(
            mirror_from_sources(text).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let security_only = "Types: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(mirror_from_sources(security_only), None);
        let disabled = "Enabled: no\nTypes: deb\nURIs: http://a.example/debian\n";
        assert_eq!(mirror_from_sources(disabled), None);
    }

    #[test]
    fn mirror_from_one_line() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/x.gpg] http://ftp.fr.debian.org/debian/ \
                    bookworm main\ndeb http://security.debian.org/debian-security bookworm-security main\n";
        assert_eq!(
            mirror_from_sources(text).as_deref(),
            Some("http://ftp.fr.debian.org/debian")
        );
        assert_eq!(mirror_from_sources("deb cdrom:[x]/ bookworm main\n"), None);
    }

    #[test]
    fn ss_listeners() {
        let tcp = "LISTEN 0      5      *:8080 *:*\nLISTEN 0 128 127.0.0.1:80 0.0.0.0:*\n";
        assert_eq!(
            listeners_on(tcp, 8080),
            vec!["LISTEN 0      5      *:8080 *:*"]
        );
        assert_eq!(listeners_on(tcp, 80).len(), 1);
        assert!(listeners_on(tcp, 8).is_empty());
        let both = "tcp   LISTEN 0 5 [::]:8080 [::]:*\nmptcp LISTEN 0 5 0.0.0.0:9000 0.0.0.0:*\n";
        assert_eq!(listeners_on(both, 8080).len(), 1);
        assert_eq!(listeners_on(both, 9000).len(), 1);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b/c"), "/a b/c");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/end\04"), r"/end\04");
    }

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
