//! `testnet status`: per path, the client end's link counters, state and
//! rate; and the TCP subflows of MPTCP connections in both namespaces,
//! each mapped to its path by its local address.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use crate::failure::Failure;
use crate::kernel::netns::sock_diag_channel_in;
use crate::kernel::sock_diag::{self, DiagSocket, IPPROTO_MPTCP};
use crate::testnet::network::{self, hosts, namespace_file};
use crate::testnet::plan::{self, MAX_PATHS};

/// `TCP_LISTEN`: listeners are no subflows.
const LISTEN: u8 = 10;

#[derive(Debug, Serialize)]
pub struct Status {
    pub name: String,
    pub paths: Vec<PathStatus>,
    pub subflows: Vec<Subflow>,
}

/// One path, counted at the client's end (tx: client → server).
#[derive(Debug, Serialize)]
pub struct PathStatus {
    pub path: u8,
    pub client: String,
    pub server: String,
    pub up: bool,
    pub rate_mbit: Option<u32>,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub rx_packets: u64,
}

/// One TCP subflow of an MPTCP connection.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Subflow {
    pub path: u8,
    pub side: &'static str,
    pub local: String,
    pub remote: String,
    pub state: &'static str,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
}

pub fn status(name: &str, json: bool) -> Result<u8, Failure> {
    network::require_root("testnet status")?;
    let status = gather(name)?;
    let text = if json {
        serde_json::to_string_pretty(&status).map_err(|e| Failure::new(e.to_string()))? + "\n"
    } else {
        render(&status)
    };
    let _ = io::stdout().write_all(text.as_bytes());
    Ok(0)
}

pub fn gather(name: &str) -> Result<Status, Failure> {
    let (client, _server) = hosts(name)?;
    let failed = |error: io::Error| Failure::new(format!("testnet {name}: {error}"));
    let mut paths = Vec::new();
    for index in 1..=MAX_PATHS {
        let dev = plan::interface(index);
        let Ok(link) = client.query("ip", ["-j", "-s", "link", "show", "dev", &dev]) else {
            break;
        };
        let qdisc = client
            .query("tc", ["-j", "qdisc", "show", "dev", &dev])
            .map_err(failed)?;
        paths.push(path_status(index, &link, &qdisc).map_err(failed)?);
    }
    let mut subflows = Vec::new();
    let (client_ns, server_ns) = plan::namespaces(name);
    for (side, ns) in [("client", client_ns), ("server", server_ns)] {
        let sockets = sockets_in(&ns).map_err(failed)?;
        subflows.extend(subflows_of(side, &sockets, paths.len() as u8));
    }
    Ok(Status {
        name: name.to_string(),
        paths,
        subflows,
    })
}

/// The MPTCP and TCP sockets of one namespace (TCP with `tcp_info`).
fn sockets_in(namespace: &str) -> io::Result<(Vec<DiagSocket>, Vec<DiagSocket>)> {
    let file = File::open(namespace_file(namespace))?;
    let mut channel = sock_diag_channel_in(file)?;
    let mptcp = sock_diag::dump(&mut channel, IPPROTO_MPTCP).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("MPTCP sockets (is mptcp_diag available?): {error}"),
        )
    })?;
    let tcp = sock_diag::dump_tcp_info(&mut channel)?;
    Ok((mptcp, tcp))
}

/// The TCP sockets that are subflows of an MPTCP socket (the kernel gives
/// subflows their MPTCP socket's inode), not listening, on a path.
pub fn subflows_of(
    side: &'static str,
    (mptcp, tcp): &(Vec<DiagSocket>, Vec<DiagSocket>),
    paths: u8,
) -> Vec<Subflow> {
    let mptcp_inodes: BTreeSet<u32> = mptcp
        .iter()
        .filter(|s| s.inode != 0)
        .map(|s| s.inode)
        .collect();
    tcp.iter()
        .filter(|s| s.state != LISTEN && mptcp_inodes.contains(&s.inode))
        .filter_map(|s| {
            let path = plan::path_of(s.local.ip(), paths)?;
            Some(Subflow {
                path,
                side,
                local: s.local.to_string(),
                remote: s.remote.to_string(),
                state: sock_diag::state_name(s.state),
                bytes_sent: s.tcp_bytes.and_then(|b| b.sent),
                bytes_received: s.tcp_bytes.and_then(|b| b.received),
            })
        })
        .collect()
}

/// One path from `ip -j -s link show` and `tc -j qdisc show` of its client
/// end.
fn path_status(index: u8, link: &str, qdisc: &str) -> io::Result<PathStatus> {
    let bad = |what: &str| io::Error::other(format!("path {index}: cannot read {what}"));
    let link: Value = serde_json::from_str(link).map_err(|_| bad("ip -j link"))?;
    let link = link.get(0).ok_or_else(|| bad("ip -j link"))?;
    let counter = |direction: &str, what: &str| {
        link["stats64"][direction][what]
            .as_u64()
            .ok_or_else(|| bad("the link counters"))
    };
    let up = link["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "UP"));
    let qdisc: Value = serde_json::from_str(qdisc).unwrap_or(Value::Null);
    let rate_mbit = qdisc.as_array().and_then(|all| {
        all.iter()
            .find(|q| q["kind"] == "tbf")
            .and_then(|q| q["options"]["rate"].as_u64())
            .map(plan::mbit_of_bytes_per_second)
    });
    let plan = &plan::address_plan(&vec![0; usize::from(index)], None)[usize::from(index) - 1];
    Ok(PathStatus {
        path: index,
        client: plan.client.to_string(),
        server: plan.server.to_string(),
        up,
        rate_mbit,
        tx_bytes: counter("tx", "bytes")?,
        rx_bytes: counter("rx", "bytes")?,
        tx_packets: counter("tx", "packets")?,
        rx_packets: counter("rx", "packets")?,
    })
}

fn render(status: &Status) -> String {
    let mut text = format!("testnet {}\n", status.name);
    let _ = writeln!(
        text,
        "  path  client        server        state  rate      tx bytes (pkts)        rx bytes (pkts)"
    );
    for p in &status.paths {
        let rate = p
            .rate_mbit
            .map_or("-".to_string(), |r| format!("{r} Mbit/s"));
        let _ = writeln!(
            text,
            "  {:<4}  {:<12}  {:<12}  {:<5}  {:<8}  {:>12} ({:>8})  {:>12} ({:>8})",
            p.path,
            p.client,
            p.server,
            if p.up { "up" } else { "down" },
            rate,
            p.tx_bytes,
            p.tx_packets,
            p.rx_bytes,
            p.rx_packets
        );
    }
    if status.subflows.is_empty() {
        text += "  no MPTCP subflows\n";
    } else {
        text += "  MPTCP subflows:\n";
        for s in &status.subflows {
            let bytes = |b: Option<u64>| b.map_or("-".to_string(), |b| b.to_string());
            let _ = writeln!(
                text,
                "    path {}  {:<6}  {} -> {}  {}  sent {}  received {}",
                s.path,
                s.side,
                s.local,
                s.remote,
                s.state,
                bytes(s.bytes_sent),
                bytes(s.bytes_received)
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(protocol: u16, inode: u32, state: u8, local: &str) -> DiagSocket {
        DiagSocket {
            protocol,
            inode,
            state,
            local: local.parse().unwrap(),
            remote: "198.18.1.2:5201".parse().unwrap(),
            mptcp_info: None,
            tcp_bytes: None,
        }
    }

    #[test]
    fn only_subflows_of_mptcp_sockets_on_paths() {
        let mptcp = vec![socket(IPPROTO_MPTCP, 7, 1, "198.18.1.1:40000")];
        let tcp = vec![
            socket(6, 7, 1, "198.18.1.1:40000"),
            socket(6, 7, 1, "198.18.2.1:40001"),
            // plain TCP, a listener, and an address on no path
            socket(6, 8, 1, "198.18.1.1:40002"),
            socket(6, 7, LISTEN, "198.18.1.1:5201"),
            socket(6, 7, 1, "10.0.0.1:40003"),
        ];
        let subflows = subflows_of("client", &(mptcp, tcp), 2);
        let paths: Vec<u8> = subflows.iter().map(|s| s.path).collect();
        assert_eq!(paths, [1, 2]);
        assert_eq!(subflows[1].local, "198.18.2.1:40001");
        assert_eq!(subflows[1].side, "client");
    }

    #[test]
    fn path_from_ip_and_tc() {
        let link = r#"[{"ifname":"path1","flags":["BROADCAST","UP","LOWER_UP"],
            "stats64":{"rx":{"bytes":10,"packets":1},"tx":{"bytes":20,"packets":2}}}]"#;
        let qdisc = r#"[{"kind":"tbf","root":true,"options":{"rate":6250000}}]"#;
        let path = path_status(1, link, qdisc).unwrap();
        assert!(path.up);
        assert_eq!(path.rate_mbit, Some(50));
        assert_eq!((path.tx_bytes, path.rx_packets), (20, 1));
        assert_eq!(
            (path.client.as_str(), path.server.as_str()),
            ("198.18.1.1", "198.18.1.2")
        );
        let down = r#"[{"flags":["BROADCAST"],"stats64":{"rx":{"bytes":0,"packets":0},"tx":{"bytes":0,"packets":0}}}]"#;
        assert!(!path_status(2, down, "[]").unwrap().up);
    }
}
