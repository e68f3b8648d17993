//! Pure decisions of the shim: no FFI, no state, unit-tested.

use libc::c_int;

/// The flags `socket()` accepts or'ed into its `type` argument.
const TYPE_FLAGS: c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// What the shim did with one `socket()` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a TCP stream socket: passed through as asked.
    Untouched,
    /// Opened as MPTCP.
    Converted,
    /// MPTCP failed with `failure`; the caller's own call was made instead.
    /// `remembered`: the error means MPTCP is absent, later calls skip it.
    FellBack { failure: c_int, remembered: bool },
    /// MPTCP is known to be absent (an earlier call failed with `failure`
    /// and the TCP retry worked): plain TCP straight away.
    KnownAbsent { failure: c_int },
    /// MPTCP failed with `failure` and `--require-mptcp` forbids falling
    /// back: the caller's `socket()` fails with that error.
    Refused { failure: c_int },
}

/// Whether `socket(domain, ty, protocol)` asks for a TCP stream socket that
/// should be opened as MPTCP instead: IPv4 or IPv6, `SOCK_STREAM` with at most the
/// documented flags, and the default or explicit TCP protocol.
pub fn should_convert(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    (domain == libc::AF_INET || domain == libc::AF_INET6)
        && ty & !TYPE_FLAGS == libc::SOCK_STREAM
        && (protocol == 0 || protocol == libc::IPPROTO_TCP)
}

/// Whether a failed MPTCP `socket()` means MPTCP itself is missing here (off by
/// sysctl, not built in, or a kernel older than 5.6), as opposed to a failure any
/// socket would have had (no memory, descriptor limit, family not supported).
pub fn means_mptcp_absent(errno: c_int) -> bool {
    matches!(
        errno,
        libc::ENOPROTOOPT | libc::EPROTONOSUPPORT | libc::EINVAL
    )
}

/// Whether a failed `setsockopt()` on an MPTCP socket may be one that plain
/// TCP accepts (the contract's, which the seccomp supervisor shares).
pub use mptcpize_contract::swap_options::mptcp_rejects;

/// The destination of a `connect()` address and whether a `getsockname()`
/// address is bound: the contract's, which the seccomp supervisor shares.
pub use mptcpize_contract::rules::{destination, is_bound};

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{
        AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, IPPROTO_MPTCP, IPPROTO_TCP, IPPROTO_UDP,
        SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM,
    };

    #[test]
    fn tcp_stream_sockets_are_converted() {
        for domain in [AF_INET, AF_INET6] {
            for protocol in [0, IPPROTO_TCP] {
                for flags in [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC] {
                    assert!(should_convert(domain, SOCK_STREAM | flags, protocol));
                }
            }
        }
    }

    #[test]
    fn other_sockets_are_untouched() {
        assert!(!should_convert(AF_UNIX, SOCK_STREAM, 0));
        assert!(!should_convert(AF_NETLINK, SOCK_RAW, 0));
        assert!(!should_convert(AF_INET, SOCK_DGRAM, 0));
        assert!(!should_convert(AF_INET6, SOCK_DGRAM, IPPROTO_UDP));
        assert!(!should_convert(AF_INET, SOCK_SEQPACKET, 0));
        assert!(!should_convert(AF_INET, SOCK_RAW, IPPROTO_TCP));
        // Already MPTCP, or another stream protocol (SCTP): leave as asked.
        assert!(!should_convert(AF_INET, SOCK_STREAM, IPPROTO_MPTCP));
        assert!(!should_convert(AF_INET, SOCK_STREAM, libc::IPPROTO_SCTP));
        // Unknown flag bits: let the kernel judge the original call.
        assert!(!should_convert(AF_INET, SOCK_STREAM | 0x4000_0000, 0));
    }

    #[test]
    fn rejected_options() {
        assert!(mptcp_rejects(libc::ENOPROTOOPT));
        assert!(mptcp_rejects(libc::EOPNOTSUPP));
        assert!(!mptcp_rejects(libc::EINVAL));
        assert!(!mptcp_rejects(libc::EBADF));
    }

    #[test]
    fn absence_errors() {
        assert!(means_mptcp_absent(libc::ENOPROTOOPT));
        assert!(means_mptcp_absent(libc::EPROTONOSUPPORT));
        assert!(means_mptcp_absent(libc::EINVAL));
        assert!(!means_mptcp_absent(libc::EMFILE));
        assert!(!means_mptcp_absent(libc::ENOBUFS));
        assert!(!means_mptcp_absent(libc::EAFNOSUPPORT));
        assert!(!means_mptcp_absent(libc::EACCES));
    }
}
