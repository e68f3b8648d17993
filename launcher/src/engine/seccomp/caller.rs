//! What the supervisor reads of a caller for a connect-time swap: the
//! `connect()` address in its memory, and its descriptor table as `/proc`
//! shows it (another descriptor on the same socket, its epoll instances
//! and their registrations, close-on-exec, the processes it started).
//!
//! Everything here is read while the caller waits in its system call, and
//! is only a basis for a decision the kernel checks again where it can
//! (`SECCOMP_IOCTL_NOTIF_ID_VALID`, and `SECCOMP_IOCTL_NOTIF_ADDFD` failing
//! once the call is gone). Reading another process's memory and copying
//! its descriptors need ptrace access to it (`PTRACE_MODE_ATTACH`): a
//! supervisor that lacks it gets an error, and the socket stays MPTCP. The
//! parsers are pure and unit-tested.

use std::io;
use std::os::fd::RawFd;

/// Descriptors of the caller examined at most; a process with more is not
/// swapped (the walk would cost more than the swap saves, and every thread
/// of the program waiting on the supervisor waits for it).
pub const MAX_FDS: usize = 4096;
/// Epoll instances of the caller examined at most.
pub const MAX_EPOLLS: usize = 64;
/// Registrations of one socket carried at most (as the shim).
pub const MAX_REGISTRATIONS: usize = 8;
/// Processes below the caller examined at most.
pub const MAX_DESCENDANTS: usize = 64;
/// Bytes of one epoll instance's fdinfo read at most (about 10,000
/// registrations); a longer one means no swap.
pub const MAX_FDINFO: u64 = 1 << 20;

/// Copies `buf.len()` bytes at `addr` of thread `tid`'s memory
/// (`process_vm_readv`): the bytes read, fewer if the range ends early.
pub fn read_memory(tid: u32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the kernel writes at most `buf.len()` bytes into our buffer;
    // the remote range is only read, in the other process, by the kernel.
    let n = unsafe { libc::process_vm_readv(tid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Writes `buf` at `addr` of thread `tid`'s memory (`process_vm_writev`):
/// the bytes written, fewer if the range ends early. Only for a caller
/// that waits in a call whose result is that memory (`getsockopt`).
pub fn write_memory(tid: u32, addr: u64, buf: &[u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the kernel only reads `buf.len()` bytes of our buffer; the
    // remote range is written in the other process, by the kernel, which
    // checks it is mapped and writable there.
    let n = unsafe { libc::process_vm_writev(tid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The inet destination in a `connect()` address, and whether a
/// `getsockname()` address is bound: the contract's, which the shim shares.
pub use mptcpize_contract::rules::{destination, is_bound};

/// The thread group (process) of thread `tid`, from `/proc/TID/status`.
pub fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status_field(&status, "Tgid:")?.parse().ok()
}

/// Whether descriptor `fd` of process `pid` is the open file `ours` holds
/// (`kcmp(KCMP_FILE)`); true where the kernel has no `kcmp` (the check is
/// then lost, not the swap).
pub fn same_file(pid: u32, fd: RawFd, ours: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    const KCMP_FILE: libc::c_int = 0;
    // SAFETY: kcmp compares two kernel objects by process and descriptor
    // number; it reads no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            std::process::id() as libc::pid_t,
            pid as libc::pid_t,
            KCMP_FILE,
            ours.as_raw_fd(),
            fd,
        )
    };
    rc == 0 || (rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
}

fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    Some(
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim(),
    )
}

/// What the caller's descriptor table holds besides descriptor `fd`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Another descriptor holds the same socket.
    pub shared: bool,
    /// Descriptors of epoll instances.
    pub epolls: Vec<RawFd>,
}

/// Walks `/proc/TID/fd` for other descriptors on socket `inode` than `fd`
/// and for epoll instances. `Err` says why the table cannot be judged.
pub fn table(tid: u32, fd: RawFd, inode: u64) -> Result<Table, &'static str> {
    let dir = format!("/proc/{tid}/fd");
    let entries = std::fs::read_dir(&dir).map_err(|_| "the caller's descriptors (/proc)")?;
    let own = format!("socket:[{inode}]");
    let mut table = Table::default();
    for (count, entry) in entries.enumerate() {
        if count >= MAX_FDS {
            return Err("more descriptors than the supervisor examines");
        }
        let Ok(entry) = entry else { continue };
        let Some(number) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // A descriptor closed meanwhile has no link any more: not ours.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.as_os_str().as_encoded_bytes();
        if number != fd && target == own.as_bytes() {
            table.shared = true;
        } else if target == b"anon_inode:[eventpoll]" {
            if table.epolls.len() >= MAX_EPOLLS {
                return Err("more epoll instances than the supervisor examines");
            }
            table.epolls.push(number);
        }
    }
    Ok(table)
}

/// One registration of the socket in an epoll instance, as fdinfo shows
/// it: the descriptor number it was added under, events and data word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration {
    pub epfd: RawFd,
    pub tfd: RawFd,
    pub events: u32,
    pub data: u64,
}

/// The registrations of socket `inode` in epoll instance `epfd` of thread
/// `tid`, from `/proc/TID/fdinfo/EPFD`. `None` when it cannot be read.
pub fn registrations_in(tid: u32, epfd: RawFd, inode: u64) -> Option<Vec<Registration>> {
    use std::io::Read;
    let file = std::fs::File::open(format!("/proc/{tid}/fdinfo/{epfd}")).ok()?;
    let mut text = String::new();
    file.take(MAX_FDINFO).read_to_string(&mut text).ok()?;
    if text.len() as u64 >= MAX_FDINFO {
        return None;
    }
    Some(
        text.lines()
            .filter_map(registration_in_line)
            .filter(|&(_, _, _, ino)| ino == inode)
            .map(|(tfd, events, data, _)| Registration {
                epfd,
                tfd,
                events,
                data,
            })
            .collect(),
    )
}

/// Parses one fdinfo line of an epoll descriptor,
/// `tfd:        5 events:       19 data:                5  pos:0 ino:1b3e sdev:9`:
/// target descriptor, events, data word and target inode (pure).
pub fn registration_in_line(line: &str) -> Option<(RawFd, u32, u64, u64)> {
    let mut words = line.split_whitespace();
    let mut field = |name: &str, radix: u32| -> Option<u64> {
        if words.next()? != name {
            return None;
        }
        u64::from_str_radix(words.next()?, radix).ok()
    };
    let tfd = RawFd::try_from(field("tfd:", 10)?).ok()?;
    let events = u32::try_from(field("events:", 16)?).ok()?;
    let data = field("data:", 16)?;
    let ino = words.find_map(|w| w.strip_prefix("ino:"))?;
    Some((tfd, events, data, u64::from_str_radix(ino, 16).ok()?))
}

/// Whether descriptor `fd` of thread `tid` is close-on-exec, from the
/// `flags:` line (octal) of `/proc/TID/fdinfo/FD`.
pub fn close_on_exec(tid: u32, fd: RawFd) -> Option<bool> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    fdinfo_cloexec(&text)
}

/// The close-on-exec bit of an fdinfo text (pure).
pub fn fdinfo_cloexec(text: &str) -> Option<bool> {
    let flags = status_field(text, "flags:")?;
    let flags = u32::from_str_radix(flags, 8).ok()?;
    Some(flags & libc::O_CLOEXEC as u32 != 0)
}

/// Whether a process started by process `tgid` (and theirs, down the tree)
/// holds socket `inode`: a `fork()` after `socket()` shares it, and a swap
/// would leave the copy on the old socket. `Err` when it cannot be told.
pub fn descendants_hold(tgid: u32, inode: u64) -> Result<bool, &'static str> {
    let own = format!("socket:[{inode}]");
    let mut queue = vec![tgid];
    let mut seen = 0usize;
    while let Some(pid) = queue.pop() {
        for child in children(pid)? {
            seen += 1;
            if seen > MAX_DESCENDANTS {
                return Err("more processes than the supervisor examines");
            }
            let Ok(entries) = std::fs::read_dir(format!("/proc/{child}/fd")) else {
                // Gone meanwhile: it holds nothing.
                continue;
            };
            for entry in entries.take(MAX_FDS).flatten() {
                if std::fs::read_link(entry.path())
                    .is_ok_and(|target| target.as_os_str().as_encoded_bytes() == own.as_bytes())
                {
                    return Ok(true);
                }
            }
            queue.push(child);
        }
    }
    Ok(false)
}

/// The children of every thread of process `pid` (`/proc/PID/task/*/children`).
fn children(pid: u32) -> Result<Vec<u32>, &'static str> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        // Gone meanwhile: no children any more.
        return Ok(Vec::new());
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        match std::fs::read_to_string(task.path().join("children")) {
            Ok(text) => children.extend(parse_pids(&text)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                // A thread that just exited has no file; a kernel without
                // CONFIG_PROC_CHILDREN has none for any thread.
                if !task.path().exists() {
                    continue;
                }
                return Err("the caller's children (no /proc/PID/task/TID/children)");
            }
            Err(_) => continue,
        }
    }
    Ok(children)
}

/// The PIDs of a `children` file: decimal numbers separated by spaces.
fn parse_pids(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.split_whitespace().filter_map(|pid| pid.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::fs::MetadataExt;

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut addr = vec![0u8; 16];
        addr[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        addr[2..4].copy_from_slice(&port.to_be_bytes());
        addr[4..8].copy_from_slice(&ip);
        addr
    }

    fn sockaddr_in6(ip: [u8; 16], port: u16) -> Vec<u8> {
        let mut addr = vec![0u8; 28];
        addr[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        addr[2..4].copy_from_slice(&port.to_be_bytes());
        addr[8..24].copy_from_slice(&ip);
        addr
    }

    #[test]
    fn destinations() {
        let v4 = destination(&sockaddr_in([127, 0, 0, 1], 8080)).unwrap();
        assert_eq!(
            v4,
            (mptcpize_contract::rules::mapped_v4([127, 0, 0, 1]), 8080)
        );
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(destination(&sockaddr_in6(one, 443)), Some((one, 443)));
        // Short, or another family (AF_UNSPEC disconnects, AF_UNIX).
        assert_eq!(destination(&sockaddr_in([1, 2, 3, 4], 1)[..15]), None);
        assert_eq!(destination(&sockaddr_in6(one, 1)[..27]), None);
        let mut unspec = sockaddr_in([1, 2, 3, 4], 1);
        unspec[..2].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(destination(&unspec), None);
        assert_eq!(destination(&[]), None);
        assert!(is_bound(&sockaddr_in([0; 4], 80)));
        assert!(is_bound(&sockaddr_in([10, 0, 0, 1], 0)));
        assert!(!is_bound(&sockaddr_in([0; 4], 0)));
        assert!(!is_bound(&sockaddr_in6([0; 16], 0)));
    }

    #[test]
    fn fdinfo_lines() {
        let line = "tfd:        5 events: 40000000 data:             1234  pos:0 ino:4964 sdev:9";
        assert_eq!(
            registration_in_line(line),
            Some((5, 0x4000_0000, 0x1234, 0x4964))
        );
        assert_eq!(registration_in_line("pos:\t0"), None);
        assert_eq!(registration_in_line("tfd: 5 events: zz data: 1"), None);
        assert_eq!(registration_in_line(""), None);
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t8\nino:\t123\n";
        assert_eq!(fdinfo_cloexec(text), Some(true));
        assert_eq!(fdinfo_cloexec("flags:\t04002\n"), Some(false));
        assert_eq!(fdinfo_cloexec("pos: 0\n"), None);
        assert_eq!(parse_pids("12 345 \n").collect::<Vec<_>>(), [12, 345]);
    }

    /// This process as the caller: its own socket, a dup of it, and an
    /// epoll instance that holds it, as /proc shows them.
    #[test]
    fn own_table_registrations_and_flags() {
        let socket =
            crate::kernel::fd::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
                .unwrap();
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
            .unwrap()
            .ino();
        let tid = std::process::id();
        let fd = socket.as_raw_fd();
        let alone = table(tid, fd, inode).unwrap();
        assert!(!alone.shared);
        let copy = socket.try_clone().unwrap();
        assert!(table(tid, fd, inode).unwrap().shared);
        drop(copy);
        // SAFETY: epoll_create1 returns a new descriptor we own.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(epoll >= 0);
        let mut event = libc::epoll_event {
            events: (libc::EPOLLOUT | libc::EPOLLET) as u32,
            u64: 0xfeed,
        };
        // SAFETY: valid descriptors and a live event.
        let added = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
        assert_eq!(added, 0);
        let found = table(tid, fd, inode).unwrap();
        assert!(found.epolls.contains(&epoll), "{found:?}");
        let registrations = registrations_in(tid, epoll, inode).unwrap();
        assert_eq!(
            registrations,
            [Registration {
                epfd: epoll,
                tfd: fd,
                // The kernel always adds EPOLLERR and EPOLLHUP.
                events: (libc::EPOLLOUT | libc::EPOLLET | libc::EPOLLERR | libc::EPOLLHUP) as u32,
                data: 0xfeed,
            }]
        );
        // SAFETY: closing the epoll descriptor we created.
        unsafe { libc::close(epoll) };
        assert_eq!(close_on_exec(tid, fd), Some(true));
        assert_eq!(thread_group(tid), Some(tid));
        // A process without children holds nothing of ours (this test
        // process may be forking for other tests at any moment).
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(descendants_hold(sleeper.id(), inode), Ok(false));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        let _ = socket.as_fd();
    }

    #[test]
    fn own_memory_reads_back() {
        let bytes = *b"sockaddr";
        let mut buf = [0u8; 8];
        let n = read_memory(std::process::id(), bytes.as_ptr() as u64, &mut buf).unwrap();
        assert_eq!((n, buf), (8, bytes));
        assert!(read_memory(std::process::id(), 8, &mut buf).is_err());
    }
}
