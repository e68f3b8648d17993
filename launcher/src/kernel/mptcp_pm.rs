//! The in-kernel MPTCP path manager's settings, read like `ip mptcp limits`
//! and `ip mptcp endpoint show` do: over generic netlink, family
//! `mptcp_pm`. The messages are rust-netlink's `mptcp-pm` types; its async
//! connection is not used (a blocking [`Channel`] is enough for two
//! requests), and the family id is resolved with `CTRL_CMD_GETFAMILY`.

use std::io;
use std::net::IpAddr;

use mptcp_pm::{
    MptcpPathManagerAddressAttr, MptcpPathManagerAttr, MptcpPathManagerLimitsAttr,
    MptcpPathManagerMessage,
};
use netlink_packet_core::NetlinkMessage;
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};

use crate::kernel::netlink::Channel;

/// Endpoint flags (`MPTCP_PM_ADDR_FLAG_*`), with the names `ip mptcp` uses.
pub const ENDPOINT_FLAGS: &[(u32, &str)] = &[
    (1 << 0, "signal"),
    (1 << 1, "subflow"),
    (1 << 2, "backup"),
    (1 << 3, "fullmesh"),
    (1 << 4, "implicit"),
    (1 << 5, "laminar"),
];
pub const FLAG_SIGNAL: u32 = 1 << 0;
pub const FLAG_SUBFLOW: u32 = 1 << 1;

/// `ip mptcp limits`: how many extra subflows a connection may have, and
/// how many addresses announced by the peer it accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub subflows: u32,
    pub add_addr_accepted: u32,
}

/// One `ip mptcp endpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: u8,
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
    /// `MPTCP_PM_ADDR_FLAG_*` bits.
    pub flags: u32,
    pub ifindex: Option<i32>,
    /// The interface's name, when it has one in this namespace.
    pub dev: Option<String>,
}

impl Endpoint {
    /// Flag names (`signal`, `subflow`, ...); unknown bits as hex.
    pub fn flag_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ENDPOINT_FLAGS
            .iter()
            .filter(|(bit, _)| self.flags & bit != 0)
            .map(|(_, name)| name.to_string())
            .collect();
        let known = ENDPOINT_FLAGS.iter().fold(0, |all, (bit, _)| all | bit);
        if self.flags & !known != 0 {
            names.push(format!("{:#x}", self.flags & !known));
        }
        names
    }
}

/// Limits and endpoints of the current network namespace.
pub fn read() -> io::Result<(Limits, Vec<Endpoint>)> {
    let mut channel = Channel::open(netlink_sys::protocols::NETLINK_GENERIC)?;
    let family = resolve_family(&mut channel)?;
    let limits = limits_from(&ask(
        &mut channel,
        family,
        MptcpPathManagerMessage::new_limits_get(),
        false,
    )?);
    let mut endpoints: Vec<Endpoint> = ask(
        &mut channel,
        family,
        MptcpPathManagerMessage::new_address_get(),
        true,
    )?
    .iter()
    .filter_map(endpoint_from)
    .collect();
    for endpoint in &mut endpoints {
        endpoint.dev = endpoint.ifindex.and_then(interface_name);
    }
    endpoints.sort_by_key(|endpoint| endpoint.id);
    Ok((limits, endpoints))
}

/// The dynamic id of the `mptcp_pm` family; `NotFound` if the kernel has
/// none (no MPTCP).
fn resolve_family(channel: &mut Channel) -> io::Result<u16> {
    let request = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName("mptcp_pm".to_string())],
    });
    let answers = channel
        .request(NetlinkMessage::from(request), false)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ENOENT) => io::Error::new(
                io::ErrorKind::NotFound,
                "the kernel has no mptcp_pm generic netlink family (no MPTCP support)",
            ),
            _ => error,
        })?;
    answers
        .iter()
        .flat_map(|answer| &answer.payload.nlas)
        .find_map(|nla| match nla {
            GenlCtrlAttrs::FamilyId(id) => Some(*id),
            _ => None,
        })
        .ok_or_else(|| io::Error::other("the kernel's family answer has no id"))
}

fn ask(
    channel: &mut Channel,
    family: u16,
    message: MptcpPathManagerMessage,
    dump: bool,
) -> io::Result<Vec<MptcpPathManagerMessage>> {
    let mut request = GenlMessage::from_payload(message);
    request.set_resolved_family_id(family);
    let answers = channel.request(NetlinkMessage::from(request), dump)?;
    Ok(answers.into_iter().map(|answer| answer.payload).collect())
}

/// Limits from a `GET_LIMITS` answer (absent attributes count as 0).
pub fn limits_from(answers: &[MptcpPathManagerMessage]) -> Limits {
    let mut limits = Limits::default();
    for nla in answers.iter().flat_map(|answer| &answer.nlas) {
        match nla {
            MptcpPathManagerAttr::Limits(MptcpPathManagerLimitsAttr::Subflows(n)) => {
                limits.subflows = *n
            }
            MptcpPathManagerAttr::Limits(MptcpPathManagerLimitsAttr::RcvAddAddrs(n)) => {
                limits.add_addr_accepted = *n
            }
            _ => {}
        }
    }
    limits
}

/// One endpoint from one `GET_ADDR` dump answer (each carries one
/// `MPTCP_PM_ATTR_ADDR`, which `mptcp-pm` flattens into its attributes).
pub fn endpoint_from(answer: &MptcpPathManagerMessage) -> Option<Endpoint> {
    let mut endpoint = Endpoint {
        id: 0,
        address: None,
        port: None,
        flags: 0,
        ifindex: None,
        dev: None,
    };
    let mut any = false;
    for nla in &answer.nlas {
        let MptcpPathManagerAttr::Address(attr) = nla else {
            continue;
        };
        any = true;
        match attr {
            MptcpPathManagerAddressAttr::Id(id) => endpoint.id = *id,
            MptcpPathManagerAddressAttr::Addr4(addr) => endpoint.address = Some((*addr).into()),
            MptcpPathManagerAddressAttr::Addr6(addr) => endpoint.address = Some((*addr).into()),
            MptcpPathManagerAddressAttr::Port(port) if *port != 0 => endpoint.port = Some(*port),
            MptcpPathManagerAddressAttr::Flags(flags) => {
                endpoint.flags = flags.iter().map(u32::from).fold(0, |all, bit| all | bit)
            }
            MptcpPathManagerAddressAttr::IfIndex(index) if *index > 0 => {
                endpoint.ifindex = Some(*index)
            }
            _ => {}
        }
    }
    any.then_some(endpoint)
}

/// `if_indextoname(3)`.
fn interface_name(index: i32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: name has the IF_NAMESIZE bytes if_indextoname may write.
    let found = unsafe { libc::if_indextoname(index as libc::c_uint, name.as_mut_ptr()) };
    if found.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_pm::{MptcpPathManagerAddressAttrFlag as Flag, MptcpPathManagerCmd};
    use std::net::Ipv4Addr;

    fn message(
        cmd: MptcpPathManagerCmd,
        nlas: Vec<MptcpPathManagerAttr>,
    ) -> MptcpPathManagerMessage {
        MptcpPathManagerMessage { cmd, nlas }
    }

    #[test]
    fn limits_from_answer() {
        let answer = message(
            MptcpPathManagerCmd::LimitsGet,
            vec![
                MptcpPathManagerAttr::Limits(MptcpPathManagerLimitsAttr::RcvAddAddrs(2)),
                MptcpPathManagerAttr::Limits(MptcpPathManagerLimitsAttr::Subflows(4)),
            ],
        );
        assert_eq!(
            limits_from(&[answer]),
            Limits {
                subflows: 4,
                add_addr_accepted: 2
            }
        );
        assert_eq!(limits_from(&[]), Limits::default());
    }

    #[test]
    fn endpoint_from_answer() {
        let address = |attr| MptcpPathManagerAttr::Address(attr);
        let answer = message(
            MptcpPathManagerCmd::AddressGet,
            vec![
                address(MptcpPathManagerAddressAttr::Family(2)),
                address(MptcpPathManagerAddressAttr::Id(3)),
                address(MptcpPathManagerAddressAttr::Addr4(Ipv4Addr::new(
                    10, 0, 0, 1,
                ))),
                address(MptcpPathManagerAddressAttr::Flags(vec![
                    Flag::Subflow,
                    Flag::Backup,
                    Flag::Other(1 << 5),
                ])),
                address(MptcpPathManagerAddressAttr::IfIndex(7)),
            ],
        );
        let endpoint = endpoint_from(&answer).unwrap();
        assert_eq!(endpoint.id, 3);
        assert_eq!(endpoint.address, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(endpoint.port, None);
        assert_eq!(endpoint.ifindex, Some(7));
        assert_eq!(endpoint.flag_names(), ["subflow", "backup", "laminar"]);
        assert!(endpoint_from(&message(MptcpPathManagerCmd::AddressGet, vec![])).is_none());
    }

    #[test]
    fn unknown_flag_bits_are_shown() {
        let endpoint = Endpoint {
            id: 1,
            address: None,
            port: None,
            flags: FLAG_SIGNAL | 0x100,
            ifindex: None,
            dev: None,
        };
        assert_eq!(endpoint.flag_names(), ["signal", "0x100"]);
    }
}
