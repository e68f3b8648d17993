//! The drop-in `enable` writes: its content (pure) and the file operations
//! (atomic write, exact removal), done on directory descriptors resolved
//! inside the tree ([`crate::systemd::in_root`]), never through a linked drop-in
//! directory.
//!
//! Named `zz-mptcpize-rs.conf` so it sorts after every other drop-in,
//! `override.conf` from `systemctl edit` included: systemd applies drop-ins
//! in file-name order and the last assignment of a variable wins, so ours
//! must come last to carry the merged `LD_PRELOAD` and `GODEBUG`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::engine::EngineOption;
use crate::engine::preload::environment::{GODEBUG, LD_PRELOAD, merge_godebug, merge_ld_preload};
use crate::failure::Failure;
use crate::rules::RULES_VAR;
use crate::systemd::in_root::{self, Tree};
use crate::systemd::unit_env::{ServiceEnvironment, quoted_assignment};
use crate::systemd::unit_name::UnitName;
use crate::terminal::printable;

pub const FILE_NAME: &str = "zz-mptcpize-rs.conf";

/// The drop-in for `unit`: `LD_PRELOAD` gets the shim appended to what the
/// unit already preloads, `GODEBUG` gets `multipathtcp=1` merged into the
/// unit's Go settings, and `rules` (canonical text, `None` for the
/// defaults) goes into `MPTCPIZE_RS_RULES`. `undo` is the command that
/// removes it. Fails only for a shim path systemd cannot carry
/// ([`shim_entry`]).
pub fn render(
    unit: &UnitName,
    env: &ServiceEnvironment,
    shim: &Path,
    rules: Option<&str>,
    undo: &str,
    asked: EngineOption,
) -> Result<String, Failure> {
    let shim = shim_entry(shim)?;
    let ld_preload = merge_ld_preload(env.get(LD_PRELOAD).map(AsRef::as_ref), Path::new(&shim));
    let godebug = merge_godebug(env.get(GODEBUG).map(AsRef::as_ref));
    let engine = engine_words(asked);
    let mut text = format!(
        "# Written by `mptcpize-rs enable {engine}{unit}`: the service's TCP sockets become\n\
         # Multipath TCP. Undo with `{undo}`.\n\
         [Service]\n\
         Environment={}\n\
         Environment={}\n",
        quoted_assignment(LD_PRELOAD, &ld_preload.to_string_lossy()),
        quoted_assignment(GODEBUG, &godebug.to_string_lossy()),
    );
    if let Some(rules) = rules {
        text.push_str(&format!(
            "Environment={}\n",
            quoted_assignment(RULES_VAR, rules)
        ));
    }
    Ok(text)
}

/// The drop-in for the seccomp engine: an empty `ExecStart=` that drops
/// the unit's own lines, then `lines`, the unit's lines wrapped in
/// `launcher run --keep-pid` ([`crate::systemd::service_engine::render`]),
/// and `rules` (canonical text) in `MPTCPIZE_RS_RULES`, which `run` reads
/// when no rule option is given (as the shim would, should `run` fall back
/// to it). Nothing else changes: the program keeps systemd's main PID.
pub fn render_seccomp(
    unit: &UnitName,
    lines: &[String],
    rules: Option<&str>,
    undo: &str,
    asked: EngineOption,
) -> String {
    let engine = engine_words(asked);
    let mut text = format!(
        "# Written by `mptcpize-rs enable {engine}{unit}`: the service's TCP sockets become\n\
         # Multipath TCP through the seccomp engine, its ExecStart= lines run by\n\
         # `mptcpize-rs run --keep-pid` (the program keeps its PID). Undo with `{undo}`.\n\
         [Service]\n\
         ExecStart=\n"
    );
    for line in lines {
        text += &format!("ExecStart={line}\n");
    }
    if let Some(rules) = rules {
        text += &format!("Environment={}\n", quoted_assignment(RULES_VAR, rules));
    }
    text
}

/// `--engine E ` as `enable` was asked, for the first line of the drop-in
/// (empty for the default, `auto`); read back by [`asked_engine_of`].
fn engine_words(asked: EngineOption) -> &'static str {
    match asked {
        EngineOption::Auto => "",
        EngineOption::Preload => "--engine preload ",
        EngineOption::Seccomp => "--engine seccomp ",
    }
}

/// The `--engine` a drop-in written by [`render`] or [`render_seccomp`]
/// was asked for (from its first line): `status` renders it again with it.
pub fn asked_engine_of(dropin: &str) -> EngineOption {
    let first = dropin.lines().next().unwrap_or_default();
    [EngineOption::Preload, EngineOption::Seccomp]
        .into_iter()
        .find(|&engine| first.contains(&format!("enable {}", engine_words(engine))))
        .unwrap_or(EngineOption::Auto)
}

/// Whether a drop-in runs the service through the seccomp engine (it
/// replaces `ExecStart=`).
pub fn is_seccomp(dropin: &str) -> bool {
    let mut env = ServiceEnvironment::default();
    env.apply(dropin);
    !env.exec_start.is_empty()
}

/// The shim's path as written in `LD_PRELOAD=`: systemd expands specifiers
/// in `Environment=` values, so each `%` is written `%%` (the unit's own
/// values keep theirs as written: they meant them). A path that is not
/// UTF-8 is refused: systemd ignores such an assignment, and rewriting it
/// would name another file.
pub fn shim_entry(shim: &Path) -> Result<String, Failure> {
    let Some(text) = shim.to_str() else {
        return Err(Failure::new(format!(
            "the shim's path {} is not valid UTF-8, which systemd cannot carry in \
             Environment= (it ignores such a value); install the shim at a UTF-8 path, \
             or point {} at one",
            printable(&shim.to_string_lossy()),
            crate::engine::preload::shim::OVERRIDE_VAR
        )));
    };
    Ok(text.replace('%', "%%"))
}

/// The rules a drop-in written by [`render`] carries (canonical text).
pub fn rules_of(dropin: &str) -> Option<String> {
    let mut env = ServiceEnvironment::default();
    env.apply(dropin);
    env.get(RULES_VAR).map(str::to_owned)
}

/// Where the drop-in goes: `dir_name` (`web.service.d`) in `config_dir`
/// (`/etc/systemd/system`, as seen inside `tree`).
pub struct Location<'a> {
    pub tree: &'a Tree,
    pub config_dir: PathBuf,
    pub dir_name: String,
}

impl Location<'_> {
    /// The drop-in file, spelled for messages (escaped: the tree may be an
    /// untrusted image).
    pub fn shown(&self) -> String {
        printable(&self.display().to_string_lossy())
    }

    /// The drop-in directory, spelled for messages.
    pub fn dir_display(&self) -> PathBuf {
        self.tree.display(&self.config_dir.join(&self.dir_name))
    }

    /// The drop-in file, spelled for messages.
    pub fn display(&self) -> PathBuf {
        self.dir_display().join(FILE_NAME)
    }

    /// The configuration directory (resolved inside the tree, created if
    /// `create`) and in it the drop-in directory, never through a link:
    /// `None` when either is missing (and not created).
    fn open(&self, create: bool) -> io::Result<Option<(OwnedFd, OwnedFd)>> {
        let Some(config) = self.tree.open_dir(&self.config_dir, create)? else {
            return Ok(None);
        };
        let name = self.dir_name.as_bytes();
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let dir = match in_root::openat(config.as_fd(), name, flags) {
            Ok(dir) => dir,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                let cname = std::ffi::CString::new(name).map_err(io::Error::other)?;
                // SAFETY: a valid directory descriptor and C string.
                if unsafe { libc::mkdirat(config.as_raw_fd(), cname.as_ptr(), 0o755) } < 0 {
                    let error = io::Error::last_os_error();
                    if error.raw_os_error() != Some(libc::EEXIST) {
                        return Err(error);
                    }
                }
                in_root::openat(config.as_fd(), name, flags)
                    .map_err(|e| self.explain(&config, e))?
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(self.explain(&config, e)),
        };
        Ok(Some((config, dir)))
    }

    /// A drop-in directory that is a symbolic link is refused, whatever it
    /// points to: in an image it may point at the host's directories.
    fn explain(&self, config: &OwnedFd, error: io::Error) -> io::Error {
        let name = self.dir_name.as_bytes();
        if !matches!(error.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) {
            return error;
        }
        match in_root::lstatat(config.as_fd(), name) {
            Ok(meta) if meta.is_symlink() => {
                let target = in_root::readlinkat(config.as_fd(), name).unwrap_or_default();
                io::Error::other(format!(
                    "the drop-in directory {} is a symbolic link (to {}); mptcpize-rs \
                     does not write, read or remove through a linked drop-in directory, \
                     which could lead out of the tree; make it a real directory",
                    printable(&self.dir_display().to_string_lossy()),
                    printable(&String::from_utf8_lossy(&target))
                ))
            }
            Ok(_) => io::Error::other(format!(
                "{} is not a directory",
                printable(&self.dir_display().to_string_lossy())
            )),
            Err(_) => error,
        }
    }

    /// The current drop-in's text, `None` if there is none (a link in its
    /// place counts as none: [`Location::write`] replaces it). Anything
    /// else but a regular file there (a device, a FIFO) is an error saying
    /// so, and is never opened: the name is looked up with `O_PATH`, and
    /// only a regular file is then opened, that same inode
    /// ([`in_root::reopen_regular`]). A drop-in over
    /// [`in_root::MAX_UNIT_FILE_SIZE`] is an error too.
    pub fn read(&self) -> io::Result<Option<String>> {
        let Some((_, dir)) = self.open(false)? else {
            return Ok(None);
        };
        let flags = libc::O_PATH | libc::O_NOFOLLOW;
        let found = match in_root::openat(dir.as_fd(), FILE_NAME.as_bytes(), flags) {
            Ok(found) => found,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = in_root::fstat(found.as_fd())?;
        if meta.is_symlink() {
            return Ok(None);
        }
        let shown = printable(&self.display().to_string_lossy());
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "{shown} is {}, not a regular file; mptcpize-rs never opens one: \
                 remove it (mptcpize-rs disable removes it too)",
                meta.kind()
            )));
        }
        let file = in_root::reopen_regular(found, libc::O_RDONLY | libc::O_NONBLOCK)?;
        let bytes = in_root::read_limited(file, in_root::MAX_UNIT_FILE_SIZE)
            .map_err(|e| in_root::too_large(e, &shown))?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Whether a drop-in (whatever its type) is there.
    pub fn exists(&self) -> io::Result<bool> {
        let Some((_, dir)) = self.open(false)? else {
            return Ok(false);
        };
        match in_root::lstatat(dir.as_fd(), FILE_NAME.as_bytes()) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `content` atomically: a new temporary file (`O_EXCL`,
    /// `O_NOFOLLOW`) in the drop-in directory's descriptor, flushed to
    /// disk, renamed over the drop-in (replacing whatever entry had its
    /// name, a link included, never writing through one), and the directory
    /// synced, so a crash leaves the old file or the new one. Creates the
    /// directories (0755) if needed; the file is 0644.
    pub fn write(&self, content: &str) -> io::Result<()> {
        let (_, dir) = self
            .open(true)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = format!(".{FILE_NAME}.{}.{nanos}.tmp", std::process::id());
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let file = in_root::openat(dir.as_fd(), temp.as_bytes(), flags)?;
        let result = (|| {
            let mut file = File::from(file);
            file.write_all(content.as_bytes())?;
            // The umask may have narrowed the mode given to open().
            file.set_permissions(fs::Permissions::from_mode(0o644))?;
            file.sync_all()?;
            let (from, to) = (cstr(&temp)?, cstr(FILE_NAME)?);
            let fd = dir.as_raw_fd();
            // SAFETY: valid directory descriptor and C strings.
            if unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fd is a valid descriptor.
            if unsafe { libc::fsync(fd) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })();
        if result.is_err()
            && let Ok(name) = cstr(&temp)
        {
            // SAFETY: valid directory descriptor and C string.
            unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
        }
        result
    }

    /// Removes the drop-in and, if that left it empty, its directory.
    /// Returns whether there was a drop-in to remove.
    pub fn remove(&self) -> io::Result<bool> {
        let Some((config, dir)) = self.open(false)? else {
            return Ok(false);
        };
        let name = cstr(FILE_NAME)?;
        // SAFETY: valid directory descriptor and C string.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::ENOENT) {
                return Ok(false);
            }
            return Err(error);
        }
        // SAFETY: as above.
        unsafe { libc::fsync(dir.as_raw_fd()) };
        // Fails, as it should, when other drop-ins are still there (and
        // when the name is no longer a directory).
        let dir_name = cstr(&self.dir_name)?;
        // SAFETY: valid directory descriptor and C string.
        unsafe {
            libc::unlinkat(config.as_raw_fd(), dir_name.as_ptr(), libc::AT_REMOVEDIR);
            libc::fsync(config.as_raw_fd());
        }
        Ok(true)
    }
}

fn cstr(text: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(text).map_err(io::Error::other)
}

/// A failed write, with what to do about it.
/// `path` is the drop-in as [`Location::display`] gives it, printable.
pub fn write_failure(path: &str, error: io::Error) -> Failure {
    let hint = if error.kind() == io::ErrorKind::PermissionDenied {
        "; run it as root (sudo), or use --user for your own services"
    } else {
        ""
    };
    Failure::new(format!("cannot write {path}: {error}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;

    const SHIM: &str = "/usr/lib/mptcpize-rs/libmptcpize_preload.so";

    fn render_with(unit_text: &str, rules: Option<&str>) -> String {
        let mut env = ServiceEnvironment::default();
        env.apply(unit_text);
        let unit = UnitName::parse("web").unwrap();
        let undo = "mptcpize-rs disable web.service";
        render(
            &unit,
            &env,
            Path::new(SHIM),
            rules,
            undo,
            EngineOption::Auto,
        )
        .unwrap()
    }

    fn render_for(unit_text: &str) -> String {
        render_with(unit_text, None)
    }

    #[test]
    fn plain_unit() {
        assert_eq!(
            render_for("[Service]\nEnvironment=FOO=bar\n"),
            "# Written by `mptcpize-rs enable web.service`: the service's TCP sockets become\n\
             # Multipath TCP. Undo with `mptcpize-rs disable web.service`.\n\
             [Service]\n\
             Environment=\"LD_PRELOAD=/usr/lib/mptcpize-rs/libmptcpize_preload.so\"\n\
             Environment=\"GODEBUG=multipathtcp=1\"\n"
        );
    }

    #[test]
    fn merges_existing_preload_and_godebug() {
        let text = render_for(
            "[Service]\nEnvironment=\"LD_PRELOAD=/opt/a.so /opt/b.so\" GODEBUG=http2client=0\n",
        );
        assert!(
            text.contains(&format!("\"LD_PRELOAD=/opt/a.so /opt/b.so:{SHIM}\"")),
            "{text}"
        );
        assert!(
            text.contains("\"GODEBUG=http2client=0,multipathtcp=1\""),
            "{text}"
        );
    }

    /// A `%` in the shim's path is written `%%`, so systemd's specifier
    /// expansion gives the path back; the unit's own `%` stay as written.
    /// A non-UTF-8 path is refused.
    #[test]
    fn shim_path_specifiers_are_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let mut env = ServiceEnvironment::default();
        env.apply("[Service]\nEnvironment=LD_PRELOAD=%h/own.so\n");
        let unit = UnitName::parse("web").unwrap();
        let undo = "mptcpize-rs disable web.service";
        let shim = Path::new("/opt/50%off/%h/libmptcpize_preload.so");
        let text = render(&unit, &env, shim, None, undo, EngineOption::Auto).unwrap();
        assert!(
            text.contains(
                "Environment=\"LD_PRELOAD=%h/own.so:/opt/50%%off/%%h/libmptcpize_preload.so\"\n"
            ),
            "{text}"
        );
        // Already there (as systemd would read it): not added twice.
        env.apply("[Service]\nEnvironment=LD_PRELOAD=/opt/50%%off/%%h/libmptcpize_preload.so\n");
        let again = render(&unit, &env, shim, None, undo, EngineOption::Auto).unwrap();
        assert!(
            again.contains("\"LD_PRELOAD=/opt/50%%off/%%h/libmptcpize_preload.so\"\n"),
            "{again}"
        );
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/x.so"));
        let error = render(&unit, &env, bad, None, undo, EngineOption::Auto)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not valid UTF-8"), "{error}");
    }

    #[test]
    fn rules_are_written_and_read_back() {
        let rules = "loopback=0;listen=1;exclude=10.0.0.0/8,::1";
        let text = render_with("[Service]\nEnvironment=FOO=bar\n", Some(rules));
        assert!(
            text.ends_with(&format!("Environment=\"{RULES_VAR}={rules}\"\n")),
            "{text}"
        );
        assert_eq!(rules_of(&text).as_deref(), Some(rules));
        assert_eq!(rules_of(&render_for("[Service]\n")), None);
    }

    #[test]
    fn atomic_write_and_exact_removal() {
        let scratch = ScratchDir::new("dropin");
        let tree = Tree::open(scratch.path()).unwrap();
        let config = Path::new("/etc/systemd/system");
        let at = Location {
            tree: &tree,
            config_dir: config.to_path_buf(),
            dir_name: "web.service.d".into(),
        };
        let path = at.display();
        assert_eq!(at.read().unwrap(), None);
        at.write("one\n").unwrap();
        at.write("two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(at.read().unwrap().as_deref(), Some("two\n"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let entries = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1, "no temporary file left behind");

        let other = path.with_file_name("other.conf");
        fs::write(&other, "x").unwrap();
        assert!(at.remove().unwrap());
        assert!(
            other.exists() && path.parent().unwrap().is_dir(),
            "others kept"
        );
        fs::remove_file(&other).unwrap();
        at.write("x").unwrap();
        assert!(at.exists().unwrap());
        assert!(at.remove().unwrap());
        assert!(!path.parent().unwrap().exists(), "empty directory removed");
        assert!(!at.remove().unwrap(), "nothing to remove is not an error");
        assert!(!at.exists().unwrap());
    }

    /// The attack of issue 15: a drop-in directory linked to a host
    /// directory. Nothing is written, read or removed there.
    #[test]
    fn linked_dropin_directory_is_refused() {
        let host = ScratchDir::new("dropin-host");
        let victim = host.file("victim.conf", b"keep", 0o644);
        let planted = host.file(FILE_NAME, b"host's own", 0o644);
        let scratch = ScratchDir::new("dropin-link");
        scratch.dir("etc/systemd/system");
        std::os::unix::fs::symlink(
            host.path(),
            scratch.path().join("etc/systemd/system/web.service.d"),
        )
        .unwrap();
        let tree = Tree::open(scratch.path()).unwrap();
        let at = Location {
            tree: &tree,
            config_dir: PathBuf::from("/etc/systemd/system"),
            dir_name: "web.service.d".into(),
        };
        for error in [
            at.write("[Service]\n").unwrap_err(),
            at.remove().unwrap_err(),
            at.read().unwrap_err(),
        ] {
            let message = error.to_string();
            assert!(message.contains("is a symbolic link"), "{message}");
        }
        assert_eq!(fs::read_dir(host.path()).unwrap().count(), 2);
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(fs::read(&planted).unwrap(), b"host's own");
    }

    /// A drop-in file planted as a link is replaced, never written through.
    #[test]
    fn linked_dropin_file_is_replaced_not_followed() {
        let host = ScratchDir::new("dropin-file-host");
        let victim = host.file("victim", b"keep", 0o644);
        let scratch = ScratchDir::new("dropin-file-link");
        let dir = scratch.dir("etc/systemd/system/web.service.d");
        std::os::unix::fs::symlink(&victim, dir.join(FILE_NAME)).unwrap();
        let tree = Tree::open(scratch.path()).unwrap();
        let at = Location {
            tree: &tree,
            config_dir: PathBuf::from("/etc/systemd/system"),
            dir_name: "web.service.d".into(),
        };
        assert_eq!(at.read().unwrap(), None);
        at.write("new\n").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(fs::read_to_string(dir.join(FILE_NAME)).unwrap(), "new\n");
        assert!(at.remove().unwrap());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }
}
