//! Sockets the supervisor makes for a caller carry the caller's identity.
//!
//! The kernel stamps a new socket with its creator's filesystem user and
//! group: `sk_uid` (what `ip rule uidrange` and the `owner` match of
//! nftables/iptables see) and the file's credentials (`-m owner
//! --gid-owner`). The supervisor creates the socket, so without care a
//! program that dropped privileges (a root-started daemon now running as
//! `www-data`) would get sockets that look like root's. A privileged
//! supervisor therefore takes the calling thread's filesystem uid and gid
//! (through a pidfd, or `/proc/TID/status` on kernels before 6.13: see
//! [`super::lookup`]) for the one `socket()` call. An
//! unprivileged supervisor cannot, and need not: its callers run as the
//! same user (`no_new_privs` keeps set-ID programs from changing that).
//!
//! The cgroup is not carried: the supervisor runs in the program's cgroup
//! (the one `run` or the service started in), which covers cgroup-based
//! firewalls and accounting unless the program moves itself elsewhere.

use std::io;

/// A filesystem user and group id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsIds {
    pub uid: u32,
    pub gid: u32,
}

/// The filesystem ids in the text of `/proc/TID/status` (the fourth field of
/// its `Uid:` and `Gid:` lines).
pub fn parse_status(status: &str) -> Option<FsIds> {
    let fourth = |name: &str| -> Option<u32> {
        let line = status.lines().find_map(|line| line.strip_prefix(name))?;
        line.split_whitespace().nth(3)?.parse().ok()
    };
    Some(FsIds {
        uid: fourth("Uid:")?,
        gid: fourth("Gid:")?,
    })
}

/// The calling thread's filesystem ids.
pub fn of_thread(tid: u32) -> io::Result<FsIds> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
    parse_status(&status).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Whether `/proc` shows our own PID namespace (`/proc/self` is our PID),
/// so that a PID from a notification names the right `/proc/PID`.
pub fn proc_is_ours() -> bool {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|link| link.to_str()?.parse::<u32>().ok())
        == Some(std::process::id())
}

/// The supervisor's own filesystem ids.
pub fn own() -> FsIds {
    // SAFETY: geteuid/getegid have no preconditions; with no setfsuid in
    // effect the filesystem ids are the effective ones.
    unsafe {
        FsIds {
            uid: libc::geteuid(),
            gid: libc::getegid(),
        }
    }
}

/// Runs `make` with filesystem ids `ids` on this thread, then restores
/// `own`. `Err` when the kernel did not take them (no CAP_SETUID or
/// CAP_SETGID): `make` is not run.
pub fn with_fs_ids<T>(ids: FsIds, own: FsIds, make: impl FnOnce() -> T) -> io::Result<T> {
    // setfsuid/setfsgid report no error: ask back with an invalid id (-1).
    // They act on the calling thread only (glibc does not broadcast them).
    // SAFETY: plain system calls on our own credentials.
    let took = unsafe {
        libc::setfsgid(ids.gid);
        libc::setfsuid(ids.uid);
        libc::setfsuid(u32::MAX) as u32 == ids.uid && libc::setfsgid(u32::MAX) as u32 == ids.gid
    };
    let made = took.then(make);
    // SAFETY: as above, back to our own ids.
    let restored = unsafe {
        libc::setfsuid(own.uid);
        libc::setfsgid(own.gid);
        libc::setfsuid(u32::MAX) as u32 == own.uid && libc::setfsgid(u32::MAX) as u32 == own.gid
    };
    // Taking them worked, so giving them back does (we only ever go from
    // our own ids to the caller's and back); never go on with others'.
    assert!(
        restored,
        "could not restore the supervisor's filesystem ids"
    );
    made.ok_or_else(|| io::Error::from_raw_os_error(libc::EPERM))
}

/// Runs `make` with the filesystem ids of calling thread `tid` when they
/// are not `own` and we may take them (root); an unprivileged supervisor
/// runs as its callers' user anyway. `Err`: the caller's ids could not be
/// read or taken, and `make` was not run.
pub fn as_caller<T>(tid: u32, own: FsIds, make: impl FnOnce() -> T) -> io::Result<T> {
    if own.uid != 0 {
        return Ok(make());
    }
    let caller = of_thread(tid)?;
    if caller == own {
        return Ok(make());
    }
    with_fs_ids(caller, own, make)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystem_ids_are_the_fourth_field() {
        let status = "Name:\tnginx\nTgid:\t7\nUid:\t0\t33\t0\t33\nGid:\t0\t34\t0\t35\nGroups:\t\n";
        assert_eq!(parse_status(status), Some(FsIds { uid: 33, gid: 35 }));
        assert_eq!(parse_status("Uid:\t1 2 3\nGid:\t1 2 3 4\n"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn own_ids_round_trip() {
        assert!(proc_is_ours());
        let own = own();
        assert_eq!(with_fs_ids(own, own, || 5).unwrap(), 5);
        assert_eq!(of_thread(std::process::id()).unwrap(), own);
    }
}
