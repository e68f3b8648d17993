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
//! Nothing but a regular file or a directory is ever opened for reading:
//! a path is first looked up with `O_PATH` (which opens nothing), its type
//! checked with `fstat`, and only a regular file is then opened, as that
//! same inode through `/proc/self/fd/N`, never by its name again. A device
//! node or FIFO planted in an image is never opened.
//!
//! The walk also serves [`check_owned_by_root`]: whether anyone but root
//! could replace a file (the shim `enable` writes into a system service).

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Most symbolic links followed in one resolution (the kernel's limit).
const MAX_LINKS: usize = 40;

/// The largest unit file or drop-in read: a larger one is refused, naming
/// it, so that a (sparse) file in an image cannot make root read or
/// allocate without bound. systemd limits a line to 1 MiB
/// (`LONG_LINE_MAX`, systemd.syntax(7)); real units are a few KiB.
pub const MAX_UNIT_FILE_SIZE: u64 = 1 << 20;

/// `FUSE_SUPER_MAGIC` (statfs(2)): a FUSE file system reports whatever
/// owner and mode its server chooses.
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

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

/// A directory tree opened for resolution inside it. Opened once per
/// command: every read, check and write of that command goes through the
/// same descriptor, so replacing the directory's path (or a directory
/// above it) after the open changes nothing.
#[derive(Debug)]
pub struct Tree {
    fd: OwnedFd,
    /// The directory's path when it was opened (links resolved), for
    /// messages.
    path: PathBuf,
    resolver: Resolver,
    /// Whether the tree is this process's `/` (or a bind mount of it).
    host_root: bool,
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
    /// What kind of file this is, for messages ("a FIFO").
    pub fn kind(&self) -> &'static str {
        match self.file_type() {
            libc::S_IFREG => "a regular file",
            libc::S_IFDIR => "a directory",
            libc::S_IFLNK => "a symbolic link",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            _ => "a special file",
        }
    }
    pub fn same_file(&self, other: &Meta) -> bool {
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
    open_raw(dir.as_raw_fd(), name, flags)
}

/// `openat(dir, name, flags)` for a raw `dir` (or `AT_FDCWD`).
fn open_raw(dir: RawFd, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = cstring(name)?;
    // SAFETY: a valid descriptor (or AT_FDCWD) and NUL-terminated name; the
    // returned descriptor is new and owned by us.
    let fd = check(unsafe {
        libc::openat(
            dir,
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

/// The target of the symbolic link `name` in `dir` (`name` empty: the link
/// `dir` itself, opened with `O_PATH|O_NOFOLLOW`).
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

/// The file system type of `fd` (`statfs.f_type`).
fn fs_type(fd: BorrowedFd) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: st is a valid out-pointer for fstatfs.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded, so st is initialised.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by architecture.
    Ok(st.f_type as i64)
}

/// Reads all of `fd` (a regular file), at most `limit` bytes: a larger
/// file (or one that grows past it while read) is `EFBIG`, and no more
/// than `limit + 1` bytes are ever read.
pub fn read_limited(fd: OwnedFd, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    if fstat(fd.as_fd())?.size as u64 > limit {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    }
    Ok(bytes)
}

/// The error for a unit file or drop-in over [`MAX_UNIT_FILE_SIZE`],
/// naming it (`shown`, already printable); other errors unchanged.
pub fn too_large(error: io::Error, shown: &str) -> io::Error {
    if error.raw_os_error() != Some(libc::EFBIG) {
        return error;
    }
    io::Error::other(format!(
        "{shown} is larger than {} KiB; mptcpize-rs does not read a unit file or drop-in \
         that large (real ones are a few KiB; a huge or sparse one in an image could \
         exhaust memory)",
        MAX_UNIT_FILE_SIZE / 1024
    ))
}

/// `found` (an `O_PATH` descriptor) opened for reading or writing with
/// `flags`, only if it is a regular file: that same inode is reopened
/// through `/proc/self/fd/N`, never looked up by name again, so a device
/// node or FIFO is never opened. A link is `ELOOP`, a directory `EISDIR`,
/// anything else an error saying what it is.
pub fn reopen_regular(found: OwnedFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    let meta = fstat(found.as_fd())?;
    if meta.is_symlink() {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    if meta.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} where a regular file was expected (never opened)",
                meta.kind()
            ),
        ));
    }
    let proc_path = format!("/proc/self/fd/{}", found.as_raw_fd());
    // The magic link is followed on purpose: O_NOFOLLOW (which the lookup
    // honoured) would refuse it.
    let flags = (flags & !(libc::O_NOFOLLOW | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC))
        | libc::O_NOCTTY;
    let reopened = open_raw(libc::AT_FDCWD, proc_path.as_bytes(), flags).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot reopen a file through {proc_path} (is /proc mounted?): {e}"),
        )
    })?;
    if !fstat(reopened.as_fd())?.same_file(&meta) {
        return Err(io::Error::from_raw_os_error(libc::EAGAIN));
    }
    Ok(reopened)
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
    /// The entry itself (`O_PATH|O_NOFOLLOW`: nothing is opened).
    pub entry_fd: BorrowedFd<'a>,
}

/// The walk: `path` resolved below `top` (a directory descriptor) with
/// `..` and absolute link targets kept inside, then opened with `flags`.
/// `O_NOFOLLOW` in `flags` means the last component is not followed (a
/// link there is `ELOOP`, or the link itself with `O_PATH`, as the kernel
/// does). Each entry is looked up with `O_PATH|O_NOFOLLOW`, and the last
/// is opened from that descriptor, never by name again ([`open_found`]).
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
            entry_fd: entry.as_fd(),
        })?;
        if entry_meta.is_symlink() {
            if last && flags & libc::O_NOFOLLOW != 0 {
                if flags & libc::O_PATH != 0 {
                    return Ok(entry);
                }
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            // The link just looked at, not a name looked up again.
            let target = readlinkat(entry.as_fd(), b"")?;
            if target.first() == Some(&b'/') {
                stack.clear();
            }
            pending.extend(components(&target).rev().map(<[u8]>::to_vec));
            continue;
        }
        if last {
            return open_found(entry, &entry_meta, flags);
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

/// The entry the walk found (`entry`, an `O_PATH` descriptor), opened with
/// `flags` from that descriptor: itself for `O_PATH`, `.` in it for a
/// directory, [`reopen_regular`] otherwise.
fn open_found(entry: OwnedFd, meta: &Meta, flags: libc::c_int) -> io::Result<OwnedFd> {
    if flags & libc::O_DIRECTORY != 0 && !meta.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    if flags & libc::O_PATH != 0 {
        return Ok(entry);
    }
    if meta.is_dir() {
        return openat(entry.as_fd(), b".", flags & !libc::O_NOFOLLOW);
    }
    reopen_regular(entry, flags)
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

    /// [`Tree::open`] with an explicit resolver (tests run both). The
    /// directory is opened with `O_PATH|O_DIRECTORY`: nothing else (a FIFO
    /// swapped in) is opened, and this descriptor is the tree from now on.
    pub fn open_with(path: &Path, resolver: Resolver) -> io::Result<Tree> {
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        let fd = open_raw(libc::AT_FDCWD, path.as_os_str().as_bytes(), flags)?;
        let meta = fstat(fd.as_fd())?;
        let host_root = std::fs::metadata("/")
            .is_ok_and(|root| root.dev() == meta.dev && root.ino() == meta.ino);
        // Where it really is, for messages: what the path led to when it
        // was opened, not what it may be replaced with later.
        let resolved = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .ok()
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| path.to_path_buf());
        Ok(Tree {
            fd,
            path: resolved,
            resolver,
            host_root,
        })
    }

    /// Whether this tree is the process's own `/` (the running system).
    pub fn is_host_root(&self) -> bool {
        self.host_root
    }

    /// The tree's top, as resolved when it was opened.
    pub fn top(&self) -> &Path {
        &self.path
    }

    /// Where `path` (absolute, as seen inside) is, spelled for messages.
    pub fn display(&self, path: &Path) -> PathBuf {
        let inside = path.strip_prefix("/").unwrap_or(path);
        if inside.as_os_str().is_empty() {
            return self.path.clone();
        }
        self.path.join(inside)
    }

    /// [`Tree::display`], safe to print: a path built from an image's
    /// names and link targets may hold control characters.
    pub fn show(&self, path: &Path) -> String {
        crate::terminal::printable(&self.display(path).to_string_lossy())
    }

    /// Opens `path` (absolute or not, always taken from the tree's top)
    /// resolved inside the tree, with `flags` (no `O_CREAT`). Without
    /// `O_PATH` or `O_DIRECTORY`, only a regular file is opened: it is
    /// looked up with `O_PATH` and reopened ([`reopen_regular`]).
    pub fn open_at(&self, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
        if flags & (libc::O_PATH | libc::O_DIRECTORY) == 0 {
            let found = self.resolve(path, libc::O_PATH | (flags & libc::O_NOFOLLOW))?;
            return reopen_regular(found, flags);
        }
        self.resolve(path, flags)
    }

    /// `path` resolved inside the tree and opened with `flags` as given.
    fn resolve(&self, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
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
    /// ever opened for reading (no device, no FIFO that would block), and
    /// one larger than [`MAX_UNIT_FILE_SIZE`] is an error naming it.
    pub fn read_unit_file(&self, path: &Path) -> io::Result<Content> {
        // systemd's own test for a mask, also when /dev/null is not in the
        // tree: the link itself, read from its descriptor.
        if let Ok(link) = self.open_at(path, libc::O_PATH | libc::O_NOFOLLOW)
            && fstat(link.as_fd())?.is_symlink()
            && readlinkat(link.as_fd(), b"")? == b"/dev/null"
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
        // The inode just checked, not the name again.
        let file = reopen_regular(found, libc::O_RDONLY | libc::O_NONBLOCK)?;
        let text =
            read_limited(file, MAX_UNIT_FILE_SIZE).map_err(|e| too_large(e, &self.show(path)))?;
        Ok(Content::Text(text))
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
///
/// Owners are only as true as the file system reporting them: nothing on
/// the way may be on FUSE, whose server (possibly a user) reports any owner
/// it likes. After the walk, the path is opened as the loader would open
/// it (plainly on the running system, resolved inside the tree in an
/// image) and must lead to the same file the walk checked.
///
/// Returns why not, naming the culprit (printable: the names come from
/// link targets).
pub fn check_owned_by_root(tree: &Tree, path: &Path) -> Result<(), String> {
    let writable_by = |mode: u32| match mode & 0o022 {
        0o022 => "its group and others",
        0o020 => "its group",
        _ => "others",
    };
    let fuse = |shown: &str| {
        format!(
            "{shown} is on a FUSE file system, whose server can report any owner and \
             mode (root's included), so who can replace it cannot be checked"
        )
    };
    let mut problem = None;
    if fs_type(tree.fd.as_fd()).map_err(|e| e.to_string())? == FUSE_SUPER_MAGIC {
        problem = Some(fuse(&tree.show(Path::new("/"))));
    }
    let mut visit = |step: Step| -> io::Result<()> {
        let dir = tree.show(step.dir_path);
        let entry = tree.show(&step.dir_path.join(OsStr::from_bytes(step.name)));
        let found = if fs_type(step.entry_fd)? == FUSE_SUPER_MAGIC {
            Some(fuse(&entry))
        } else if step.dir.uid != 0 {
            Some(format!("{dir} is owned by uid {}, not root", step.dir.uid))
        } else if step.dir.mode & 0o022 == 0 {
            None
        } else if step.dir.mode & libc::S_ISVTX == 0 {
            Some(format!(
                "{dir} is writable by {}",
                writable_by(step.dir.mode)
            ))
        } else if step.entry.uid == 0 {
            None
        } else {
            // Sticky (like /tmp): only the entry's owner can replace it.
            Some(format!(
                "{entry} is in the shared directory {dir} and owned by uid {}",
                step.entry.uid
            ))
        };
        if let Some(found) = found {
            problem.get_or_insert(found);
        }
        Ok(())
    };
    let bytes = path.as_os_str().as_bytes();
    let shown = tree.show(path);
    let file = walk(tree.fd.as_fd(), bytes, libc::O_PATH, &mut visit)
        .map_err(|e| format!("cannot check {shown}: {e}"))?;
    if let Some(problem) = problem {
        return Err(problem);
    }
    let meta = fstat(file.as_fd()).map_err(|e| e.to_string())?;
    if meta.uid != 0 {
        return Err(format!("{shown} is owned by uid {}, not root", meta.uid));
    }
    if meta.mode & 0o022 != 0 {
        return Err(format!("{shown} is writable by {}", writable_by(meta.mode)));
    }
    // What the loader will open: the same file, or the check meant nothing.
    let loaded = if tree.is_host_root() {
        open_raw(libc::AT_FDCWD, bytes, libc::O_PATH)
    } else {
        tree.open_at(path, libc::O_PATH)
    };
    let same = loaded
        .and_then(|fd| fstat(fd.as_fd()))
        .map_err(|e| format!("cannot open {shown} as the dynamic loader would: {e}"))?
        .same_file(&meta);
    if !same {
        return Err(format!(
            "{shown} changed while it was checked (opened as the dynamic loader \
             would, it is not the file whose owners were checked)"
        ));
    }
    Ok(())
}

/// Tests: a FIFO at `path` with a writer blocked opening it: the returned flag
/// turns true as soon as anyone opens the FIFO for reading. Call the
/// returned function to release the writer and see whether that
/// happened before.
#[cfg(test)]
pub(crate) fn fifo_with_writer(path: &Path) -> impl FnOnce() -> bool + use<> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::Arc;
    let name = cstring(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    let opened = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&opened);
    let writer_path = path.to_path_buf();
    let writer = std::thread::spawn(move || {
        // Blocks until a reader opens the FIFO.
        let file = std::fs::OpenOptions::new().write(true).open(&writer_path);
        flag.store(true, Ordering::SeqCst);
        drop(file);
    });
    let path = path.to_path_buf();
    move || {
        // Long enough for a writer released by a reader to say so.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let before = opened.load(Ordering::SeqCst);
        // Release the writer (a non-blocking reader) and wait for it.
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        writer.join().unwrap();
        drop(reader);
        before
    }
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
            .and_then(|fd| read_limited(fd, MAX_UNIT_FILE_SIZE))
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
            let fifo = fifo_with_writer(&root.join("u/fifo.service"));
            let tree = Tree::open_with(&root, resolver).unwrap();
            let get = |name: &str| tree.read_unit_file(&Path::new("/u").join(name)).unwrap();
            assert_eq!(get("masked.service"), Content::Masked);
            assert_eq!(get("empty.service"), Content::Masked);
            assert_eq!(get("real.service"), Content::Text(b"[Service]\n".to_vec()));
            assert_eq!(get("alias.service"), Content::Text(b"[Service]\n".to_vec()));
            assert_eq!(get("nosuch.service"), Content::Missing);
            assert_eq!(get("fifo.service"), Content::Missing);
            // Nor by any other read: only a regular file is ever opened.
            let error = read(&tree, "/u/fifo.service").unwrap_err();
            assert!(error.to_string().contains("a FIFO"), "{error}");
            assert!(!fifo(), "{resolver:?}: the FIFO was opened for reading");
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
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "this test needs root (it makes files owned by root and by uid 65534); \
             run the launcher's unit tests as root (`sudo -E cargo test -p mptcpize-rs`)"
        );
        let scratch = ScratchDir::new("in-root-owner");
        let good = scratch.file("good/lib.so", b"", 0o644);
        let tree = Tree::open(Path::new("/")).unwrap();
        assert!(tree.is_host_root());
        // The scratch directory is below the temporary directory: sticky,
        // and everything in it is root's (the test runs as root).
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

    /// Image-made names in the messages are printable: a link target
    /// holding ESC and BEL comes out escaped.
    #[test]
    fn ownership_messages_are_printable() {
        let scratch = ScratchDir::new("in-root-owner-esc");
        let root = scratch.dir("root");
        let evil = "d\u{1b}]0;owned\u{7}";
        scratch.file(&format!("root/{evil}/lib.so"), b"", 0o644);
        std::fs::set_permissions(
            root.join(evil),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        symlink(format!("/{evil}/lib.so"), root.join("link.so")).unwrap();
        both(|resolver| {
            let tree = Tree::open_with(&root, resolver).unwrap();
            assert!(!tree.is_host_root());
            let why = check_owned_by_root(&tree, Path::new("/link.so")).unwrap_err();
            assert!(!why.contains('\u{1b}') && !why.contains('\u{7}'), "{why:?}");
            assert!(why.contains("d\\u{1b}]0;owned\\u{7}"), "{why}");
        });
    }

    /// A unit file over the limit is refused, named, and not read (a
    /// sparse 64 MiB file); one of exactly the limit is read.
    #[test]
    fn files_too_large_are_refused_without_reading_them() {
        let scratch = ScratchDir::new("in-root-large");
        let root = scratch.dir("root");
        let big = std::fs::File::create(root.join("big.service")).unwrap();
        // Sparse: costs no disk, and must cost no memory either.
        big.set_len(64 << 20).unwrap();
        scratch.file(
            "root/edge.service",
            &vec![b'\n'; MAX_UNIT_FILE_SIZE as usize],
            0o644,
        );
        let tree = Tree::open(&root).unwrap();
        let error = tree
            .read_unit_file(Path::new("/big.service"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("big.service is larger than 1024 KiB"),
            "{error}"
        );
        assert!(matches!(
            tree.read_unit_file(Path::new("/edge.service")).unwrap(),
            Content::Text(text) if text.len() as u64 == MAX_UNIT_FILE_SIZE
        ));
    }

    /// Reopening: only a regular file, the very inode looked up.
    #[test]
    fn only_regular_files_are_reopened() {
        let scratch = ScratchDir::new("in-root-reopen");
        let file = scratch.file("f", b"x", 0o644);
        let dir = std::fs::File::open(scratch.path()).unwrap();
        let found = openat(dir.as_fd(), b"f", libc::O_PATH).unwrap();
        let reopened = reopen_regular(found, libc::O_RDONLY | libc::O_NOFOLLOW).unwrap();
        assert_eq!(read_limited(reopened, 1).unwrap(), b"x");
        std::os::unix::fs::symlink(&file, scratch.path().join("l")).unwrap();
        let link = openat(dir.as_fd(), b"l", libc::O_PATH | libc::O_NOFOLLOW).unwrap();
        let error = reopen_regular(link, libc::O_RDONLY).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ELOOP));
        let null = std::fs::File::open("/").unwrap();
        let null = openat(null.as_fd(), b"dev/null", libc::O_PATH).unwrap();
        let error = reopen_regular(null, libc::O_RDONLY).unwrap_err();
        assert!(error.to_string().contains("a character device"), "{error}");
        let error =
            read_limited(openat(dir.as_fd(), b"f", libc::O_RDONLY).unwrap(), 0).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EFBIG));
    }
}
