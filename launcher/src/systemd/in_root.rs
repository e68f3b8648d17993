//! Paths resolved inside a directory tree, the way systemd resolves them
//! under `--root`: absolute symbolic links and `..` stay inside the tree,
//! so nothing in an image (a link `web.service.d -> /etc`, a unit file
//! linked to `../../../../root/x`) makes `enable`, `disable` or `status`
//! read or write outside it.
//!
//! Every lookup goes through `openat2(2)` with `RESOLVE_IN_ROOT` (Linux >=
//! 5.6) and `RESOLVE_NO_MAGICLINKS`; where the kernel has no `openat2`
//! (ENOSYS, or EPERM from a seccomp filter that predates it) the same
//! resolution is done one component at a time with `O_NOFOLLOW`, holding a
//! descriptor for each directory on the way and handling `..` and link
//! targets itself, never above the tree's top.
//!
//! Without `--root` the tree is `/`, where this is plain path resolution.
//!
//! The walk also serves [`check_owned_by_root`]: whether anyone but root
//! could replace a file (the shim `enable` writes into a system service).

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Most symbolic links followed in one resolution (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Set once `openat2` was seen to be unavailable.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// How lookups are made: the kernel's `openat2`, or the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// `openat2` with `RESOLVE_IN_ROOT`, the walk when it is missing.
    Kernel,
    /// Always the component-by-component walk (what an old kernel gets).
    Walk,
}

/// A directory tree opened for resolution inside it.
#[derive(Debug)]
pub struct Tree {
    fd: OwnedFd,
    path: PathBuf,
    resolver: Resolver,
}

/// A file's type and identity, from `fstat`.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub size: i64,
    dev: u64,
    ino: u64,
}

impl Meta {
    fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }
    pub fn is_char_device(&self) -> bool {
        self.file_type() == libc::S_IFCHR
    }
    fn same_file(&self, other: &Meta) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat(dir, name, flags)`, close-on-exec.
pub fn openat(dir: BorrowedFd, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = cstring(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name; the returned
    // descriptor is new and owned by us.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    })?;
    // SAFETY: fd was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd) -> io::Result<Meta> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is a valid out-pointer for fstat.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so st is initialised.
    Ok(meta(&unsafe { st.assume_init() }))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself.
pub fn lstatat(dir: BorrowedFd, name: &[u8]) -> io::Result<Meta> {
    let name = cstring(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid descriptor, NUL-terminated name, valid out-pointer.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so st is initialised.
    Ok(meta(&unsafe { st.assume_init() }))
}

fn meta(st: &libc::stat) -> Meta {
    Meta {
        mode: st.st_mode,
        uid: st.st_uid,
        size: st.st_size,
        dev: st.st_dev,
        ino: st.st_ino,
    }
}

/// The target of the symbolic link `name` in `dir`.
pub fn readlinkat(dir: BorrowedFd, name: &[u8]) -> io::Result<Vec<u8>> {
    let name = cstring(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: valid descriptor and name; buf has buf.len() writable bytes.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Reads all of `fd` (a regular file).
pub fn read_all(fd: OwnedFd) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The names in the directory `fd` (without `.` and `..`).
pub fn list_dir(fd: OwnedFd) -> io::Result<Vec<OsString>> {
    // SAFETY: fdopendir takes ownership of the descriptor on success; on
    // failure it is still ours and dropped below.
    let dir = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if dir.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fd);
    let mut names = Vec::new();
    loop {
        // SAFETY: dir is a valid DIR*; readdir's entry is valid until the
        // next call, and its name is copied before that.
        let entry = unsafe { libc::readdir64(dir) };
        if entry.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated within the entry.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        let name = name.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    // SAFETY: dir came from fdopendir and is closed exactly once.
    unsafe { libc::closedir(dir) };
    Ok(names)
}

/// The components of `path`, as byte strings (empty ones and `.` dropped;
/// `..` kept for the walk to handle).
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// What each lookup of the walk saw: the directory looked in and the
/// entry found there (not followed).
pub struct Step<'a> {
    /// The directory's path inside the tree (links resolved).
    pub dir_path: &'a Path,
    pub dir: &'a Meta,
    pub name: &'a [u8],
    pub entry: &'a Meta,
}

/// The walk: `path` resolved below `top` (a directory descriptor) with
/// `..` and absolute link targets kept inside, then opened with `flags`.
/// `O_NOFOLLOW` in `flags` means the last component must not be a link.
/// `visit` sees every lookup, in order.
fn walk(
    top: BorrowedFd,
    path: &[u8],
    flags: libc::c_int,
    visit: &mut dyn FnMut(Step) -> io::Result<()>,
) -> io::Result<OwnedFd> {
    let top_meta = fstat(top)?;
    // Directories entered below `top`, each with its metadata and name.
    let mut stack: Vec<(OwnedFd, Meta, Vec<u8>)> = Vec::new();
    let mut pending: Vec<Vec<u8>> = components(path).rev().map(<[u8]>::to_vec).collect();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == b".." {
            stack.pop();
            continue;
        }
        let (dir, dir_meta) = match stack.last() {
            Some((fd, meta, _)) => (fd.as_fd(), *meta),
            None => (top, top_meta),
        };
        let last = pending.is_empty();
        let entry = openat(dir, &name, libc::O_PATH | libc::O_NOFOLLOW)?;
        let entry_meta = fstat(entry.as_fd())?;
        let mut dir_path = PathBuf::from("/");
        dir_path.extend(stack.iter().map(|(_, _, n)| OsStr::from_bytes(n)));
        visit(Step {
            dir_path: &dir_path,
            dir: &dir_meta,
            name: &name,
            entry: &entry_meta,
        })?;
        if entry_meta.is_symlink() {
            if last && flags & libc::O_NOFOLLOW != 0 {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = readlinkat(dir, &name)?;
            if target.first() == Some(&b'/') {
                stack.clear();
            }
            pending.extend(components(&target).rev().map(<[u8]>::to_vec));
            continue;
        }
        if last {
            // Open the entry itself with the caller's flags; the name may
            // have changed since the lookup, so check it is the same file.
            let opened = openat(dir, &name, flags | libc::O_NOFOLLOW)?;
            if !fstat(opened.as_fd())?.same_file(&entry_meta) {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            return Ok(opened);
        }
        if !entry_meta.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        stack.push((entry, entry_meta, name));
    }
    // The path named a directory (possibly the top) through `..` or links.
    let dir = stack.last().map_or(top, |(fd, _, _)| fd.as_fd());
    openat(dir, b".", flags & !libc::O_NOFOLLOW)
}

/// `openat2(top, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
fn openat2_in_root(top: BorrowedFd, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = cstring(if path.is_empty() { b"." } else { path })?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // The kernel retries internally, but may still report EAGAIN when a
    // rename raced with `..`: try a few times.
    for _ in 0..8 {
        // SAFETY: valid descriptor, NUL-terminated path, and a pointer to
        // an open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                top.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: fd was just returned by openat2; nobody else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EAGAIN) {
            return Err(error);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

impl Tree {
    /// Opens the tree at `path` (`/` for the running system).
    pub fn open(path: &Path) -> io::Result<Tree> {
        Tree::open_with(path, Resolver::Kernel)
    }

    /// [`Tree::open`] with an explicit resolver (tests run both).
    pub fn open_with(path: &Path, resolver: Resolver) -> io::Result<Tree> {
        let fd = std::fs::File::open(path)?;
        if !fstat(fd.as_fd())?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(Tree {
            fd: fd.into(),
            path: path.to_path_buf(),
            resolver,
        })
    }

    /// Where `path` (absolute, as seen inside) is, spelled for messages.
    pub fn display(&self, path: &Path) -> PathBuf {
        let inside = path.strip_prefix("/").unwrap_or(path);
        if inside.as_os_str().is_empty() {
            return self.path.clone();
        }
        self.path.join(inside)
    }

    /// Opens `path` (absolute or not, always taken from the tree's top)
    /// resolved inside the tree, with `flags` (no `O_CREAT`).
    pub fn open_at(&self, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
        let bytes = path.as_os_str().as_bytes();
        let relative = {
            let mut b = bytes;
            while let [b'/', rest @ ..] = b {
                b = rest;
            }
            b
        };
        if self.resolver == Resolver::Kernel && !NO_OPENAT2.load(Ordering::Relaxed) {
            match openat2_in_root(self.fd.as_fd(), relative, flags) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                result => return result,
            }
        }
        walk(self.fd.as_fd(), relative, flags, &mut |_| Ok(()))
    }

    /// The directory `path` inside the tree, created (0755, with its
    /// parents) when missing if `create`; `None` when missing otherwise.
    pub fn open_dir(&self, path: &Path, create: bool) -> io::Result<Option<OwnedFd>> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        match self.open_at(path, flags) {
            Ok(fd) => return Ok(Some(fd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
        // Create from the top down; every parent is itself resolved inside.
        let mut dir = self.open_at(Path::new("/"), flags)?;
        let mut so_far = PathBuf::from("/");
        for name in components(path.as_os_str().as_bytes()) {
            so_far.push(OsStr::from_bytes(name));
            if name != b".." {
                let cname = cstring(name)?;
                // SAFETY: valid descriptor and NUL-terminated name.
                let made = unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755) };
                if made < 0 {
                    let error = io::Error::last_os_error();
                    if error.raw_os_error() != Some(libc::EEXIST) {
                        return Err(error);
                    }
                }
            }
            dir = self.open_at(&so_far, flags)?;
        }
        Ok(Some(dir))
    }

    /// Whether `path` is a regular file inside the tree.
    pub fn is_file(&self, path: &Path) -> bool {
        self.open_at(path, libc::O_PATH)
            .and_then(|fd| fstat(fd.as_fd()))
            .is_ok_and(|meta| meta.is_file())
    }

    /// Reads the file at `path` inside the tree, as systemd reads a unit
    /// file: a link whose text is `/dev/null`, a character device or an
    /// empty file is [`Content::Masked`]; a missing file, or anything but a
    /// regular file, [`Content::Missing`]. Nothing but a regular file is
    /// ever opened for reading (no device, no FIFO that would block).
    pub fn read_unit_file(&self, path: &Path) -> io::Result<Content> {
        // systemd's own test for a mask, also when /dev/null is not in the tree.
        if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
            && let Ok(dir) = self.open_at(parent, libc::O_PATH | libc::O_DIRECTORY)
            && let Ok(target) = readlinkat(dir.as_fd(), name.as_bytes())
            && target == b"/dev/null"
        {
            return Ok(Content::Masked);
        }
        let found = match self.open_at(path, libc::O_PATH) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(Content::Missing);
            }
            Err(e) => return Err(e),
        };
        let meta = fstat(found.as_fd())?;
        if meta.is_char_device() || (meta.is_file() && meta.size == 0) {
            return Ok(Content::Masked);
        }
        if !meta.is_file() {
            return Ok(Content::Missing);
        }
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
        let file = self.open_at(path, flags)?;
        if !fstat(file.as_fd())?.same_file(&meta) {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        Ok(Content::Text(read_all(file)?))
    }

    /// The names in the directory `path` inside the tree; empty when it
    /// does not exist or is not a directory.
    pub fn list(&self, path: &Path) -> io::Result<Vec<OsString>> {
        match self.open_at(path, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => list_dir(fd),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }
}

/// A unit file or drop-in, as systemd would take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Text(Vec<u8>),
    Masked,
    Missing,
}

/// Whether only root can change `path` (in `tree`, usually `/`) and
/// everything it resolves through: every directory looked in is root's and
/// not writable by group or others (a sticky directory such as /tmp is
/// allowed when the entry in it is root's), and the file itself is root's
/// and not writable by group or others. Symbolic links are followed as the
/// dynamic loader follows them, every directory on the way checked.
/// Returns why not, naming the culprit.
pub fn check_owned_by_root(tree: &Tree, path: &Path) -> Result<(), String> {
    let writable_by = |mode: u32| match mode & 0o022 {
        0o022 => "its group and others",
        0o020 => "its group",
        _ => "others",
    };
    let mut problem = None;
    let mut visit = |step: Step| -> io::Result<()> {
        let dir = tree.display(step.dir_path);
        let entry = dir.join(OsStr::from_bytes(step.name));
        let found = if step.dir.uid != 0 {
            Some(format!(
                "{} is owned by uid {}, not root",
                dir.display(),
                step.dir.uid
            ))
        } else if step.dir.mode & 0o022 == 0 {
            None
        } else if step.dir.mode & libc::S_ISVTX == 0 {
            Some(format!(
                "{} is writable by {}",
                dir.display(),
                writable_by(step.dir.mode)
            ))
        } else if step.entry.uid == 0 {
            None
        } else {
            // Sticky (like /tmp): only the entry's owner can replace it.
            Some(format!(
                "{} is in the shared directory {} and owned by uid {}",
                entry.display(),
                dir.display(),
                step.entry.uid
            ))
        };
        if let Some(found) = found {
            problem.get_or_insert(found);
        }
        Ok(())
    };
    let bytes = path.as_os_str().as_bytes();
    let file = walk(tree.fd.as_fd(), bytes, libc::O_PATH, &mut visit)
        .map_err(|e| format!("cannot check {}: {e}", tree.display(path).display()))?;
    if let Some(problem) = problem {
        return Err(problem);
    }
    let meta = fstat(file.as_fd()).map_err(|e| e.to_string())?;
    let shown = tree.display(path);
    if meta.uid != 0 {
        return Err(format!(
            "{} is owned by uid {}, not root",
            shown.display(),
            meta.uid
        ));
    }
    if meta.mode & 0o022 != 0 {
        return Err(format!(
            "{} is writable by {}",
            shown.display(),
            writable_by(meta.mode)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;
    use std::os::unix::fs::symlink;

    fn both(test: impl Fn(Resolver)) {
        test(Resolver::Kernel);
        test(Resolver::Walk);
    }

    fn read(tree: &Tree, path: &str) -> io::Result<Vec<u8>> {
        tree.open_at(Path::new(path), libc::O_RDONLY)
            .and_then(read_all)
    }

    #[test]
    fn links_and_dotdot_stay_inside() {
        both(|resolver| {
            let outside = ScratchDir::new("in-root-outside");
            std::fs::write(outside.path().join("secret"), "host").unwrap();
            let scratch = ScratchDir::new("in-root");
            let root = scratch.dir("root");
            scratch.file("root/etc/ok", b"inside", 0o644);
            scratch.file(
                &format!("root{}/secret", outside.path().display()),
                b"image",
                0o644,
            );
            // Absolute link to a host directory: resolves to the image's copy.
            symlink(outside.path(), root.join("etc/abs")).unwrap();
            // Relative link climbing above the top: clamped at the top.
            let climb = "../".repeat(20) + &outside.path().display().to_string()[1..];
            symlink(&climb, root.join("etc/rel")).unwrap();
            symlink("ok", root.join("etc/alias")).unwrap();
            let tree = Tree::open_with(&root, resolver).unwrap();
            assert_eq!(read(&tree, "/etc/ok").unwrap(), b"inside");
            assert_eq!(read(&tree, "/etc/alias").unwrap(), b"inside");
            assert_eq!(read(&tree, "/etc/abs/secret").unwrap(), b"image");
            assert_eq!(read(&tree, "/etc/rel/secret").unwrap(), b"image");
            assert_eq!(read(&tree, "/../../../etc/ok").unwrap(), b"inside");
            let nofollow = libc::O_RDONLY | libc::O_NOFOLLOW;
            let err = tree.open_at(Path::new("/etc/alias"), nofollow).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{resolver:?}");
            // A link loop ends.
            symlink("loop", root.join("etc/loop")).unwrap();
            let err = read(&tree, "/etc/loop").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        });
    }

    #[test]
    fn masks_and_special_files() {
        both(|resolver| {
            let scratch = ScratchDir::new("in-root-mask");
            let root = scratch.dir("root");
            scratch.dir("root/u");
            symlink("/dev/null", root.join("u/masked.service")).unwrap();
            scratch.file("root/u/empty.service", b"", 0o644);
            scratch.file("root/u/real.service", b"[Service]\n", 0o644);
            symlink("real.service", root.join("u/alias.service")).unwrap();
            let fifo = cstring(root.join("u/fifo.service").as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid path.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
            let tree = Tree::open_with(&root, resolver).unwrap();
            let get = |name: &str| tree.read_unit_file(&Path::new("/u").join(name)).unwrap();
            assert_eq!(get("masked.service"), Content::Masked);
            assert_eq!(get("empty.service"), Content::Masked);
            assert_eq!(get("real.service"), Content::Text(b"[Service]\n".to_vec()));
            assert_eq!(get("alias.service"), Content::Text(b"[Service]\n".to_vec()));
            assert_eq!(get("nosuch.service"), Content::Missing);
            assert_eq!(get("fifo.service"), Content::Missing, "never opened");
            // On the host, /dev/null itself is a character device.
            let host = Tree::open_with(Path::new("/"), resolver).unwrap();
            assert_eq!(
                host.read_unit_file(Path::new("/dev/null")).unwrap(),
                Content::Masked
            );
        });
    }

    #[test]
    fn directories_are_created_inside() {
        both(|resolver| {
            let outside = ScratchDir::new("in-root-mkdir-outside");
            let scratch = ScratchDir::new("in-root-mkdir");
            let root = scratch.dir("root");
            scratch.dir("root/etc");
            scratch.dir("root/usr/etc-systemd");
            // A link to a host directory: dangling inside, so refused.
            symlink(outside.path(), root.join("etc/systemd")).unwrap();
            let tree = Tree::open_with(&root, resolver).unwrap();
            let dir = Path::new("/etc/systemd/system");
            assert!(tree.open_dir(dir, false).unwrap().is_none());
            assert!(tree.open_dir(dir, true).is_err());
            assert!(
                std::fs::read_dir(outside.path()).unwrap().next().is_none(),
                "nothing created outside"
            );
            // A link to a directory inside the tree is followed.
            std::fs::remove_file(root.join("etc/systemd")).unwrap();
            symlink("/usr/etc-systemd", root.join("etc/systemd")).unwrap();
            tree.open_dir(dir, true).unwrap().unwrap();
            assert!(root.join("usr/etc-systemd/system").is_dir());
            assert!(tree.open_dir(dir, false).unwrap().is_some());
        });
    }

    #[test]
    fn ownership_check() {
        let scratch = ScratchDir::new("in-root-owner");
        let good = scratch.file("good/lib.so", b"", 0o644);
        let tree = Tree::open(Path::new("/")).unwrap();
        // The scratch directory is below the temporary directory: sticky,
        // and everything in it is root's here (tests run as root).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        check_owned_by_root(&tree, &good).unwrap();
        let writable = scratch.file("open/lib.so", b"", 0o644);
        std::fs::set_permissions(
            writable.parent().unwrap(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let why = check_owned_by_root(&tree, &writable).unwrap_err();
        assert!(
            why.contains("open is writable by its group and others"),
            "{why}"
        );
        let group = scratch.file("group/lib.so", b"", 0o664);
        let why = check_owned_by_root(&tree, &group).unwrap_err();
        assert!(why.contains("lib.so is writable by its group"), "{why}");
        let owned = scratch.file("owned/lib.so", b"", 0o644);
        std::os::unix::fs::chown(&owned, Some(65534), None).unwrap();
        let why = check_owned_by_root(&tree, &owned).unwrap_err();
        assert!(why.contains("owned by uid 65534"), "{why}");
        // A link from a good place into a bad one is followed.
        let link = scratch.path().join("good/link.so");
        symlink(&writable, &link).unwrap();
        assert!(check_owned_by_root(&tree, &link).is_err());
    }
}
