//! The cached Debian root filesystem the containers boot from: built once
//! with `debootstrap --variant=minbase` in private mount and PID namespaces,
//! in a `build-*` directory renamed into place when complete (see the
//! module documentation of [`super`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::lock::FileLock;
use super::mounts::unmount_below;
use crate::fs::fnv64;
use crate::prereq::{require_program, require_root};
use crate::process::tail;

/// Where cached root filesystems live (override: `MPTCPIZE_RS_TESTS_CACHE`).
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/mptcpize-rs-tests";
/// The Debian release of the container (matches the host's glibc 2.36, so
/// host-built binaries run inside; systemd 252).
pub const SUITE: &str = "bookworm";
/// Debian 13, with systemd 257 (the first with `SocketProtocol=mptcp`);
/// its glibc is newer than the host's, so host-built binaries run there too.
pub const SUITE_SYSTEMD_257: &str = "trixie";
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

/// The cached Debian root filesystem, built on first use (see the module
/// documentation). Panics (with debootstrap's output) if it cannot be built.
pub fn rootfs() -> PathBuf {
    rootfs_of(SUITE)
}

/// The cached root filesystem of the Debian release `suite` ([`SUITE`] or
/// [`SUITE_SYSTEMD_257`]), built on first use like [`rootfs()`]'s.
pub fn rootfs_of(suite: &'static str) -> PathBuf {
    static ROOTFS: OnceLock<Mutex<BTreeMap<&'static str, Result<PathBuf, String>>>> =
        OnceLock::new();
    let mut built = ROOTFS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match built
        .entry(suite)
        .or_insert_with(|| build_or_reuse_rootfs(suite))
    {
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

fn build_or_reuse_rootfs(suite: &str) -> Result<PathBuf, String> {
    require_root("debootstrap and systemd-nspawn need root");
    let cache = cache_dir();
    let recipe = format!("{suite} minbase {INCLUDE} v{RECIPE_VERSION}");
    let name = format!("rootfs-{suite}-{:016x}", fnv64(recipe.as_bytes()));
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
        "building the Debian {suite} root filesystem for systemd containers in {} \
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
    .arg(suite)
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
    prepare_rootfs(&build, suite).map_err(|e| format!("preparing {}: {e}", build.display()))?;
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
fn prepare_rootfs(root: &Path, suite: &str) -> io::Result<()> {
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
        format!("{suite} minbase include={INCLUDE} recipe=v{RECIPE_VERSION}\n"),
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
}
