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

/// The destination of `connect()` from the bytes of its `sockaddr`: the
/// address as IPv6 (IPv4 mapped) and the port; `None` for other families
/// or short addresses (the kernel then judges the call, nothing is decided).
pub fn destination(addr: &[u8]) -> Option<([u8; 16], u16)> {
    let family = c_int::from(u16::from_ne_bytes([*addr.first()?, *addr.get(1)?]));
    let port = u16::from_be_bytes([*addr.get(2)?, *addr.get(3)?]);
    match family {
        libc::AF_INET if addr.len() >= size_of::<libc::sockaddr_in>() => Some((
            crate::rules::mapped_v4([addr[4], addr[5], addr[6], addr[7]]),
            port,
        )),
        libc::AF_INET6 if addr.len() >= size_of::<libc::sockaddr_in6>() => {
            Some((addr[8..24].try_into().ok()?, port))
        }
        _ => None,
    }
}

/// Whether a `getsockname()` result shows a bound socket: a port, or an
/// address (bound with IP_BIND_ADDRESS_NO_PORT, port still 0).
pub fn is_bound(addr: &[u8]) -> bool {
    match destination(addr) {
        Some((ip, port)) => port != 0 || (ip != [0; 16] && ip != crate::rules::mapped_v4([0; 4])),
        None => false,
    }
}

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

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; size_of::<libc::sockaddr_in>()];
        bytes[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
        bytes[2..4].copy_from_slice(&port.to_be_bytes());
        bytes[4..8].copy_from_slice(&ip);
        bytes
    }

    fn sockaddr_in6(ip: [u8; 16], port: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; size_of::<libc::sockaddr_in6>()];
        bytes[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
        bytes[2..4].copy_from_slice(&port.to_be_bytes());
        bytes[8..24].copy_from_slice(&ip);
        bytes
    }

    #[test]
    fn destinations() {
        let v4 = crate::rules::mapped_v4([127, 0, 0, 1]);
        assert_eq!(
            destination(&sockaddr_in([127, 0, 0, 1], 80)),
            Some((v4, 80))
        );
        let mut ip6 = [0u8; 16];
        ip6[15] = 1;
        assert_eq!(destination(&sockaddr_in6(ip6, 443)), Some((ip6, 443)));
        assert_eq!(destination(&sockaddr_in([1, 2, 3, 4], 80)[..15]), None);
        assert_eq!(destination(&sockaddr_in6(ip6, 1)[..27]), None);
        assert_eq!(destination(&[]), None);
        let mut unix = sockaddr_in([1, 2, 3, 4], 80);
        unix[..2].copy_from_slice(&(AF_UNIX as u16).to_ne_bytes());
        assert_eq!(destination(&unix), None);
    }

    #[test]
    fn bound_addresses() {
        assert!(!is_bound(&sockaddr_in([0; 4], 0)));
        assert!(!is_bound(&sockaddr_in6([0; 16], 0)));
        assert!(is_bound(&sockaddr_in([0; 4], 8080)));
        assert!(is_bound(&sockaddr_in([10, 0, 0, 1], 0)));
        assert!(is_bound(&sockaddr_in6([0; 16], 1)));
        assert!(!is_bound(&[]));
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
