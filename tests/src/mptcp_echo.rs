//! Proof that data really flows over MPTCP, with more than one subflow,
//! from a client namespace to an echo server: [`mptcp_echo`] runs
//! `sockprobe mptcp-echo` in the client's namespace (an MPTCP socket, a
//! bounded stream of bytes through the server, each byte checked as it
//! comes back) and collects what the kernel says of that one connection
//! (MPTCP_INFO, and per subflow its addresses and bytes from MPTCP_TCPINFO
//! and MPTCP_SUBFLOW_ADDRS) and how the `MPTcpExt` counters of both ends
//! moved during it.
//!
//! [`MptcpEcho::assert_multipath`] then demands a real MPTCP connection
//! (the MP_CAPABLE handshake completed: no fallback, the peer's key
//! received, the SYN/ACK counted with MP_CAPABLE on the client and the SYN
//! on the server) with a subflow joined on the second path that carried
//! data in both directions; [`MptcpEcho::assert_fell_back`] the opposite,
//! a TCP server: the client asked for MPTCP, got plain TCP, and the data
//! still arrived intact.
//!
//! The server must echo every byte and close once it reads EOF (the client
//! half-closes at the end), and listen on the wildcard address so that the
//! join on the second path reaches it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use mptcpize_rs::testnet::Path;

use crate::netns::{Netns, NetnsExt};
use crate::process::{CmdOutput, run_timeout};
use crate::workspace::sockprobe;

/// Bound for one exchange (connect, joins, the stream, the close).
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(60);

/// `MPTcpExt` counters by name (`MPCapableSYNRX`, ...), or how much each
/// moved.
pub type Counters = BTreeMap<String, u64>;

/// One subflow of the client's connection, at the end of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subflow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes the client sent on it that the server acknowledged
    /// (`tcpi_bytes_acked`).
    pub acked: u64,
    /// Bytes the client received on it (`tcpi_bytes_received`).
    pub received: u64,
}

/// What one `sockprobe mptcp-echo` exchange showed.
#[derive(Debug)]
pub struct MptcpEcho {
    /// sockprobe's run (its stdout holds the report lines).
    pub output: CmdOutput,
    /// SO_PROTOCOL of the client's socket (262 for MPTCP).
    pub protocol: Option<i32>,
    /// Bytes that came back intact (`None` if the exchange failed).
    pub echoed: Option<u64>,
    /// The connection fell back to plain TCP.
    pub fallback: bool,
    /// The server's MPTCP key arrived (MP_CAPABLE handshake done).
    pub remote_key: bool,
    /// Subflows joined besides the first (`mptcpi_subflows`).
    pub joined: u8,
    pub subflows: Vec<Subflow>,
    /// The server closed its end after the client's half-close.
    pub eof: bool,
    /// How the client namespace's `MPTcpExt` counters moved.
    pub client_counters: Counters,
    /// How the server namespace's `MPTcpExt` counters moved.
    pub server_counters: Counters,
}

/// The `MPTcpExt` counters of a `Group.Name` map (as `NetnsExt::netstat`
/// returns), by bare name.
pub fn mptcp_counters_of(netstat: &BTreeMap<String, u64>) -> Counters {
    netstat
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("MPTcpExt.")?.to_string(), *value)))
        .collect()
}

/// `after - before` for every counter that moved.
fn moved(before: &Counters, after: &Counters) -> Counters {
    after
        .iter()
        .filter_map(|(name, value)| {
            let delta = value.saturating_sub(before.get(name).copied().unwrap_or(0));
            (delta > 0).then(|| (name.clone(), delta))
        })
        .collect()
}

/// Connects from `client` to the echo server at `target` over MPTCP and
/// streams `bytes` bytes through it (plus 1 KiB round trips while waiting
/// for the join, at most 5 s); `server_counters` reads the `MPTcpExt`
/// counters of the server's namespace, before and after. Bounded by
/// [`ECHO_TIMEOUT`]. Checks nothing: see [`MptcpEcho::assert_multipath`]
/// and [`MptcpEcho::assert_fell_back`].
pub fn mptcp_echo(
    client: &Netns,
    server_counters: &dyn Fn() -> Counters,
    target: SocketAddr,
    bytes: u64,
) -> MptcpEcho {
    let client_before = mptcp_counters_of(&client.netstat());
    let server_before = server_counters();
    let mut cmd = client.cmd(sockprobe());
    cmd.args(["mptcp-echo", &target.ip().to_string()])
        .arg(target.port().to_string())
        .arg(bytes.to_string());
    let output = run_timeout(&mut cmd, ECHO_TIMEOUT);
    let client_counters = moved(&client_before, &mptcp_counters_of(&client.netstat()));
    let server_counters = moved(&server_before, &server_counters());
    let mut echo = MptcpEcho {
        protocol: None,
        echoed: None,
        fallback: false,
        remote_key: false,
        joined: 0,
        subflows: Vec::new(),
        eof: false,
        client_counters,
        server_counters,
        output,
    };
    echo.parse();
    echo
}

impl MptcpEcho {
    fn parse(&mut self) {
        let text = self.output.stdout.clone();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["protocol", p] => self.protocol = p.parse().ok(),
                ["echo", "ok", n] => self.echoed = n.parse().ok(),
                ["fallback", flag] => self.fallback = *flag == "1",
                ["remote_key", flag] => self.remote_key = *flag == "1",
                ["subflows", n] => self.joined = n.parse().unwrap_or(0),
                ["eof", "ok"] => self.eof = true,
                [
                    "subflow",
                    local,
                    remote,
                    "acked",
                    acked,
                    "received",
                    received,
                ] => {
                    let parsed = (
                        local.parse(),
                        remote.parse(),
                        acked.parse(),
                        received.parse(),
                    );
                    if let (Ok(local), Ok(remote), Ok(acked), Ok(received)) = parsed {
                        self.subflows.push(Subflow {
                            local,
                            remote,
                            acked,
                            received,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    fn counter(counters: &Counters, name: &str) -> u64 {
        counters.get(name).copied().unwrap_or(0)
    }

    /// The exchange itself: sockprobe succeeded with an MPTCP socket, at
    /// least `bytes` bytes came back intact, the server closed after EOF.
    fn assert_data_intact(&self, bytes: u64) {
        assert!(
            self.output.status.success(),
            "sockprobe mptcp-echo failed:\n{self}"
        );
        assert_eq!(
            self.protocol,
            Some(crate::MPTCP),
            "the client's socket is not MPTCP:\n{self}"
        );
        assert!(
            self.echoed.is_some_and(|n| n >= bytes),
            "the echoed data did not come back intact:\n{self}"
        );
        assert!(
            self.eof,
            "the server did not close after the client's EOF:\n{self}"
        );
    }

    /// Panics (showing everything) unless `bytes` (or more) went through
    /// intact on a real MPTCP connection: the MP_CAPABLE handshake done
    /// (no fallback, the server's key received, `MPCapableSYNACKRX` on the
    /// client and `MPCapableSYNRX` on the server), a subflow joined
    /// (`MPJoinSynAckRx` on the client, `MPJoinAckRx` on the server) from
    /// `second.client_addr` to `second.server_addr`, and that subflow
    /// carried data both ways.
    pub fn assert_multipath(&self, bytes: u64, second: &Path) {
        self.assert_data_intact(bytes);
        assert!(
            !self.fallback && self.remote_key,
            "the connection is not MPTCP end to end (fell back to TCP?):\n{self}"
        );
        let client = |name| Self::counter(&self.client_counters, name);
        let server = |name| Self::counter(&self.server_counters, name);
        assert!(
            client("MPCapableSYNACKRX") >= 1 && client("MPCapableFallbackSYNACK") == 0,
            "the client got no SYN/ACK with MP_CAPABLE:\n{self}"
        );
        assert!(
            server("MPCapableSYNRX") >= 1,
            "the server got no SYN with MP_CAPABLE:\n{self}"
        );
        assert!(
            self.joined >= 1 && client("MPJoinSynAckRx") >= 1 && server("MPJoinAckRx") >= 1,
            "no second subflow was joined:\n{self}"
        );
        let on_second = self.subflows.iter().find(|s| {
            s.local.ip() == IpAddr::V4(second.client_addr)
                && s.remote.ip() == IpAddr::V4(second.server_addr)
        });
        let Some(on_second) = on_second else {
            panic!(
                "no subflow from {} to {}:\n{self}",
                second.client_addr, second.server_addr
            );
        };
        assert!(
            on_second.acked > 0 && on_second.received > 0,
            "the subflow on the second path carried no data one way or the other:\n{self}"
        );
    }

    /// Panics (showing everything) unless `bytes` (or more) went through
    /// intact on a connection that fell back to plain TCP: the client asked
    /// for MPTCP (its socket is MPTCP, `MPCapableFallbackSYNACK` counted)
    /// and the server answered without MP_CAPABLE.
    pub fn assert_fell_back(&self, bytes: u64) {
        self.assert_data_intact(bytes);
        assert!(self.fallback, "the connection did not fall back:\n{self}");
        assert!(
            Self::counter(&self.client_counters, "MPCapableFallbackSYNACK") >= 1
                && Self::counter(&self.server_counters, "MPCapableSYNRX") == 0,
            "the fallback did not happen in the handshake:\n{self}"
        );
    }

    /// One line for the test's log: bytes and each subflow's share.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} bytes echoed, {}",
            self.echoed.unwrap_or(0),
            if self.fallback { "TCP" } else { "MPTCP" }
        );
        for s in &self.subflows {
            text.push_str(&format!(
                "; {} -> {}: {} sent, {} received",
                s.local, s.remote, s.acked, s.received
            ));
        }
        text
    }
}

impl fmt::Display for MptcpEcho {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.output)?;
        writeln!(
            f,
            "client MPTcpExt counters moved: {:?}",
            self.client_counters
        )?;
        write!(
            f,
            "server MPTcpExt counters moved: {:?}",
            self.server_counters
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_moved() {
        let before = Counters::from([("A".into(), 1), ("B".into(), 5)]);
        let after = Counters::from([("A".into(), 3), ("B".into(), 5), ("C".into(), 2)]);
        let delta = moved(&before, &after);
        assert_eq!(delta, Counters::from([("A".into(), 2), ("C".into(), 2)]));
        let netstat = BTreeMap::from([
            ("MPTcpExt.MPJoinAckRx".to_string(), 4),
            ("TcpExt.X".to_string(), 1),
        ]);
        assert_eq!(
            mptcp_counters_of(&netstat),
            Counters::from([("MPJoinAckRx".into(), 4)])
        );
    }

    #[test]
    fn report_lines() {
        use std::os::unix::process::ExitStatusExt;
        let stdout = "protocol 262\necho ok 2001024\nfallback 0\nremote_key 1\nsubflows 1\n\
                      subflow 198.18.1.1:4000 198.18.1.2:8080 acked 10 received 20\n\
                      subflow 198.18.2.1:4001 198.18.2.2:8080 acked 30 received 40\neof ok\n";
        let mut echo = MptcpEcho {
            output: CmdOutput {
                command: "sockprobe".into(),
                pid: 1,
                status: std::process::ExitStatus::from_raw(0),
                stdout: stdout.into(),
                stderr: String::new(),
            },
            protocol: None,
            echoed: None,
            fallback: true,
            remote_key: false,
            joined: 0,
            subflows: Vec::new(),
            eof: false,
            client_counters: Counters::from([
                ("MPCapableSYNACKRX".into(), 1),
                ("MPJoinSynAckRx".into(), 1),
            ]),
            server_counters: Counters::from([
                ("MPCapableSYNRX".into(), 1),
                ("MPJoinAckRx".into(), 1),
            ]),
        };
        echo.parse();
        assert_eq!(echo.protocol, Some(262));
        assert_eq!(echo.echoed, Some(2_001_024));
        assert!(!echo.fallback && echo.remote_key && echo.eof);
        assert_eq!(echo.joined, 1);
        assert_eq!(echo.subflows.len(), 2);
        assert_eq!(echo.subflows[1].local, "198.18.2.1:4001".parse().unwrap());
        assert_eq!(
            (echo.subflows[1].acked, echo.subflows[1].received),
            (30, 40)
        );
        let second = Path {
            interface: "path2".into(),
            client_addr: "198.18.2.1".parse().unwrap(),
            server_addr: "198.18.2.2".parse().unwrap(),
        };
        echo.assert_multipath(2_000_000, &second);
    }
}
