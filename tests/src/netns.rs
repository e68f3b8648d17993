//! Network namespaces for tests that need root.
//!
//! The guard itself is the launcher library's [`Netns`] (also used by the
//! two-path [`TwoPathNet`] and the demo): a unique name, its own loopback and
//! sysctls, and on drop everything inside killed and the namespace deleted,
//! also while a test is panicking. This module adds what tests need on top:
//! constructors that fail with a clear message, and [`NetnsExt`], bounded
//! commands and views of listeners and counters.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::thread;
use std::time::{Duration, Instant};

pub use mptcpize_rs::kernel::netns::Netns;
pub use mptcpize_rs::testnet::TwoPathNet;

use crate::prereq::{require_program, require_root};
use crate::process::{ChildGuard, CmdOutput, run_timeout};

const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// A new namespace with `lo` up and `net.mptcp.enabled` as given.
pub fn netns(mptcp_enabled: bool) -> Netns {
    require_root("creating network namespaces with `ip netns add`");
    require_program("ip");
    let ns = Netns::create("mpz").unwrap_or_else(|e| panic!("cannot create a namespace: {e}"));
    let want = if mptcp_enabled { "1" } else { "0" };
    ns.sysctl("net.mptcp.enabled", want)
        .unwrap_or_else(|e| panic!("cannot set net.mptcp.enabled in {}: {e}", ns.name()));
    let enabled = ns.read_sysctl("net.mptcp.enabled");
    assert_eq!(
        enabled,
        want,
        "net.mptcp.enabled in {} (kernel without MPTCP?)",
        ns.name()
    );
    ns
}

/// The two-path network (two hosts, two paths of `rate_mbit` each).
pub fn two_path_net(rate_mbit: u32) -> TwoPathNet {
    require_root("building the two-path network with `ip netns` and `tc`");
    for program in ["ip", "tc"] {
        require_program(program);
    }
    TwoPathNet::create("mpz", rate_mbit)
        .unwrap_or_else(|e| panic!("cannot build the two-path network: {e}"))
}

/// Test conveniences for a namespace: every command is bounded in time.
pub trait NetnsExt {
    /// `ip netns exec NAME program` (add arguments, env, stdio as usual).
    fn cmd(&self, program: impl AsRef<OsStr>) -> std::process::Command;
    /// Run `program args...` inside with a bounded wait; status not checked.
    fn run(&self, program: &str, args: &[&str]) -> CmdOutput;
    /// Run `program args...` inside and panic unless it succeeds.
    fn run_ok(&self, program: &str, args: &[&str]) -> CmdOutput;
    /// Current value of sysctl `key` inside.
    fn read_sysctl(&self, key: &str) -> String;
    /// Counters from `/proc/net/netstat` inside, keyed `Group.Name`
    /// (e.g. `MPTcpExt.MPCapableSYNRX`, `TcpExt.TCPTimeouts`).
    fn netstat(&self) -> BTreeMap<String, u64>;
    /// One `MPTcpExt` counter (0 if the kernel does not report it).
    fn mptcp_counter(&self, name: &str) -> u64;
    /// Listening sockets inside, from `ss -ltnHM`: `(netid, local address)`
    /// where netid is `tcp` or `mptcp`.
    fn listeners(&self) -> Vec<(String, String)>;
    /// TCP-level listening sockets from `ss -ltnH` (an MPTCP listener also
    /// shows up here, through its in-kernel TCP subflow listener).
    fn tcp_listeners(&self) -> Vec<String>;
    /// Whether `ss -ltnHM` lists an MPTCP listener on `port`.
    fn has_mptcp_listener(&self, port: u16) -> bool;
}

impl NetnsExt for Netns {
    fn cmd(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        self.command(program)
    }

    fn run(&self, program: &str, args: &[&str]) -> CmdOutput {
        run_timeout(self.command(program).args(args), CMD_TIMEOUT)
    }

    fn run_ok(&self, program: &str, args: &[&str]) -> CmdOutput {
        let out = self.run(program, args);
        out.success();
        out
    }

    fn read_sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = self.read(&path);
        let value = value.unwrap_or_else(|e| panic!("reading {path} in {}: {e}", self.name()));
        value.trim().to_string()
    }

    fn netstat(&self) -> BTreeMap<String, u64> {
        let text = self.read("/proc/net/netstat");
        let text = text.unwrap_or_else(|e| panic!("/proc/net/netstat in {}: {e}", self.name()));
        mptcpize_rs::testnet::parse_netstat(&text)
    }

    fn mptcp_counter(&self, name: &str) -> u64 {
        self.netstat()
            .get(&format!("MPTcpExt.{name}"))
            .copied()
            .unwrap_or(0)
    }

    fn listeners(&self) -> Vec<(String, String)> {
        require_program("ss");
        let out = self.run_ok("ss", &["-ltnHM"]);
        parse_ss(&out.stdout, "tcp")
    }

    fn tcp_listeners(&self) -> Vec<String> {
        require_program("ss");
        let out = self.run_ok("ss", &["-ltnH"]);
        parse_ss(&out.stdout, "tcp")
            .into_iter()
            .map(|(_, local)| local)
            .collect()
    }

    fn has_mptcp_listener(&self, port: u16) -> bool {
        let suffix = format!(":{port}");
        self.listeners()
            .iter()
            .any(|(netid, local)| netid == "mptcp" && local.ends_with(&suffix))
    }
}

/// Subflows joined to connections of the two-path network's client host
/// (SYN/ACKs of MP_JOIN received): each one is a second path in use.
pub fn joins(net: &TwoPathNet) -> u64 {
    net.client.mptcp_counter("MPJoinSynAckRx")
}

/// Parse `ss -H` listing lines into `(netid, local)`; lines without a
/// netid column get `default_netid`.
fn parse_ss(text: &str, default_netid: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (netid, rest) = match words.first() {
                Some(&w) if w == "tcp" || w == "mptcp" => (w, &words[1..]),
                Some(_) => (default_netid, &words[..]),
                None => return None,
            };
            // State Recv-Q Send-Q Local Peer
            Some((netid.to_string(), rest.get(3)?.to_string()))
        })
        .collect()
}

/// Wait until something listens on TCP `port` inside `netns` (polling
/// `ss -ltnH`), at most `timeout`; panics on timeout.
pub fn wait_for_listen(netns: &Netns, port: u16, timeout: Duration) {
    wait_listen_impl(netns, port, timeout, None)
}

/// Like [`wait_for_listen`], but fails at once (showing `log`, e.g. the
/// server's output) if `server` exits before listening.
pub fn wait_for_listen_of(
    netns: &Netns,
    port: u16,
    timeout: Duration,
    server: &mut ChildGuard,
    log: &dyn Fn() -> String,
) {
    wait_listen_impl(netns, port, timeout, Some((server, log)))
}

fn wait_listen_impl(
    netns: &Netns,
    port: u16,
    timeout: Duration,
    mut server: Option<(&mut ChildGuard, &dyn Fn() -> String)>,
) {
    let suffix = format!(":{port}");
    let deadline = Instant::now() + timeout;
    loop {
        let listening = netns.tcp_listeners();
        if listening.iter().any(|l| l.ends_with(&suffix)) {
            return;
        }
        if let Some((child, log)) = server.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "server `{}` exited ({status:?}) before listening on port {port}; its output:\n{}",
                child.what(),
                log()
            );
        }
        if Instant::now() >= deadline {
            let extra = server.as_ref().map(|(_, log)| log()).unwrap_or_default();
            panic!(
                "nothing listens on port {port} in {} after {timeout:?}; listeners: {listening:?}\n{extra}",
                netns.name()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}
