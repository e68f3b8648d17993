//! Files written on a user's behalf: `run --report FILE` ([`Replacement`]):
//! never through a symlink someone planted, never truncating what is there,
//! and never half written; and the `MPTCPIZE_RS_LOG` file ([`open_log`]),
//! opened under the shim's rules.
//!
//! The new content goes into a file of its own in FILE's directory, made
//! when the run starts (so a FILE that can never be written stops the run
//! before PROG does any work) and put in FILE's place with `rename(2)` at
//! the end: a symlink at FILE is replaced, not followed, and a reader sees
//! the old file or the complete new one. Where the filesystem allows, that
//! file is unnamed until the end (`O_TMPFILE`), so a run killed on the way
//! leaves nothing behind; elsewhere it is a hidden `.FILE.mptcpize-rs-*`
//! file, created with `O_EXCL | O_NOFOLLOW` and removed if the run fails.
//!
//! The directory is opened once and every later step is relative to it, so
//! the file is created and renamed in the same directory even if a path
//! component above it is swapped meanwhile. FILE ends up a new file owned
//! by whoever runs `run`, with the mode `0666 & ~umask`; an existing FILE's
//! owner, mode and other hard links are not kept.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// A replacement for one file, being prepared.
#[derive(Debug)]
pub struct Replacement {
    dir: OwnedFd,
    name: CString,
    file: File,
    /// The hidden name `file` has, when the filesystem gave it one.
    temporary: Option<CString>,
}

impl Replacement {
    /// Starts replacing `path`: opens its directory and a new file there.
    /// Fails if `path` names a directory or cannot be created.
    pub fn prepare(path: &Path) -> io::Result<Replacement> {
        let name = path
            .file_name()
            .filter(|_| !path.as_os_str().as_bytes().ends_with(b"/"))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EISDIR))?;
        let name = c_string(name)?;
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dir = open_at(
            libc::AT_FDCWD,
            &c_string(parent.as_os_str())?,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )?;
        check_replaceable(&dir, &name)?;
        let unnamed = open_at(
            dir.as_raw_fd(),
            c".",
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
        );
        let (file, temporary) = match unnamed {
            Ok(file) => (file, None),
            // No O_TMPFILE on this filesystem (or kernel): a hidden name.
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) =>
            {
                let (file, temporary) = create_hidden(&dir, &name)?;
                (file, Some(temporary))
            }
            Err(error) => return Err(error),
        };
        Ok(Replacement {
            dir,
            name,
            file: File::from(file),
            temporary,
        })
    }

    /// Writes `contents` and puts the file in the place of the path given
    /// to `prepare`, at once.
    pub fn commit(mut self, contents: &[u8]) -> io::Result<()> {
        self.file.write_all(contents)?;
        if self.temporary.is_none() {
            self.temporary = Some(self.give_a_name(contents)?);
        }
        let temporary = self.temporary.as_ref().expect("named above");
        // Again: what is there may have changed while the program ran.
        check_replaceable(&self.dir, &self.name)?;
        let dir = self.dir.as_raw_fd();
        // SAFETY: renameat with NUL-terminated names relative to our directory.
        if unsafe { libc::renameat(dir, temporary.as_ptr(), dir, self.name.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error()); // Drop removes the temporary
        }
        self.temporary = None;
        Ok(())
    }

    /// A hidden name for the unnamed file: linked from /proc/self/fd, or
    /// with AT_EMPTY_PATH (root); failing both, a new hidden file with the
    /// same contents.
    fn give_a_name(&mut self, contents: &[u8]) -> io::Result<CString> {
        let proc_path = CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
            .expect("no NUL in a number");
        for _ in 0..16 {
            let temporary = hidden_name(&self.name);
            // SAFETY: linkat with NUL-terminated paths; the first names our
            // own descriptor, the second is relative to our directory.
            let linked = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    proc_path.as_ptr(),
                    self.dir.as_raw_fd(),
                    temporary.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                ) == 0
                    || libc::linkat(
                        self.file.as_raw_fd(),
                        c"".as_ptr(),
                        self.dir.as_raw_fd(),
                        temporary.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    ) == 0
            };
            if linked {
                return Ok(temporary);
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                break;
            }
        }
        let (file, temporary) = create_hidden(&self.dir, &self.name)?;
        self.file = File::from(file);
        self.temporary = Some(temporary.clone());
        self.file.write_all(contents)?;
        Ok(temporary)
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if let Some(temporary) = &self.temporary {
            // SAFETY: unlinkat with a NUL-terminated name relative to our
            // directory: the file we created.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), temporary.as_ptr(), 0) };
        }
    }
}

/// Opens the log file `path` for appending as the shim does
/// (`preload/src/debug_log.rs`): never through a symlink in its last
/// component (ELOOP), never waiting for a FIFO's reader (ENXIO), never as
/// the controlling terminal, and only a regular file or a terminal (EINVAL
/// for anything else). Created `0644 & ~umask` if missing.
pub fn open_log(path: &Path) -> io::Result<File> {
    use mptcpize_contract::log::{MODE, OPEN_FLAGS};
    // SAFETY: openat with a NUL-terminated path; the result is ours.
    let fd = unsafe {
        libc::openat(
            libc::AT_FDCWD,
            c_string(path.as_os_str())?.as_ptr(),
            OPEN_FLAGS,
            libc::c_uint::from(MODE),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor openat just returned, owned by nobody else.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let kind = file.metadata()?.file_type();
    use std::io::IsTerminal;
    if kind.is_file()
        || (std::os::unix::fs::FileTypeExt::is_char_device(&kind) && file.is_terminal())
    {
        Ok(file)
    } else {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }
}

/// The notice for a log `open_log` refused, worded as the shim's
/// (`preload/src/debug_log.rs`, `format_log_refusal`), so both engines say
/// the same.
pub fn log_refusal(error: &io::Error) -> String {
    let why = match error.raw_os_error() {
        Some(libc::ELOOP) => "it is a symbolic link".to_string(),
        Some(libc::ENXIO) => "it is a FIFO without a reader, a socket or an absent device".into(),
        Some(libc::EINVAL) => "it is not a regular file or a terminal".into(),
        Some(errno) => format!("open failed with errno {errno}"),
        None => error.to_string(),
    };
    format!("mptcpize-rs: cannot log to MPTCPIZE_RS_LOG: {why}; not logging there")
}

/// A new hidden file next to `name`, never through a symlink.
fn create_hidden(dir: &OwnedFd, name: &CString) -> io::Result<(OwnedFd, CString)> {
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC;
    let mut last = io::Error::from_raw_os_error(libc::EEXIST);
    for _ in 0..16 {
        let temporary = hidden_name(name);
        match open_at(dir.as_raw_fd(), &temporary, flags) {
            Ok(file) => return Ok((file, temporary)),
            Err(error) if error.raw_os_error() == Some(libc::EEXIST) => last = error,
            Err(error) => return Err(error),
        }
    }
    Err(last)
}

/// `.NAME.mptcpize-rs-PID-N-NANOS`, unique enough with O_EXCL retries.
fn hidden_name(name: &CString) -> CString {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut bytes = b".".to_vec();
    // Keep the result under NAME_MAX (255) whatever the name's length.
    bytes.extend(name.as_bytes().iter().take(180));
    bytes.extend(
        format!(
            ".mptcpize-rs-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
        .bytes(),
    );
    CString::new(bytes).expect("no NUL in a file name")
}

fn open_at(dir: libc::c_int, path: &std::ffi::CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: openat with a NUL-terminated path; the result is ours.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), flags, 0o666 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor openat just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `name` in `dir` is a directory (not following a symlink).
/// Whether what is at `name` may be replaced: nothing, a regular file or a
/// symbolic link (replaced, not followed). A directory is EISDIR; a device,
/// FIFO or socket is refused, for `--report /dev/null` must not replace
/// the system's `/dev/null` with a file.
fn check_replaceable(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat fills `st` when it returns 0.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Ok(());
    }
    // SAFETY: fstatat succeeded, so `st` is initialised.
    let kind = match unsafe { st.assume_init() }.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFLNK => return Ok(()),
        libc::S_IFDIR => return Err(io::Error::from_raw_os_error(libc::EISDIR)),
        libc::S_IFCHR | libc::S_IFBLK => "a device",
        libc::S_IFIFO => "a FIFO",
        _ => "a socket",
    };
    Err(io::Error::other(format!(
        "it is {kind}, not a regular file; the report replaces FILE with a new file, \
         so name a file"
    )))
}

fn c_string(text: &OsStr) -> io::Result<CString> {
    CString::new(text.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;
    use std::fs;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_a_new_file_and_leaves_nothing_else() {
        let scratch = ScratchDir::new("replace-new");
        let path = scratch.path().join("report.json");
        let replacement = Replacement::prepare(&path).unwrap();
        assert!(!path.exists(), "nothing visible before the end");
        replacement.commit(b"{}\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}\n");
        assert_eq!(entries(scratch.path()), ["report.json"]);
    }

    #[test]
    fn replaces_an_existing_file_only_at_the_end() {
        let scratch = ScratchDir::new("replace-old");
        let path = scratch.file("report.json", b"old report, quite long\n", 0o644);
        let replacement = Replacement::prepare(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"old report, quite long\n");
        replacement.commit(b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(entries(scratch.path()), ["report.json"]);
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let scratch = ScratchDir::new("replace-link");
        let target = scratch.file("precious", b"keep me\n", 0o600);
        let path = scratch.path().join("report.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        Replacement::prepare(&path)
            .unwrap()
            .commit(b"report\n")
            .unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep me\n");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
        assert_eq!(fs::read(&path).unwrap(), b"report\n");
        // A dangling link: nothing is created at its target either.
        let dangling = scratch.path().join("dangling.json");
        let nowhere = scratch.path().join("nowhere");
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        Replacement::prepare(&dangling)
            .unwrap()
            .commit(b"x")
            .unwrap();
        assert!(!nowhere.exists());
    }

    /// `--report /dev/null` once replaced the system's /dev/null with a
    /// file: a device, FIFO or socket is never replaced.
    #[test]
    fn special_files_are_never_replaced() {
        let scratch = ScratchDir::new("replace-special");
        let fifo = scratch.path().join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = Replacement::prepare(&fifo).unwrap_err().to_string();
        assert!(
            error.contains("it is a FIFO, not a regular file"),
            "{error}"
        );
        let error = Replacement::prepare(Path::new("/dev/null")).unwrap_err();
        assert!(error.to_string().contains("it is a device"), "{error}");
        // Made a FIFO while the program ran: refused at the end too.
        let later = scratch.path().join("later");
        let replacement = Replacement::prepare(&later).unwrap();
        let name = std::ffi::CString::new(later.as_os_str().as_bytes()).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(replacement.commit(b"{}").is_err());
        let meta = std::fs::symlink_metadata(&later).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    }

    #[test]
    fn unusable_paths_fail_at_prepare() {
        let scratch = ScratchDir::new("replace-bad");
        let dir = scratch.dir("sub");
        let error = Replacement::prepare(&dir).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EISDIR));
        let error = Replacement::prepare(Path::new("/nonexistent-dir/report.json")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let slash = scratch.path().join("report.json/");
        assert!(Replacement::prepare(&slash).is_err());
    }

    #[test]
    fn an_abandoned_replacement_leaves_nothing() {
        let scratch = ScratchDir::new("replace-drop");
        let path = scratch.path().join("report.json");
        drop(Replacement::prepare(&path).unwrap());
        assert_eq!(entries(scratch.path()), Vec::<String>::new());
    }

    #[test]
    fn logs_open_like_the_shims() {
        let scratch = ScratchDir::new("open-log");
        let log = scratch.file("shim.log", b"old\n", 0o644);
        let mut file = open_log(&log).unwrap();
        file.write_all(b"new\n").unwrap();
        assert_eq!(fs::read(&log).unwrap(), b"old\nnew\n", "appended");
        let link = scratch.path().join("link.log");
        std::os::unix::fs::symlink(&log, &link).unwrap();
        let error = open_log(&link).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ELOOP));
        let fifo = scratch.path().join("fifo");
        let c_fifo = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
        let error = open_log(&fifo).unwrap_err();
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ENXIO),
            "no wait for a reader"
        );
        let error = open_log(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL), "not a log");
    }

    #[test]
    fn hidden_names_fit_and_differ() {
        let long = CString::new(vec![b'a'; 255]).unwrap();
        let one = hidden_name(&long);
        assert!(one.as_bytes().len() <= 255, "{}", one.as_bytes().len());
        assert_ne!(one, hidden_name(&long));
        assert!(one.as_bytes().starts_with(b".aaa"));
    }
}
