//! The socket options a swap to plain TCP carries: every option MPTCP
//! accepts and reads back (checked on kernel 6.18). The shim's swap
//! (`preload/src/swap.rs`) and the seccomp supervisor's
//! (`launcher/src/engine/seccomp/swap.rs`) carry the same list, so a swap
//! is as invisible with either engine.
//!
//! Also the options MPTCP rejects ([`REJECTED`]) and the pure judgement of
//! one set on a fresh TCP socket ([`judge`]): the shim's `setsockopt`
//! detour and the seccomp supervisor's trap decide alike, and the
//! supervisor's filter traps exactly these names.

use libc::c_int;

/// A socket option: its level, its number and its name. The name is held
/// in the entry, not behind a pointer, so the shim's tables of options need
/// no relocation when the dynamic loader maps the library (issue 20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockOpt {
    pub level: c_int,
    pub name: c_int,
    text: [u8; NAME_MAX],
    len: u8,
}

/// The longest option name held (`TCP_THIN_LINEAR_TIMEOUTS`).
const NAME_MAX: usize = 24;

impl SockOpt {
    /// Its name, as the C headers spell it.
    pub fn text(&self) -> &str {
        // Copied from a `&str` by `opt`, so always UTF-8.
        core::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("?")
    }

    /// Whether it is option `name` at `level`.
    pub fn is(&self, level: c_int, name: c_int) -> bool {
        (self.level, self.name) == (level, name)
    }
}

/// One table entry (the build fails on a name longer than `NAME_MAX`).
const fn opt(level: c_int, name: c_int, text: &str) -> SockOpt {
    let bytes = text.as_bytes();
    assert!(bytes.len() <= NAME_MAX, "option name longer than NAME_MAX");
    let mut held = [0u8; NAME_MAX];
    let mut i = 0;
    while i < bytes.len() {
        held[i] = bytes[i];
        i += 1;
    }
    SockOpt {
        level,
        name,
        text: held,
        len: bytes.len() as u8,
    }
}

/// Options copied to the TCP socket when their value differs from a fresh
/// TCP socket's: every option MPTCP accepts and reads back (checked on
/// kernel 6.18). Also names options in the debug log.
pub const OPTIONS: &[SockOpt] = &[
    opt(libc::SOL_SOCKET, libc::SO_REUSEADDR, "SO_REUSEADDR"),
    opt(libc::SOL_SOCKET, libc::SO_REUSEPORT, "SO_REUSEPORT"),
    opt(libc::SOL_SOCKET, libc::SO_KEEPALIVE, "SO_KEEPALIVE"),
    opt(libc::SOL_SOCKET, libc::SO_RCVBUF, "SO_RCVBUF"),
    opt(libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF"),
    opt(libc::SOL_SOCKET, libc::SO_LINGER, "SO_LINGER"),
    opt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, "SO_RCVTIMEO"),
    opt(libc::SOL_SOCKET, libc::SO_SNDTIMEO, "SO_SNDTIMEO"),
    opt(libc::SOL_SOCKET, libc::SO_RCVLOWAT, "SO_RCVLOWAT"),
    opt(libc::SOL_SOCKET, libc::SO_PRIORITY, "SO_PRIORITY"),
    opt(libc::SOL_SOCKET, libc::SO_MARK, "SO_MARK"),
    opt(libc::SOL_SOCKET, libc::SO_BINDTODEVICE, "SO_BINDTODEVICE"),
    opt(libc::SOL_SOCKET, SO_BINDTOIFINDEX, "SO_BINDTOIFINDEX"),
    opt(libc::SOL_SOCKET, libc::SO_DEBUG, "SO_DEBUG"),
    opt(libc::SOL_SOCKET, libc::SO_INCOMING_CPU, "SO_INCOMING_CPU"),
    opt(libc::SOL_SOCKET, libc::SO_BUSY_POLL, "SO_BUSY_POLL"),
    opt(libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL"),
    opt(libc::SOL_SOCKET, libc::SO_TIMESTAMP, "SO_TIMESTAMP"),
    opt(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, "SO_TIMESTAMPNS"),
    opt(libc::SOL_SOCKET, SO_TIMESTAMP_NEW, "SO_TIMESTAMP_NEW"),
    opt(libc::SOL_SOCKET, SO_TIMESTAMPNS_NEW, "SO_TIMESTAMPNS_NEW"),
    opt(libc::SOL_SOCKET, libc::SO_TIMESTAMPING, "SO_TIMESTAMPING"),
    opt(libc::SOL_IP, libc::IP_TOS, "IP_TOS"),
    opt(libc::SOL_IP, libc::IP_FREEBIND, "IP_FREEBIND"),
    opt(libc::SOL_IP, libc::IP_TRANSPARENT, "IP_TRANSPARENT"),
    opt(
        libc::SOL_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        "IP_BIND_ADDRESS_NO_PORT",
    ),
    opt(libc::SOL_IP, IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE"),
    opt(libc::SOL_IPV6, libc::IPV6_V6ONLY, "IPV6_V6ONLY"),
    opt(libc::SOL_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND"),
    opt(libc::SOL_IPV6, IPV6_TRANSPARENT, "IPV6_TRANSPARENT"),
    opt(libc::SOL_TCP, libc::TCP_NODELAY, "TCP_NODELAY"),
    opt(libc::SOL_TCP, libc::TCP_CORK, "TCP_CORK"),
    opt(libc::SOL_TCP, libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
    opt(libc::SOL_TCP, libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
    opt(libc::SOL_TCP, libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
    opt(libc::SOL_TCP, libc::TCP_CONGESTION, "TCP_CONGESTION"),
    opt(libc::SOL_TCP, libc::TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT"),
    opt(libc::SOL_TCP, libc::TCP_FASTOPEN, "TCP_FASTOPEN"),
    opt(
        libc::SOL_TCP,
        libc::TCP_FASTOPEN_CONNECT,
        "TCP_FASTOPEN_CONNECT",
    ),
    opt(libc::SOL_TCP, libc::TCP_MAXSEG, "TCP_MAXSEG"),
    opt(libc::SOL_TCP, libc::TCP_INQ, "TCP_INQ"),
    opt(libc::SOL_TCP, libc::TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT"),
];

/// Options carried through another entry of [`OPTIONS`]: the forced buffer
/// sizes read back as `SO_RCVBUF`/`SO_SNDBUF` (and are forced again when
/// needed), the 64-bit timeouts as `SO_RCVTIMEO`/`SO_SNDTIMEO`.
pub const ALSO_CARRIED: &[SockOpt] = &[
    opt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, "SO_RCVBUFFORCE"),
    opt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, "SO_SNDBUFFORCE"),
    opt(libc::SOL_SOCKET, SO_RCVTIMEO_NEW, "SO_RCVTIMEO_NEW"),
    opt(libc::SOL_SOCKET, SO_SNDTIMEO_NEW, "SO_SNDTIMEO_NEW"),
];

/// Options MPTCP rejects (checked on kernel 6.18: ENOPROTOOPT or
/// EOPNOTSUPP): setting one is judged on a fresh TCP socket ([`judge`]),
/// and reading one on an MPTCP socket is answered with a fresh TCP
/// socket's value, the only value it can have, since MPTCP never took
/// another (except those in [`READ_BY_MPTCP`]). Also names options in the
/// debug log.
pub const REJECTED: &[SockOpt] = &[
    opt(libc::SOL_TCP, libc::TCP_SYNCNT, "TCP_SYNCNT"),
    opt(libc::SOL_TCP, libc::TCP_LINGER2, "TCP_LINGER2"),
    opt(libc::SOL_TCP, libc::TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP"),
    opt(libc::SOL_TCP, libc::TCP_QUICKACK, "TCP_QUICKACK"),
    opt(libc::SOL_TCP, libc::TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT"),
    opt(libc::SOL_TCP, TCP_TX_DELAY, "TCP_TX_DELAY"),
    opt(
        libc::SOL_TCP,
        libc::TCP_THIN_LINEAR_TIMEOUTS,
        "TCP_THIN_LINEAR_TIMEOUTS",
    ),
    opt(libc::SOL_TCP, libc::TCP_SAVE_SYN, "TCP_SAVE_SYN"),
    opt(libc::SOL_TCP, libc::TCP_MD5SIG, "TCP_MD5SIG"),
    opt(libc::SOL_IP, libc::IP_TTL, "IP_TTL"),
    opt(libc::SOL_IP, libc::IP_RECVERR, "IP_RECVERR"),
    opt(libc::SOL_IP, libc::IP_MTU_DISCOVER, "IP_MTU_DISCOVER"),
    opt(libc::SOL_IPV6, libc::IPV6_TCLASS, "IPV6_TCLASS"),
    opt(libc::SOL_SOCKET, libc::SO_OOBINLINE, "SO_OOBINLINE"),
];

/// Rejected options MPTCP still reads (`getsockopt` answers): its answer
/// stands, so reading them is never redirected.
pub const READ_BY_MPTCP: &[(c_int, c_int)] = &[(libc::SOL_SOCKET, libc::SO_OOBINLINE)];

/// Whether MPTCP rejects setting option `(level, name)` (see [`REJECTED`]).
pub fn rejected(level: c_int, name: c_int) -> bool {
    REJECTED.iter().any(|option| option.is(level, name))
}

/// Whether MPTCP rejects reading option `(level, name)`: a fresh TCP
/// socket's value answers instead.
pub fn rejected_read(level: c_int, name: c_int) -> bool {
    rejected(level, name) && !READ_BY_MPTCP.contains(&(level, name))
}

/// Whether a failed `setsockopt()` on an MPTCP socket may be one that
/// plain TCP accepts: the errors MPTCP gives for options it does not
/// implement.
pub fn mptcp_rejects(errno: c_int) -> bool {
    errno == libc::ENOPROTOOPT || errno == libc::EOPNOTSUPP
}

/// What setting a rejected option means, judged on a fresh TCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// TCP rejects it too, with this errno: the program gets that.
    Rejected(c_int),
    /// It leaves the socket as it was (`TCP_USER_TIMEOUT=0`): success, and
    /// the socket stays MPTCP.
    Unchanged,
    /// A real change: only a TCP socket can hold it (a swap, if invisible).
    Changes,
}

/// Judges a rejected option from what the fresh TCP socket said: `set`,
/// the result of setting it (an errno on failure), and its value read
/// before and after (`None`: unreadable, which counts as a change).
pub fn judge(set: Result<(), c_int>, before: Option<&[u8]>, after: Option<&[u8]>) -> Judgement {
    match (set, before, after) {
        (Err(errno), _, _) => Judgement::Rejected(errno),
        (Ok(()), Some(before), Some(after)) if before == after => Judgement::Unchanged,
        (Ok(()), _, _) => Judgement::Changes,
    }
}

// Linux option numbers the libc crate may not name on every target.
const SO_BINDTOIFINDEX: c_int = 62;
const SO_PREFER_BUSY_POLL: c_int = 69;
const SO_TIMESTAMP_NEW: c_int = 63;
const SO_TIMESTAMPNS_NEW: c_int = 64;
const SO_RCVTIMEO_NEW: c_int = 66;
const SO_SNDTIMEO_NEW: c_int = 67;
const IP_LOCAL_PORT_RANGE: c_int = 51;
const IPV6_TRANSPARENT: c_int = 75;
const IPV6_FREEBIND: c_int = 78;
const TCP_TX_DELAY: c_int = 37;

/// For a buffer size the program may have forced beyond the sysctl
/// maximum (`SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`): the option that sets it
/// again so, where setting it plainly did not give the same.
pub fn forced(level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => Some(libc::SO_RCVBUFFORCE),
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => Some(libc::SO_SNDBUFFORCE),
        _ => None,
    }
}

/// Turns an option's value as read back from one socket (`value[..len]`)
/// into what `setsockopt()` takes to give another socket the same, in
/// place, and returns the length to pass: the kernel reports `SO_RCVBUF`
/// and `SO_SNDBUF` doubled (its bookkeeping share) and `TCP_CONGESTION` as
/// a NUL-padded name. Shared by the shim's swap and the supervisor's.
pub fn value_to_set(level: libc::c_int, name: libc::c_int, value: &mut [u8], len: usize) -> usize {
    let buffer = level == libc::SOL_SOCKET && (name == libc::SO_RCVBUF || name == libc::SO_SNDBUF);
    if buffer && len == 4 {
        let halved = libc::c_int::from_ne_bytes([value[0], value[1], value[2], value[3]]) / 2;
        value[..4].copy_from_slice(&halved.to_ne_bytes());
    }
    if level == libc::SOL_TCP && name == libc::TCP_CONGESTION {
        return value[..len].iter().position(|&b| b == 0).unwrap_or(len);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_become_values_to_set() {
        let mut buffer = 8192i32.to_ne_bytes();
        let len = value_to_set(libc::SOL_SOCKET, libc::SO_RCVBUF, &mut buffer, 4);
        assert_eq!((i32::from_ne_bytes(buffer), len), (4096, 4));
        let mut name = *b"cubic\0\0\0";
        assert_eq!(
            value_to_set(libc::SOL_TCP, libc::TCP_CONGESTION, &mut name, 8),
            5
        );
        let mut other = 7i32.to_ne_bytes();
        assert_eq!(
            value_to_set(libc::SOL_TCP, libc::TCP_NODELAY, &mut other, 4),
            4
        );
        assert_eq!(i32::from_ne_bytes(other), 7);
        assert_eq!(
            forced(libc::SOL_SOCKET, libc::SO_SNDBUF),
            Some(libc::SO_SNDBUFFORCE)
        );
        assert_eq!(forced(libc::SOL_TCP, libc::TCP_NODELAY), None);
    }

    #[test]
    fn judgements() {
        assert_eq!(
            judge(Err(libc::EINVAL), None, None),
            Judgement::Rejected(libc::EINVAL)
        );
        let zero = 0i32.to_ne_bytes();
        let five = 5000i32.to_ne_bytes();
        assert_eq!(
            judge(Ok(()), Some(&zero), Some(&zero)),
            Judgement::Unchanged
        );
        assert_eq!(judge(Ok(()), Some(&zero), Some(&five)), Judgement::Changes);
        assert_eq!(judge(Ok(()), None, Some(&five)), Judgement::Changes);
        assert_eq!(
            judge(Ok(()), Some(&zero), Some(&zero[..2])),
            Judgement::Changes
        );
    }

    #[test]
    fn rejected_options() {
        assert!(rejected(libc::SOL_TCP, libc::TCP_USER_TIMEOUT));
        assert!(rejected_read(libc::SOL_TCP, libc::TCP_USER_TIMEOUT));
        assert!(rejected(libc::SOL_SOCKET, libc::SO_OOBINLINE));
        assert!(!rejected_read(libc::SOL_SOCKET, libc::SO_OOBINLINE));
        assert!(!rejected(libc::SOL_TCP, libc::TCP_NODELAY));
        assert!(mptcp_rejects(libc::ENOPROTOOPT));
        assert!(mptcp_rejects(libc::EOPNOTSUPP));
        assert!(!mptcp_rejects(libc::EINVAL));
        // No option is both carried and rejected.
        for option in OPTIONS {
            assert!(!rejected(option.level, option.name), "{}", option.text());
        }
        assert_eq!(OPTIONS[0].text(), "SO_REUSEADDR");
        let longest = REJECTED.iter().map(|option| option.text().len()).max();
        assert_eq!(longest, Some(NAME_MAX));
    }
}
