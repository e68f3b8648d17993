//! `demo` and its hidden `demo-peer` (one end of the demo's transfer).

use std::net::SocketAddr;

use clap::{Args, Subcommand};

use crate::demo::{DemoOptions, PeerRole};

pub(super) const DEMO_AFTER_HELP: &str = "\
Builds two network namespaces joined by two paths of --rate Mbit/s each and
sends data across for --seconds, first over plain TCP, then with both ends
under `mptcpize-rs run`, taking path 1 down half way through each transfer.
Then prints a table: throughput with both paths up, subflows used, what
happened when path 1 failed, and whether any data was lost. Takes under
20 seconds with the defaults.

Needs root (sudo mptcpize-rs demo) and iproute2 (ip, tc); no internet.
Everything it creates (namespaces, links, processes) is removed at the end,
also on error and on Ctrl-C.";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rate of each of the two paths, in Mbit/s (1 to 1000)
    #[arg(
        long,
        value_name = "MBIT",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub rate: u32,

    /// Length of each transfer in seconds (4 to 60); path 1 fails half way
    // At least 4: MPTCP takes about 1.5 s to give up on the dead path (with
    // the kernel's defaults), so shorter runs end before path 2 takes over.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 6,
        value_parser = clap::value_parser!(u64).range(4..=60)
    )]
    pub seconds: u64,
}

impl DemoArgs {
    pub fn options(&self) -> DemoOptions {
        DemoOptions {
            rate_mbit: self.rate,
            seconds: self.seconds,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoPeerArgs {
    #[command(subcommand)]
    pub role: DemoPeerRole,
}

#[derive(Debug, Subcommand)]
pub enum DemoPeerRole {
    /// Accept one connection and check the bytes received
    Receive {
        #[arg(long)]
        port: u16,
        /// Give up this long after starting to wait or to receive
        #[arg(long)]
        max_seconds: u64,
    },
    /// Connect and send the pattern for a while
    Send {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        seconds: u64,
        /// Cap the send buffer (SO_SNDBUF) at this many bytes
        #[arg(long)]
        send_buffer: Option<u32>,
    },
}

impl DemoPeerArgs {
    pub fn role(&self) -> PeerRole {
        match self.role {
            DemoPeerRole::Receive { port, max_seconds } => PeerRole::Receive { port, max_seconds },
            DemoPeerRole::Send {
                to,
                seconds,
                send_buffer,
            } => PeerRole::Send {
                to,
                seconds,
                send_buffer,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::cli::tests::parse;

    fn demo_options(args: &[&str]) -> DemoOptions {
        match parse(args).expect("parses").command {
            Some(Command::Demo(demo)) => demo.options(),
            other => panic!("expected demo, got {other:?}"),
        }
    }

    #[test]
    fn demo_defaults_and_options() {
        assert_eq!(
            demo_options(&["demo"]),
            DemoOptions {
                rate_mbit: 100,
                seconds: 6
            }
        );
        assert_eq!(
            demo_options(&["demo", "--rate", "1000", "--seconds", "4"]),
            DemoOptions {
                rate_mbit: 1000,
                seconds: 4
            }
        );
        assert_eq!(demo_options(&["demo", "--seconds=60"]).seconds, 60);
        assert_eq!(demo_options(&["demo", "--rate=1"]).rate_mbit, 1);
    }

    #[test]
    fn demo_ranges_are_enforced() {
        for args in [
            &["demo", "--rate", "0"][..],
            &["demo", "--rate", "1001"],
            &["demo", "--rate", "fast"],
            &["demo", "--seconds", "3"],
            &["demo", "--seconds", "61"],
            &["demo", "extra"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn demo_peer_roles() {
        let role = |args: &[&str]| match parse(args).expect("parses").command {
            Some(Command::DemoPeer(peer)) => peer.role(),
            other => panic!("expected demo-peer, got {other:?}"),
        };
        assert_eq!(
            role(&[
                "demo-peer",
                "receive",
                "--port",
                "5001",
                "--max-seconds",
                "9"
            ]),
            PeerRole::Receive {
                port: 5001,
                max_seconds: 9
            }
        );
        assert_eq!(
            role(&[
                "demo-peer",
                "send",
                "--to",
                "198.18.1.2:5001",
                "--seconds",
                "6"
            ]),
            PeerRole::Send {
                to: "198.18.1.2:5001".parse().unwrap(),
                seconds: 6,
                send_buffer: None,
            }
        );
        assert_eq!(
            role(&[
                "demo-peer",
                "send",
                "--to",
                "[::1]:7",
                "--seconds",
                "2",
                "--send-buffer",
                "65536"
            ]),
            PeerRole::Send {
                to: "[::1]:7".parse().unwrap(),
                seconds: 2,
                send_buffer: Some(65_536),
            }
        );
        assert!(parse(&["demo-peer", "send", "--to", "nowhere", "--seconds", "6"]).is_err());
    }
}
