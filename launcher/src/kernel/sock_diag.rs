//! Inet sockets as the kernel's sock_diag netlink lists them (what `ss`
//! reads): TCP and MPTCP, IPv4 and IPv6, with their inode, state and
//! addresses, and for MPTCP the `struct mptcp_info` (`INET_DIAG_INFO`).
//!
//! Requests and answers use `netlink-packet-sock-diag`'s types, with one
//! addition made by hand: its `InetRequest` has a one-byte protocol, like
//! `struct inet_diag_req_v2`, so it cannot say IPPROTO_MPTCP (262). The
//! kernel (5.7+) takes a protocol above 255 from the request attribute
//! `INET_DIAG_REQ_PROTOCOL` (u32) that follows the structure, which is what
//! `ss -M` sends; [`request_bytes`] appends it to the serialised request.
//! The answer to such a request is an ordinary `inet_diag_msg`.
//!
//! Good to know when matching sockets to a process: the kernel gives the
//! TCP subflows of an MPTCP socket the MPTCP socket's inode, so the TCP dump
//! lists them under the same inode; the MPTCP dump is the one that says
//! what the process holds.

use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};

use crate::kernel::mptcp_info::MptcpInfo;
use crate::kernel::netlink::Channel;

/// `IPPROTO_MPTCP` as sock_diag requests and answers carry it (one byte
/// there, so the dump is asked for in `INET_DIAG_REQ_PROTOCOL`).
pub const IPPROTO_MPTCP: u16 = libc::IPPROTO_MPTCP as u16;
/// `INET_DIAG_REQ_PROTOCOL` (linux/inet_diag.h), a request attribute.
const INET_DIAG_REQ_PROTOCOL: u16 = 3;

/// One socket from a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagSocket {
    /// `IPPROTO_TCP` or [`IPPROTO_MPTCP`]: which dump listed it.
    pub protocol: u16,
    pub inode: u32,
    /// `TCP_ESTABLISHED` (1) ... `TCP_NEW_SYN_RECV` (12).
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// MPTCP sockets only, when the kernel sent it.
    pub mptcp_info: Option<MptcpInfo>,
    /// TCP sockets of [`dump_tcp_info`] only: `tcpi_bytes_sent` and
    /// `tcpi_bytes_received`, when the kernel's `tcp_info` has them.
    pub tcp_bytes: Option<TcpBytes>,
}

/// Bytes one TCP socket (an MPTCP subflow) sent and received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpBytes {
    pub sent: Option<u64>,
    pub received: Option<u64>,
}

impl TcpBytes {
    /// From `struct tcp_info` (linux/tcp.h): `tcpi_bytes_received` at byte
    /// 128 (Linux 4.1+), `tcpi_bytes_sent` at 200 (4.19+); older kernels
    /// send a shorter structure.
    pub fn parse(bytes: &[u8]) -> TcpBytes {
        let u64_at = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
        };
        TcpBytes {
            sent: u64_at(200),
            received: u64_at(128),
        }
    }
}

/// Every TCP or MPTCP (`protocol`) socket of both families in the network
/// namespace of `channel`.
pub fn dump(channel: &mut Channel, protocol: u16) -> io::Result<Vec<DiagSocket>> {
    dump_with(channel, protocol, false)
}

/// [`dump`], asking for `struct tcp_info` of TCP sockets too (the bytes
/// each subflow carried, for `testnet status`).
pub fn dump_tcp_info(channel: &mut Channel) -> io::Result<Vec<DiagSocket>> {
    dump_with(channel, libc::IPPROTO_TCP as u16, true)
}

fn dump_with(channel: &mut Channel, protocol: u16, tcp_info: bool) -> io::Result<Vec<DiagSocket>> {
    let mut sockets = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        let sequence = channel.next_sequence();
        let mut request = request_bytes(family, protocol, sequence);
        if tcp_info {
            // idiag_ext, after the 16-byte header and family and protocol.
            request[18] |= ExtensionFlags::INFO.bits();
        }
        let answers: Vec<SockDiagMessage> = channel.exchange(&request, sequence, true)?;
        sockets.extend(
            answers
                .iter()
                .filter_map(|answer| socket_from(answer, protocol)),
        );
    }
    Ok(sockets)
}

/// A serialised dump request for every socket of `family` and `protocol`
/// in every state, asking for `INET_DIAG_INFO`.
pub fn request_bytes(family: u8, protocol: u16, sequence: u32) -> Vec<u8> {
    let socket_id = if i32::from(family) == libc::AF_INET6 {
        SocketId::new_v6()
    } else {
        SocketId::new_v4()
    };
    let request = InetRequest {
        family,
        // Truncated for MPTCP; the attribute below carries the real number.
        protocol: protocol as u8,
        extensions: if protocol == IPPROTO_MPTCP {
            ExtensionFlags::INFO
        } else {
            ExtensionFlags::empty()
        },
        states: StateFlags::all(),
        socket_id,
    };
    let mut message = NetlinkMessage::from(SockDiagMessage::InetRequest(request));
    message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.header.sequence_number = sequence;
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    if protocol > 255 {
        // struct nlattr { u16 nla_len; u16 nla_type; } + u32 value: 8 bytes,
        // already 4-byte aligned, so no padding.
        bytes.extend_from_slice(&8u16.to_ne_bytes());
        bytes.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
        bytes.extend_from_slice(&u32::from(protocol).to_ne_bytes());
        // nlmsg_len, the header's first field, covers the attribute too.
        let length = bytes.len() as u32;
        bytes[..4].copy_from_slice(&length.to_ne_bytes());
    }
    bytes
}

/// A [`DiagSocket`] from one answer of the dump for `protocol`.
pub fn socket_from(answer: &SockDiagMessage, protocol: u16) -> Option<DiagSocket> {
    let SockDiagMessage::InetResponse(response) = answer else {
        return None;
    };
    let header = &response.header;
    let id = &header.socket_id;
    let mptcp_info = if protocol == IPPROTO_MPTCP {
        response.nlas.iter().find_map(|nla| match nla {
            Nla::TcpInfo(bytes) => MptcpInfo::parse(bytes),
            _ => None,
        })
    } else {
        None
    };
    let tcp_bytes = if protocol == IPPROTO_MPTCP {
        None
    } else {
        response.nlas.iter().find_map(|nla| match nla {
            Nla::TcpInfo(bytes) => Some(TcpBytes::parse(bytes)),
            _ => None,
        })
    };
    Some(DiagSocket {
        protocol,
        inode: header.inode,
        state: header.state,
        local: SocketAddr::new(unmap(id.source_address), id.source_port),
        remote: SocketAddr::new(unmap(id.destination_address), id.destination_port),
        mptcp_info,
        tcp_bytes,
    })
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, from dual-stack
/// sockets) shown as the IPv4 address they are.
fn unmap(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The kernel's name of a TCP state (`TCP_LISTEN` → `LISTEN`).
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nlmsghdr (16) + inet_diag_req_v2 (56).
    const REQUEST_LEN: usize = 16 + 56;

    #[test]
    fn tcp_request_is_the_plain_structure() {
        let bytes = request_bytes(libc::AF_INET as u8, 6, 9);
        assert_eq!(bytes.len(), REQUEST_LEN);
        assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()), 72);
        // nlmsg_type SOCK_DIAG_BY_FAMILY (20), flags REQUEST|DUMP, seq 9.
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 20);
        assert_eq!(
            u16::from_ne_bytes([bytes[6], bytes[7]]),
            NLM_F_REQUEST | NLM_F_DUMP
        );
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 9);
        // sdiag_family, sdiag_protocol, idiag_ext, pad, idiag_states.
        assert_eq!(&bytes[16..20], &[libc::AF_INET as u8, 6, 0, 0]);
        assert_eq!(
            u32::from_ne_bytes(bytes[20..24].try_into().unwrap()),
            StateFlags::all().bits()
        );
    }

    #[test]
    fn mptcp_request_carries_the_protocol_attribute() {
        let bytes = request_bytes(libc::AF_INET6 as u8, IPPROTO_MPTCP, 1);
        assert_eq!(bytes.len(), REQUEST_LEN + 8);
        assert_eq!(
            u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as usize,
            REQUEST_LEN + 8
        );
        // idiag_ext asks for INET_DIAG_INFO (bit INET_DIAG_INFO - 1 = 1).
        assert_eq!(bytes[16], libc::AF_INET6 as u8);
        assert_eq!(bytes[18], 1 << 1);
        let attribute = &bytes[REQUEST_LEN..];
        assert_eq!(u16::from_ne_bytes([attribute[0], attribute[1]]), 8);
        assert_eq!(u16::from_ne_bytes([attribute[2], attribute[3]]), 3);
        assert_eq!(u32::from_ne_bytes(attribute[4..8].try_into().unwrap()), 262);
    }

    #[test]
    fn mapped_addresses_are_shown_as_ipv4() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(unmap(mapped), "127.0.0.1".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(unmap(v6), v6);
    }

    #[test]
    fn tcp_info_bytes() {
        let mut info = vec![0u8; 232];
        info[128..136].copy_from_slice(&7u64.to_ne_bytes());
        info[200..208].copy_from_slice(&9u64.to_ne_bytes());
        let bytes = TcpBytes::parse(&info);
        assert_eq!((bytes.sent, bytes.received), (Some(9), Some(7)));
        let old = TcpBytes::parse(&info[..136]);
        assert_eq!((old.sent, old.received), (None, Some(7)));
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(1), "ESTABLISHED");
        assert_eq!(state_name(10), "LISTEN");
        assert_eq!(state_name(200), "UNKNOWN");
    }

    #[test]
    fn lists_own_tcp_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut channel = Channel::open(netlink_sys::protocols::NETLINK_SOCK_DIAG).unwrap();
        let sockets = dump(&mut channel, 6).unwrap();
        let found = sockets
            .iter()
            .find(|s| s.local.port() == port && s.state == 10);
        assert!(found.is_some(), "port {port} not in {sockets:?}");
    }
}
