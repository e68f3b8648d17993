//! A client namespace joined to a [`SystemdContainer`]'s network namespace
//! by two paths, the same network as the launcher's two-path test network
//! (`mptcpize_rs::testnet::TwoPathNet`) with the container as the server
//! host: [`SystemdContainer::link_two_paths`].
//!
//! - Two veth pairs `path1` and `path2`, created in a fresh client
//!   namespace with their peers moved straight into the container's
//!   namespace (no interface ever appears on the host), on 198.18.1.0/24
//!   and 198.18.2.0/24 (RFC 2544's benchmarking range; the client is `.1`,
//!   the container `.2`). Both ends of each path are shaped to
//!   [`PATH_RATE_MBIT`] with `tbf`, so that a stream fills the first path
//!   and the kernel's scheduler puts data on the second too.
//! - MPTCP limits on both ends (2 subflows, 2 accepted ADD_ADDRs) and a
//!   `signal` endpoint for the container's second address: after the first
//!   handshake the container announces it and the client joins a subflow
//!   on path 2. Servers must listen on the wildcard address (a bare port in
//!   `ListenStream=`): one bound to path 1's address refuses that join.
//! - Commands in the container's namespace are the host's tools, run with
//!   `nsenter --net` ([`SystemdContainer::net_command`]): the container's
//!   root needs neither `ip` nor `tc`.
//!
//! Dropping the [`ContainerPaths`] guard (also while a test panics)
//! removes the endpoint, restores the container's MPTCP limits, then
//! deletes the client namespace, which takes the veth pairs (both ends) and
//! whatever still runs there with it. The guard borrows the container, so
//! it cannot outlive it.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::thread;

pub use mptcpize_rs::testnet::Path;

use super::commands::EXEC_TIMEOUT;
use super::container::SystemdContainer;
use crate::mptcp_echo::{Counters, MptcpEcho, mptcp_counters_of, mptcp_echo};
use crate::netns::{Netns, netns};
use crate::prereq::require_program;
use crate::process::{CmdOutput, run_timeout};

/// Rate of each path, both directions, in Mbit/s.
pub const PATH_RATE_MBIT: u32 = 100;

impl SystemdContainer {
    /// A host program run in the container's network namespace only (the
    /// host's root and tools; add arguments and stdio as needed).
    pub fn net_command(&self, program: impl AsRef<OsStr>) -> Command {
        assert!(self.init_pid != 0, "container {} is not running", self.name);
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.init_pid.to_string())
            .args(["--net", "--"])
            .arg(program);
        cmd
    }

    /// Run the host's `program args...` in the container's network
    /// namespace (bounded by [`EXEC_TIMEOUT`]); status not checked.
    pub fn net_run(&self, program: &str, args: &[&str]) -> CmdOutput {
        run_timeout(self.net_command(program).args(args), EXEC_TIMEOUT)
    }

    /// The `MPTcpExt` counters of the container's network namespace.
    pub fn mptcp_counters(&self) -> Counters {
        let out = self.net_run("cat", &["/proc/net/netstat"]);
        out.success();
        mptcp_counters_of(&mptcpize_rs::testnet::parse_netstat(&out.stdout))
    }

    /// Join a new client namespace to this container by two paths (see the
    /// module documentation); panics with the failing command's message if
    /// it cannot. One at a time per container (the interface names and
    /// addresses are fixed).
    pub fn link_two_paths(&self) -> ContainerPaths<'_> {
        for program in ["ip", "tc", "nsenter"] {
            require_program(program);
        }
        let client = netns(true);
        let paths = [1u8, 2].map(|n| Path {
            interface: format!("path{n}"),
            client_addr: Ipv4Addr::new(198, 18, n, 1),
            server_addr: Ipv4Addr::new(198, 18, n, 2),
        });
        let enabled = self.net_run("cat", &["/proc/sys/net/mptcp/enabled"]);
        assert_eq!(
            enabled.stdout.trim(),
            "1",
            "net.mptcp.enabled in container {}:\n{enabled}",
            self.name
        );
        let limits = self.net_run("ip", &["mptcp", "limits", "show"]);
        limits.success();
        let mut guard = ContainerPaths {
            container: self,
            client,
            paths,
            saved_limits: parse_limits(&limits.stdout),
            endpoint: None,
        };
        guard.configure();
        guard
    }
}

/// Two paths between a client namespace and a container; see the module
/// documentation. Dropping it undoes everything.
pub struct ContainerPaths<'c> {
    container: &'c SystemdContainer,
    /// The client's namespace (run clients with `client.cmd(...)`).
    pub client: Netns,
    pub paths: [Path; 2],
    /// `ip mptcp limits set` arguments that restore the container's limits.
    saved_limits: Vec<String>,
    /// The container's second address, once announced by an endpoint.
    endpoint: Option<String>,
}

impl ContainerPaths<'_> {
    /// Runs the host's `ip ARGS...` in the container's namespace; panics
    /// unless it succeeds.
    fn container_tool(&self, program: &str, args: &[&str]) {
        let out = self.container.net_run(program, args);
        assert!(
            out.status.success(),
            "in container {}'s network namespace:\n{out}",
            self.container.name
        );
    }

    fn configure(&mut self) {
        let limits = mptcpize_rs::testnet::MPTCP_LIMITS;
        self.client
            .ip(limits)
            .unwrap_or_else(|e| panic!("in {}: {e}", self.client.name()));
        self.container_tool("ip", &limits);
        let pid = self.container.init_pid.to_string();
        for path in &self.paths {
            let dev = path.interface.as_str();
            // Created with its peer already in the container's namespace.
            let veth = [
                "link", "add", dev, "type", "veth", "peer", "name", dev, "netns", &pid,
            ];
            self.client
                .ip(veth)
                .unwrap_or_else(|e| panic!("cannot create veth {dev}: {e}"));
            let (rate, burst) = mptcpize_rs::testnet::tbf_parameters(PATH_RATE_MBIT);
            let shape = [
                "qdisc", "add", "dev", dev, "root", "tbf", "rate", &rate, "burst", &burst,
                "latency", "50ms",
            ];
            let client_addr = format!("{}/24", path.client_addr);
            self.client
                .ip(["addr", "add", &client_addr, "dev", dev])
                .and_then(|()| self.client.ip(["link", "set", dev, "up"]))
                .and_then(|()| self.client.tc(shape))
                .unwrap_or_else(|e| panic!("configuring {dev} in {}: {e}", self.client.name()));
            let server_addr = format!("{}/24", path.server_addr);
            self.container_tool("ip", &["addr", "add", &server_addr, "dev", dev]);
            self.container_tool("ip", &["link", "set", dev, "up"]);
            self.container_tool("tc", &shape);
        }
        let second = &self.paths[1];
        let address = second.server_addr.to_string();
        let dev = second.interface.as_str();
        let endpoint = ["mptcp", "endpoint", "add", &address, "dev", dev, "signal"];
        self.container_tool("ip", &endpoint);
        self.endpoint = Some(address);
    }

    /// The container's address on path 1: where clients connect first.
    pub fn server_addr(&self) -> Ipv4Addr {
        self.paths[0].server_addr
    }

    /// The second path (the one a joined subflow takes).
    pub fn second(&self) -> &Path {
        &self.paths[1]
    }

    /// Streams `bytes` through the echo server listening on the wildcard
    /// address at `port` in the container, over MPTCP from the client
    /// namespace (see [`crate::mptcp_echo`]); checks nothing.
    pub fn echo(&self, port: u16, bytes: u64) -> MptcpEcho {
        let target = SocketAddr::new(self.server_addr().into(), port);
        let counters = || self.container.mptcp_counters();
        mptcp_echo(&self.client, &counters, target, bytes)
    }

    /// Removes the endpoint and restores the limits; what failed.
    fn undo(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let ip = |args: &[&str]| {
            let out = self.container.net_run("ip", args);
            (!out.status.success()).then(|| format!("{out}"))
        };
        if let Some(address) = self.endpoint.take() {
            let shown = self.container.net_run("ip", &["mptcp", "endpoint", "show"]);
            match endpoint_id(&shown.stdout, &address) {
                Some(id) => problems.extend(ip(&["mptcp", "endpoint", "delete", "id", &id])),
                None => problems.push(format!("no endpoint for {address}:\n{shown}")),
            }
        }
        if !self.saved_limits.is_empty() {
            let mut args = vec!["mptcp", "limits", "set"];
            args.extend(self.saved_limits.iter().map(String::as_str));
            problems.extend(ip(&args));
        }
        problems
    }
}

impl Drop for ContainerPaths<'_> {
    fn drop(&mut self) {
        // Then `client` drops: deleting the namespace deletes both ends of
        // each veth pair.
        let problems = self.undo();
        if !problems.is_empty() {
            let msg = format!(
                "cleaning up the two paths of container {}: {}",
                self.container.name,
                problems.join("; ")
            );
            if thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// `ip mptcp limits show` (`add_addr_accepted 0 subflows 2`) as arguments
/// of `ip mptcp limits set` (which spells the second `subflow`).
fn parse_limits(shown: &str) -> Vec<String> {
    let words: Vec<&str> = shown.split_whitespace().collect();
    words
        .chunks(2)
        .filter_map(|pair| match pair {
            ["subflows", n] => Some(["subflow".to_string(), n.to_string()]),
            ["add_addr_accepted", n] => Some(["add_addr_accepted".to_string(), n.to_string()]),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The id of the endpoint for `address` in `ip mptcp endpoint show`
/// (`198.18.2.2 id 1 signal dev path2`).
fn endpoint_id(shown: &str, address: &str) -> Option<String> {
    shown.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [addr, "id", id, ..] if *addr == address => Some(id.to_string()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_endpoints() {
        assert_eq!(
            parse_limits("add_addr_accepted 0 subflows 2 \n"),
            ["add_addr_accepted", "0", "subflow", "2"]
        );
        let shown = "198.18.3.2 id 1 signal dev path3 \n198.18.2.2 id 2 signal dev path2 \n";
        assert_eq!(endpoint_id(shown, "198.18.2.2").as_deref(), Some("2"));
        assert_eq!(endpoint_id(shown, "198.18.2.1"), None);
    }
}
