//! Who is calling: the notifying thread's network namespace and, for a
//! privileged supervisor, its filesystem ids ([`super::credentials`]),
//! looked up once per notification.
//!
//! Through a pidfd where the kernel has the ioctls (`PIDFD_THREAD`, Linux
//! 6.9; `PIDFD_GET_NET_NAMESPACE`, 6.11; `PIDFD_GET_INFO`, 6.13): no path
//! is walked and no `/proc` text is rendered. Reading `/proc/TID/status`
//! and resolving `/proc/TID/ns/net` were most of the supervisor's own time
//! per socket (BENCHMARKS.md). Elsewhere, `/proc` as before; which way
//! works is learned on the first notification.
//!
//! The thread ID comes from the notification, in the supervisor's PID
//! namespace, and is only meaningful while the notification is pending.
//! The socket path does not check `SECCOMP_IOCTL_NOTIF_ID_VALID` after the
//! lookup: the answer it gives is by notification ID, installed only in the
//! thread that made the call, and fails (ENOENT) once that thread is gone;
//! what was learned of another thread that took its ID then acts on
//! nothing (see `respond.rs`).

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use super::credentials::{self, FsIds};
use super::respond::NetnsId;
use crate::kernel::fd;

/// What a socket made for the caller depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub netns: NetnsId,
    /// Its filesystem ids, when asked for.
    pub ids: Option<FsIds>,
    /// Its process (thread group), where the pidfd said (a connect-time
    /// swap keeps only the sockets the same process made).
    pub process: Option<u32>,
}

/// `_IO(PIDFS_IOCTL_MAGIC, 4)`.
const PIDFD_GET_NET_NAMESPACE: libc::c_ulong = 0xFF04;
/// `_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)` (its first, 64-byte
/// version).
const PIDFD_GET_INFO: libc::c_ulong = 0xC040_FF0B;
const PIDFD_INFO_CREDS: u64 = 1 << 1;

/// `struct pidfd_info`, its first version (`PIDFD_INFO_SIZE_VER0`).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    spare0: u32,
}

/// How many callers' pidfds are kept: a program's busy threads.
const KEPT_PIDFDS: usize = 64;

/// Looks callers up, remembering whether the pidfd way works here, and the
/// pidfds of recent callers: a thread that makes many sockets is opened
/// once. A kept pidfd names its thread for good: once that thread has
/// exited, every lookup through it fails (ESRCH), also when its thread ID
/// has been given to another, and it is opened again.
pub struct Lookup {
    pidfd_works: Cell<bool>,
    pidfds: RefCell<Vec<(u32, OwnedFd)>>,
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup {
            pidfd_works: Cell::new(true),
            pidfds: RefCell::new(Vec::new()),
        }
    }
}

impl Lookup {
    /// The calling thread `tid`'s network namespace, and its filesystem
    /// ids if `want_ids`.
    pub fn of_thread(&self, tid: u32, want_ids: bool) -> io::Result<Caller> {
        if self.pidfd_works.get() {
            match self.by_kept_pidfd(tid, want_ids) {
                Err(error) if unsupported(&error) => self.pidfd_works.set(false),
                result => return result,
            }
        }
        by_proc(tid, want_ids)
    }

    fn by_kept_pidfd(&self, tid: u32, want_ids: bool) -> io::Result<Caller> {
        let mut pidfds = self.pidfds.borrow_mut();
        if let Some(at) = pidfds.iter().position(|(kept, _)| *kept == tid) {
            match by_pidfd(&pidfds[at].1, want_ids) {
                Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {
                    pidfds.swap_remove(at);
                }
                result => return result,
            }
        }
        let pidfd = open_pidfd(tid)?;
        let caller = by_pidfd(&pidfd, want_ids)?;
        if pidfds.len() == KEPT_PIDFDS {
            pidfds.swap_remove(0);
        }
        pidfds.push((tid, pidfd));
        Ok(caller)
    }
}

/// Errors that mean "this kernel cannot", not "this caller is gone".
fn unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINVAL | libc::ENOTTY | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// A pidfd for thread `tid` (not only a thread group leader).
fn open_pidfd(tid: u32) -> io::Result<OwnedFd> {
    let tid = libc::pid_t::try_from(tid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    fd::pidfd_open_thread(tid)
}

fn by_pidfd(pidfd: &OwnedFd, want_ids: bool) -> io::Result<Caller> {
    // SAFETY: this ioctl returns a new descriptor; its argument must be 0
    // (the kernel refuses anything else with EINVAL).
    let netns = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_NET_NAMESPACE, 0) };
    let netns = std::fs::File::from(fd::new_descriptor(netns.into())?).metadata()?;
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_CREDS,
        ..PidfdInfo::default()
    };
    // SAFETY: the kernel fills at most the 64 bytes of `info` (its size is
    // in the request number).
    let rc = unsafe {
        libc::ioctl(
            pidfd.as_raw_fd(),
            PIDFD_GET_INFO,
            &mut info as *mut PidfdInfo,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if info.mask & PIDFD_INFO_CREDS == 0 {
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    Ok(Caller {
        netns: (netns.dev(), netns.ino()),
        ids: want_ids.then_some(FsIds {
            uid: info.fsuid,
            gid: info.fsgid,
        }),
        process: Some(info.tgid),
    })
}

fn by_proc(tid: u32, want_ids: bool) -> io::Result<Caller> {
    let netns = super::respond::netns_id(&tid.to_string())?;
    let ids = match want_ids {
        true => Some(credentials::of_thread(tid)?),
        false => None,
    };
    Ok(Caller {
        netns,
        ids,
        process: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways agree, on this thread and another one, with and without
    /// ids (Linux 6.18 here: the pidfd way is the one used).
    #[test]
    fn both_ways_agree() {
        assert_eq!(std::mem::size_of::<PidfdInfo>(), 64);
        let own = std::process::id();
        let found = by_pidfd(&open_pidfd(own).unwrap(), true).expect("a pidfd lookup on 6.13+");
        // /proc does not give the process; the pidfd does.
        let by_proc_own = by_proc(own, true).unwrap();
        assert_eq!(
            (found.netns, found.ids),
            (by_proc_own.netns, by_proc_own.ids)
        );
        assert_eq!(found.ids, Some(credentials::own()));
        assert_eq!(found.process, Some(own));
        let thread = std::thread::spawn(|| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() } as u32;
            let pidfd = open_pidfd(tid).unwrap();
            (
                by_pidfd(&pidfd, false).unwrap(),
                by_proc(tid, false).unwrap(),
            )
        });
        let (a, b) = thread.join().unwrap();
        assert_eq!((a.netns, a.ids), (b.netns, b.ids));
        assert_eq!(a.ids, None);
        // A thread's process is the thread group's.
        assert_eq!(a.process, Some(own));
        // A thread that does not exist: gone, not "unsupported".
        let gone = Lookup::default()
            .of_thread(i32::MAX as u32, true)
            .unwrap_err();
        assert!(!unsupported(&gone), "{gone}");
    }

    /// A kept pidfd is used again while its thread lives, and given up
    /// once it has exited: the thread ID then names nothing (or another).
    #[test]
    fn kept_pidfds_follow_their_thread() {
        let lookup = Lookup::default();
        let (tid, done) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tid.send(unsafe { libc::gettid() } as u32).unwrap();
            wait.recv().unwrap();
        });
        let tid = done.recv().unwrap();
        let first = lookup.of_thread(tid, true).unwrap();
        assert_eq!(lookup.of_thread(tid, true).unwrap(), first);
        assert_eq!(lookup.pidfds.borrow().len(), 1);
        go.send(()).unwrap();
        thread.join().unwrap();
        // join returns when the thread is done with its stack; the kernel
        // releases it a moment later (bounded wait).
        let mut result = lookup.of_thread(tid, true);
        for _ in 0..200 {
            if result.is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            result = lookup.of_thread(tid, true);
        }
        let error = result.unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH), "{error}");
        assert!(lookup.pidfds.borrow().is_empty());
    }
}
