//! Building and removing a named testnet (`testnet up`, `down`, `path`):
//! two network namespaces joined by N shaped veth paths with MPTCP set up
//! so the client opens one subflow per path. Everything lives inside the
//! two namespaces: the veth pairs are created with one end already in the
//! server's, so no interface ever appears on the host, and deleting the
//! namespaces removes the links with them.

use std::fs;
use std::io;
use std::path::Path;

use crate::failure::Failure;
use crate::kernel::netns::Netns;
use crate::testnet::plan::{self, PathPlan};
use crate::testnet::tbf_parameters;

/// Where iproute2 keeps named network namespaces.
const NETNS_DIR: &str = "/run/netns";

/// What `testnet up` was asked for, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpRequest {
    pub name: String,
    pub paths: u8,
    pub rates: Vec<u32>,
    pub delays: Option<Vec<u32>>,
}

/// Configures client and server for `paths`: MPTCP on and its limits on
/// both, each path's veth pair, addresses and shaping, and a `signal`
/// endpoint on the server for every address beyond the first, so the
/// client's path manager opens a subflow towards each.
pub fn configure(client: &Netns, server: &Netns, paths: &[PathPlan]) -> io::Result<()> {
    let count = paths.len() as u8;
    for host in [client, server] {
        host.sysctl("net.mptcp.enabled", "1")?;
        host.ip(std::iter::once("mptcp".to_string()).chain(plan::mptcp_limits(count)))?;
    }
    for path in paths {
        let dev = path.interface.as_str();
        let veth = [
            "link",
            "add",
            dev,
            "type",
            "veth",
            "peer",
            "name",
            dev,
            "netns",
            server.name(),
        ];
        client.ip(veth)?;
        for (host, addr) in [(client, path.client), (server, path.server)] {
            host.ip(["addr", "add", &format!("{addr}/24"), "dev", dev])?;
            host.ip(["link", "set", dev, "up"])?;
            shape(host, dev, path.rate_mbit, "add")?;
            if let Some(delay) = path.delay_ms {
                // netem under tbf: the rate stays tbf's, the delay is added
                // to every packet leaving this end.
                let delay = format!("{delay}ms");
                let netem = [
                    "qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "netem", "delay",
                ];
                host.tc(netem.into_iter().chain([delay.as_str()]))?;
            }
        }
    }
    for path in paths.iter().skip(1) {
        let address = path.server.to_string();
        let endpoint = [
            "mptcp",
            "endpoint",
            "add",
            &address,
            "dev",
            &path.interface,
            "signal",
        ];
        server.ip(endpoint)?;
    }
    Ok(())
}

/// `tc qdisc add|change ... root handle 1: tbf` with the rate's bucket.
fn shape(host: &Netns, dev: &str, rate_mbit: u32, verb: &str) -> io::Result<()> {
    let (rate, burst) = tbf_parameters(rate_mbit);
    host.tc([
        "qdisc", verb, "dev", dev, "root", "handle", "1:", "tbf", "rate", &rate, "burst", &burst,
        "latency", "50ms",
    ])
}

/// Refuses what `up` cannot do before anything is made.
fn preflight(request: &UpRequest) -> Result<(), Failure> {
    require_root("testnet up")?;
    if request.delays.is_some() && !netem_available() {
        return Err(Failure::new(
            "--delay needs the kernel's netem queueing discipline (sch_netem), which this \
             kernel does not have; nothing was created. Leave out --delay, or use a kernel \
             with CONFIG_NET_SCH_NETEM",
        ));
    }
    if exists(&request.name) {
        return Err(Failure::new(format!(
            "testnet {} exists already; remove it first: mptcpize-rs testnet down {}",
            request.name, request.name
        )));
    }
    Ok(())
}

/// Builds the testnet, all or nothing: until the end, both namespaces are
/// owned guards, and an error drops them (removing what was made).
pub fn up(request: &UpRequest) -> Result<Vec<PathPlan>, Failure> {
    preflight(request)?;
    let paths = plan::address_plan(&request.rates, request.delays.as_deref());
    let (client_name, server_name) = plan::namespaces(&request.name);
    let failed = |error: io::Error| {
        Failure::new(format!(
            "cannot create testnet {}: {error}; nothing was left behind",
            request.name
        ))
    };
    let client = Netns::create_named(&client_name).map_err(failed)?;
    let server = Netns::create_named(&server_name).map_err(failed)?;
    configure(&client, &server, &paths).map_err(failed)?;
    client.keep();
    server.keep();
    Ok(paths)
}

/// The text `up` prints: the addresses and how to use them.
pub fn up_summary(name: &str, paths: &[PathPlan]) -> String {
    let (client, server) = plan::namespaces(name);
    let mut text = format!(
        "testnet {name}: {} path(s) between namespaces {client} and {server}\n",
        paths.len()
    );
    for path in paths {
        let delay = path
            .delay_ms
            .map_or(String::new(), |d| format!(", +{d} ms each way"));
        text += &format!(
            "  path {}: client {}  server {}  {} Mbit/s{delay}\n",
            path.index, path.client, path.server, path.rate_mbit
        );
    }
    let first = &paths[0].server;
    text += &format!(
        "Servers must listen on the wildcard address (0.0.0.0) and keep listening.\n\
         \x20 mptcpize-rs testnet exec {name} server --mptcp -- iperf3 -s\n\
         \x20 mptcpize-rs testnet exec {name} client --mptcp -- iperf3 -c {first}\n\
         \x20 mptcpize-rs testnet status {name}        (bytes and subflows per path)\n\
         \x20 mptcpize-rs testnet path {name} 1 down   (fail a path; `up` restores it)\n\
         \x20 mptcpize-rs testnet down {name}\n"
    );
    text
}

/// Whether either namespace of testnet `name` exists.
pub fn exists(name: &str) -> bool {
    let (client, server) = plan::namespaces(name);
    [client, server]
        .iter()
        .any(|ns| Path::new(NETNS_DIR).join(ns).exists())
}

/// Removes testnet `name` (both namespaces, what runs in them and their
/// links). An unknown name is an error.
pub fn down(name: &str) -> Result<(), Failure> {
    require_root("testnet down")?;
    if !exists(name) {
        return Err(Failure::new(format!(
            "no testnet named {name} (mptcpize-rs testnet down --all removes every one)"
        )));
    }
    remove(name)
}

/// Removes every testnet, also those a killed `up` or test left behind.
/// Returns the names removed.
pub fn down_all() -> Result<Vec<String>, Failure> {
    require_root("testnet down")?;
    let mut names: Vec<String> = fs::read_dir(NETNS_DIR)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter_map(|ns| plan::testnet_of_namespace(&ns).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    // Every testnet is tried, whatever one refuses; the failures together.
    let failures: Vec<String> = names
        .iter()
        .filter_map(|name| remove(name).err().map(|failure| failure.to_string()))
        .collect();
    if !failures.is_empty() {
        return Err(Failure::new(failures.join("; ")));
    }
    Ok(names)
}

fn remove(name: &str) -> Result<(), Failure> {
    let (client, server) = plan::namespaces(name);
    let mut errors = Vec::new();
    for ns in [client, server] {
        if Path::new(NETNS_DIR).join(&ns).exists()
            && let Err(error) = Netns::existing(&ns).remove()
        {
            errors.push(format!("{ns}: {error}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "cannot remove testnet {name}: {}",
            errors.join("; ")
        )))
    }
}

/// What `testnet path` does to one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathChange {
    Down,
    Up,
    Rate(u32),
}

/// Fails, restores or reshapes path `index` at both ends.
pub fn change_path(name: &str, index: u8, change: PathChange) -> Result<(), Failure> {
    require_root("testnet path")?;
    let (client, server) = hosts(name)?;
    let dev = plan::interface(index);
    if client.query("ip", ["link", "show", "dev", &dev]).is_err() {
        return Err(Failure::usage(format!(
            "testnet {name} has no path {index}"
        )));
    }
    for host in [&client, &server] {
        let result = match change {
            PathChange::Down => host.ip(["link", "set", &dev, "down"]),
            PathChange::Up => host.ip(["link", "set", &dev, "up"]),
            PathChange::Rate(rate) => shape(host, &dev, rate, "change"),
        };
        result.map_err(|error| Failure::new(format!("path {index} of {name}: {error}")))?;
    }
    Ok(())
}

/// The two namespaces of an existing testnet (left in place on drop).
pub fn hosts(name: &str) -> Result<(Netns, Netns), Failure> {
    let (client, server) = plan::namespaces(name);
    for ns in [&client, &server] {
        if !Path::new(NETNS_DIR).join(ns).exists() {
            return Err(Failure::new(format!(
                "no testnet named {name} (namespace {ns} is missing; mptcpize-rs testnet up --name {name})"
            )));
        }
    }
    Ok((Netns::existing(&client), Netns::existing(&server)))
}

/// The path to a namespace's file, for `setns`.
pub fn namespace_file(namespace: &str) -> std::path::PathBuf {
    Path::new(NETNS_DIR).join(namespace)
}

/// Namespaces, links and shaping need CAP_NET_ADMIN and CAP_SYS_ADMIN.
pub fn require_root(what: &str) -> Result<(), Failure> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{what} needs root (network namespaces and links): sudo mptcpize-rs {what} ..."
        )))
    }
}

/// Whether the kernel can give us netem: built in, loaded, or a module the
/// kernel can load on demand.
fn netem_available() -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = Path::new("/lib/modules").join(release.trim());
    let listed = |file: &str| {
        fs::read_to_string(modules.join(file)).is_ok_and(|text| text.contains("sch_netem"))
    };
    Path::new("/sys/module/sch_netem").exists()
        || listed("modules.builtin")
        || listed("modules.dep")
}
