//! Network namespaces for tests that need root.
//!
//! Each [`Netns`] has a unique name (`mpz-PID-N`), its own loopback and its
//! own sysctls, so tests can run in parallel and use fixed ports. Dropping it
//! kills whatever still runs inside and deletes the namespace, also while a
//! test is panicking.
//!
//! Built to grow into multi-path topologies: [`Netns::veth_to`],
//! [`Netns::ip`], [`Netns::sysctl`] and [`Netns::netstat`] (MPTcpExt counters).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::prereq::{require_program, require_root};
use crate::process::{ChildGuard, CmdOutput, run_timeout};

const CMD_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// `ip netns add` sets up the /run/netns mount on first use; concurrent
/// first uses can race, so creations within this process are serialized.
static CREATE_LOCK: Mutex<()> = Mutex::new(());

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Options for [`Netns::with`].
#[derive(Debug, Clone)]
pub struct NetnsOptions {
    /// Value of `net.mptcp.enabled` inside (the kernel default is enabled).
    pub mptcp_enabled: bool,
}

impl Default for NetnsOptions {
    fn default() -> Self {
        NetnsOptions {
            mptcp_enabled: true,
        }
    }
}

fn ip_cmd() -> Command {
    Command::new("ip")
}

impl Netns {
    /// A new namespace with `lo` up and MPTCP enabled.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Netns {
        Netns::with(NetnsOptions::default())
    }

    /// A new namespace with `lo` up and `net.mptcp.enabled` set as given.
    pub fn with_mptcp(enabled: bool) -> Netns {
        Netns::with(NetnsOptions {
            mptcp_enabled: enabled,
        })
    }

    pub fn with(opts: NetnsOptions) -> Netns {
        require_root("creating network namespaces with `ip netns add`");
        require_program("ip");
        let name = format!(
            "mpz-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        {
            let _lock = CREATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let mut last = None;
            for attempt in 0..5 {
                let out = run_timeout(ip_cmd().args(["netns", "add", &name]), CMD_TIMEOUT);
                if out.status.success() {
                    last = None;
                    break;
                }
                if out.stderr.contains("File exists") {
                    // Left over from an earlier run that reused our PID.
                    let _ = run_timeout(ip_cmd().args(["netns", "del", &name]), CMD_TIMEOUT);
                }
                last = Some(out);
                thread::sleep(Duration::from_millis(50 * (attempt + 1)));
            }
            if let Some(out) = last {
                panic!("cannot create network namespace {name}:\n{out}");
            }
        }
        // From here on, Drop cleans up even if the setup below panics.
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        if !opts.mptcp_enabled {
            ns.sysctl("net.mptcp.enabled", "0");
        }
        let enabled = ns.read_sysctl("net.mptcp.enabled");
        let want = if opts.mptcp_enabled { "1" } else { "0" };
        if enabled != want {
            panic!(
                "net.mptcp.enabled in {} is {enabled:?}, wanted {want} \
                 (kernel without MPTCP support?)",
                ns.name
            );
        }
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec NAME program` (add arguments, env, stdio as usual).
    /// `ip netns exec` execs the program directly, so the spawned PID is the
    /// program's PID.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = ip_cmd();
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Run `program args...` inside with a bounded wait; status not checked.
    pub fn run(&self, program: &str, args: &[&str]) -> CmdOutput {
        run_timeout(self.cmd(program).args(args), CMD_TIMEOUT)
    }

    /// Run `program args...` inside and panic unless it succeeds.
    pub fn run_ok(&self, program: &str, args: &[&str]) -> CmdOutput {
        let out = self.run(program, args);
        out.success();
        out
    }

    /// `ip -n NAME ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> CmdOutput {
        let out = run_timeout(ip_cmd().args(["-n", &self.name]).args(args), CMD_TIMEOUT);
        out.success();
        out
    }

    /// `sysctl -w KEY=VALUE` inside (written through /proc/sys, so it does
    /// not need the sysctl program).
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let script = format!("printf '%s\\n' '{value}' > {path}");
        self.run_ok("sh", &["-c", &script]);
    }

    /// Current value of sysctl `key` inside.
    pub fn read_sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.run_ok("cat", &[&path]).stdout.trim().to_string()
    }

    /// Create a veth pair: `my_if` here, `peer_if` in `peer`, both up.
    pub fn veth_to(&self, my_if: &str, peer: &Netns, peer_if: &str) {
        self.ip(&[
            "link", "add", my_if, "type", "veth", "peer", "name", peer_if, "netns", &peer.name,
        ]);
        self.ip(&["link", "set", my_if, "up"]);
        peer.ip(&["link", "set", peer_if, "up"]);
    }

    /// Counters from `/proc/net/netstat` inside, keyed `Group.Name`
    /// (e.g. `MPTcpExt.MPCapableSYNRX`, `TcpExt.TCPTimeouts`).
    pub fn netstat(&self) -> BTreeMap<String, u64> {
        let text = self.run_ok("cat", &["/proc/net/netstat"]).stdout;
        let mut map = BTreeMap::new();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let mut n = names.split_whitespace();
            let mut v = values.split_whitespace();
            let (Some(group), Some(_)) = (n.next(), v.next()) else {
                continue;
            };
            let group = group.trim_end_matches(':');
            for (name, value) in n.zip(v) {
                if let Ok(value) = value.parse() {
                    map.insert(format!("{group}.{name}"), value);
                }
            }
        }
        map
    }

    /// One `MPTcpExt` counter (0 if the kernel does not report it).
    pub fn mptcp_counter(&self, name: &str) -> u64 {
        self.netstat()
            .get(&format!("MPTcpExt.{name}"))
            .copied()
            .unwrap_or(0)
    }

    /// Listening sockets inside, from `ss -ltnHM`: `(netid, local address)`
    /// where netid is `tcp` or `mptcp`.
    pub fn listeners(&self) -> Vec<(String, String)> {
        require_program("ss");
        let out = self.run_ok("ss", &["-ltnHM"]);
        parse_ss(&out.stdout, "tcp")
    }

    /// TCP-level listening sockets from `ss -ltnH` (an MPTCP listener also
    /// shows up here, through its in-kernel TCP subflow listener).
    pub fn tcp_listeners(&self) -> Vec<String> {
        require_program("ss");
        let out = self.run_ok("ss", &["-ltnH"]);
        parse_ss(&out.stdout, "tcp")
            .into_iter()
            .map(|(_, local)| local)
            .collect()
    }

    /// Whether `ss -ltnHM` lists an MPTCP listener on `port`.
    pub fn has_mptcp_listener(&self, port: u16) -> bool {
        let suffix = format!(":{port}");
        self.listeners()
            .iter()
            .any(|(netid, local)| netid == "mptcp" && local.ends_with(&suffix))
    }

    /// PIDs of processes running inside (`ip netns pids NAME`).
    pub fn pids(&self) -> Vec<i32> {
        run_timeout(ip_cmd().args(["netns", "pids", &self.name]), CMD_TIMEOUT)
            .stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
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

impl Drop for Netns {
    fn drop(&mut self) {
        for _ in 0..3 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) on a PID listed as running in our namespace.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        let out = run_timeout(ip_cmd().args(["netns", "del", &self.name]), CMD_TIMEOUT);
        if !out.status.success() {
            eprintln!(
                "warning: cannot delete network namespace {}:\n{out}",
                self.name
            );
        }
    }
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
