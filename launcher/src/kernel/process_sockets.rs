//! The TCP-family sockets of another process, as the kernel sees them.
//!
//! Each socket descriptor listed in `/proc/PID/fd` is duplicated into this
//! process with `pidfd_getfd(2)` (Linux 5.6+, needs the right to ptrace the
//! target, so usually root), and asked for its family, type and protocol
//! with `getsockopt`: the protocol number is exactly what tells MPTCP (262)
//! from TCP (6). The duplicate is closed at once; the target never notices,
//! except on cgroup v1 with the `net_cls` or `net_prio` controller, where
//! receiving a socket moves its class id and priority index to the
//! receiver's cgroup: there the sockets are not duplicated at all.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::fd;

/// One IPv4/IPv6 stream socket of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFamilySocket {
    pub fd: RawFd,
    /// `IPPROTO_TCP` (6) or `IPPROTO_MPTCP` (262).
    pub protocol: i32,
}

impl TcpFamilySocket {
    pub fn is_mptcp(&self) -> bool {
        self.protocol == libc::IPPROTO_MPTCP
    }
}

/// Every IPv4/IPv6 stream socket the process `pid` has open.
pub fn tcp_family_sockets(pid: i32) -> io::Result<Vec<TcpFamilySocket>> {
    let cgroups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if uses_v1_net_classes(&cgroups) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cgroup v1 net_cls/net_prio is in use, and duplicating another \
             process's socket would change its class",
        ));
    }
    let pidfd = fd::pidfd_open(pid)?;
    let mut sockets = Vec::new();
    for (fd, _inode) in socket_descriptors(pid)? {
        // The descriptor may have been closed since the listing: skip it.
        let Ok(copy) = fd::pidfd_getfd(&pidfd, fd) else {
            continue;
        };
        let option = |name| getsockopt_int(&copy, name);
        let (Ok(domain), Ok(kind), Ok(protocol)) = (
            option(libc::SO_DOMAIN),
            option(libc::SO_TYPE),
            option(libc::SO_PROTOCOL),
        ) else {
            continue;
        };
        if matches!(domain, libc::AF_INET | libc::AF_INET6) && kind == libc::SOCK_STREAM {
            sockets.push(TcpFamilySocket { fd, protocol });
        }
    }
    Ok(sockets)
}

/// `(fd, inode)` of every socket in `/proc/PID/fd`, by descriptor number.
/// A descriptor closed while the directory is read is left out.
pub fn socket_descriptors(pid: i32) -> io::Result<Vec<(RawFd, u64)>> {
    let mut fds = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        // A descriptor closed since the listing has no link any more.
        let Ok(link) = fs::read_link(entry.path()) else {
            continue;
        };
        let (Some(fd), Some(inode)) = (
            entry.file_name().to_str().and_then(|n| n.parse().ok()),
            parse_socket_link(&link.to_string_lossy()),
        ) else {
            continue;
        };
        fds.push((fd, inode));
    }
    fds.sort_unstable();
    Ok(fds)
}

/// The inode of a `/proc/PID/fd` link target `socket:[INODE]`.
pub fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Whether the process has the shim mapped (it is loaded, not just named in
/// its environment).
pub fn has_shim_loaded(pid: i32) -> io::Result<bool> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(maps
        .lines()
        .any(|line| line.ends_with(crate::engine::preload::shim::SHIM_FILE_NAME)))
}

/// Whether process `pid` runs under a seccomp filter (`Seccomp: 2` in its
/// status), as the seccomp engine puts every process it starts (and
/// systemd's `SystemCallFilter=` and the like too: see
/// [`holds_seccomp_listener`]).
pub fn has_seccomp_filter(pid: i32) -> io::Result<bool> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .any(|line| line.strip_prefix("Seccomp:").map(str::trim) == Some("2")))
}

/// Whether process `pid` holds a seccomp notification listener, as the
/// seccomp engine's supervisor does (reading another process's
/// descriptors needs root); false when it cannot be read.
pub fn holds_seccomp_listener(pid: i32) -> bool {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries.flatten().any(|entry| {
        fs::read_link(entry.path())
            .is_ok_and(|target| target.as_os_str() == "anon_inode:seccomp notify")
    })
}

/// Whether `/proc/self/cgroup` (its text) names a cgroup v1 hierarchy with
/// the `net_cls` or `net_prio` controller.
fn uses_v1_net_classes(cgroups: &str) -> bool {
    cgroups.lines().any(|line| {
        let controllers = line.split(':').nth(1).unwrap_or("");
        controllers
            .split(',')
            .any(|c| c == "net_cls" || c == "net_prio")
    })
}

fn getsockopt_int(socket: &OwnedFd, name: libc::c_int) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len describe a c_int buffer the kernel writes into.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn cgroup_v1_net_classes_are_recognised() {
        assert!(!uses_v1_net_classes("0::/user.slice/session-1.scope\n"));
        assert!(uses_v1_net_classes(
            "12:cpu,cpuacct:/\n4:net_cls,net_prio:/\n0::/\n"
        ));
        assert!(uses_v1_net_classes("3:net_prio:/x\n"));
        assert!(!uses_v1_net_classes("5:name=systemd:/\n"));
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link("socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link("pipe:[12345]"), None);
        assert_eq!(parse_socket_link("socket:[x]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
    }

    #[test]
    fn sees_own_tcp_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let own = std::process::id() as i32;
        // A process may always pidfd_getfd from itself (same credentials).
        let sockets = tcp_family_sockets(own).unwrap();
        let found = sockets.iter().find(|s| s.fd == listener.as_raw_fd());
        let found = found.expect("the listener is listed");
        assert_eq!(found.protocol, libc::IPPROTO_TCP);
        assert!(!found.is_mptcp());
        assert!(!has_shim_loaded(own).unwrap());
    }
}
