//! Test networks: `mptcpize-rs testnet` (named, N paths, left running for
//! the user's programs: `plan.rs` the pure decisions, `network.rs` building
//! and removing, `exec.rs` running a command inside, `status.rs` counters
//! and subflows per path) and, below, [`TwoPathNet`], the two-path network
//! the demo and the tests make for themselves and remove on drop.
//!
//! The two-path test network: a client and a server host, each a network
//! namespace, joined by two veth paths on two subnets, each path shaped to a
//! fixed rate with `tbf` (this needs no `netem`), and MPTCP set up on both
//! ends: limits on both, and on the server a `signal` endpoint for its second
//! address, so the client opens a second subflow after the first handshake.
//!
//! Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for
//! benchmarking; they exist only inside the two namespaces. Servers must
//! listen on the wildcard address: one bound to path 1's address refuses the
//! join on path 2.

pub mod exec;
pub mod network;
pub mod plan;
pub mod status;

use crate::kernel::netns::Netns;
use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;

/// One of the two paths: an interface named `pathN` at both ends.
#[derive(Clone, Debug)]
pub struct Path {
    pub interface: String,
    pub client_addr: Ipv4Addr,
    pub server_addr: Ipv4Addr,
}

/// The network; dropping it removes both namespaces and what runs in them.
#[derive(Debug)]
pub struct TwoPathNet {
    pub client: Netns,
    pub server: Netns,
    pub paths: [Path; 2],
    pub rate_mbit: u32,
}

impl TwoPathNet {
    /// Builds the network with both paths shaped to `rate_mbit` Mbit/s.
    /// `prefix` names the namespaces (`<prefix>-cli-...`, `<prefix>-srv-...`).
    pub fn create(prefix: &str, rate_mbit: u32) -> io::Result<TwoPathNet> {
        let client = Netns::create(&format!("{prefix}-cli"))?;
        let server = Netns::create(&format!("{prefix}-srv"))?;
        let paths = [1u8, 2].map(|n| Path {
            interface: format!("path{n}"),
            client_addr: Ipv4Addr::new(198, 18, n, 1),
            server_addr: Ipv4Addr::new(198, 18, n, 2),
        });
        let net = TwoPathNet {
            client,
            server,
            paths,
            rate_mbit,
        };
        net.configure()?;
        Ok(net)
    }

    /// The same set-up as `testnet up --paths 2` ([`network::configure`]).
    fn configure(&self) -> io::Result<()> {
        let plan = plan::address_plan(&[self.rate_mbit; 2], None);
        network::configure(&self.client, &self.server, &plan)
    }

    /// Takes a path's link down or up (from the client end; the peer loses
    /// its carrier too), as a cable pull or a dead Wi-Fi would.
    pub fn set_path_up(&self, index: usize, up: bool) -> io::Result<()> {
        let state = if up { "up" } else { "down" };
        self.client
            .ip(["link", "set", &self.paths[index].interface, state])
    }

    /// The kernel's MPTCP counters (`MPTcpExt` in `/proc/net/netstat`) as
    /// seen in one host's namespace, by name (`MPJoinSynAckRx`, ...).
    pub fn mptcp_counters(host: &Netns) -> io::Result<BTreeMap<String, u64>> {
        let all = parse_netstat(&host.read("/proc/net/netstat")?);
        let mptcp = all.into_iter().filter_map(|(key, value)| {
            let name = key.strip_prefix("MPTcpExt.")?;
            Some((name.to_string(), value))
        });
        Ok(mptcp.collect())
    }
}

/// `ip` arguments for the MPTCP limits of both hosts: a subflow per extra
/// path, and the server's announced addresses accepted.
pub const MPTCP_LIMITS: [&str; 7] = [
    "mptcp",
    "limits",
    "set",
    "subflow",
    "2",
    "add_addr_accepted",
    "2",
];

/// `tbf` rate and burst for a rate in Mbit/s: the bucket holds 10 ms of
/// traffic (at least 16 KB), enough for full speed without long bursts.
pub fn tbf_parameters(rate_mbit: u32) -> (String, String) {
    let burst_bytes = (u64::from(rate_mbit) * 1_000_000 / 8 / 100).max(16_000);
    (format!("{rate_mbit}mbit"), format!("{burst_bytes}b"))
}

/// Parses `/proc/net/netstat` (or `/proc/net/snmp`): pairs of lines, a
/// header `Group: names...` then `Group: values...`, into `Group.Name` →
/// value (`MPTcpExt.MPJoinSynAckRx`, `TcpExt.TCPTimeouts`, ...).
pub fn parse_netstat(text: &str) -> BTreeMap<String, u64> {
    let lines: Vec<&str> = text.lines().collect();
    let mut counters = BTreeMap::new();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (mut names, mut values) = (names.split_whitespace(), values.split_whitespace());
        let (Some(group), Some(_)) = (names.next(), values.next()) else {
            continue;
        };
        let group = group.trim_end_matches(':');
        for (name, value) in names.zip(values) {
            if let Ok(value) = value.parse() {
                counters.insert(format!("{group}.{name}"), value);
            }
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_group() {
        let text = "TcpExt: SyncookiesSent Other\nTcpExt: 1 2\n\
                    MPTcpExt: MPCapableSYNRX MPJoinSynAckRx\nMPTcpExt: 3 1\n";
        let counters = parse_netstat(text);
        assert_eq!(counters["MPTcpExt.MPCapableSYNRX"], 3);
        assert_eq!(counters["MPTcpExt.MPJoinSynAckRx"], 1);
        assert_eq!(counters["TcpExt.Other"], 2);
        assert_eq!(counters.len(), 4);
    }

    #[test]
    fn tbf_bucket() {
        assert_eq!(tbf_parameters(100), ("100mbit".into(), "125000b".into()));
        assert_eq!(tbf_parameters(1), ("1mbit".into(), "16000b".into()));
    }
}
