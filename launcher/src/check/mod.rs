//! `mptcpize-rs check [--json]`: can MPTCP work in this network namespace,
//! and if not, what to change.
//!
//! Three steps, kept apart so the judging can be tested without a kernel:
//! [`gather`] collects [`Facts`] (sysctls, the path manager's limits and
//! endpoints over generic netlink, a live MPTCP connection over loopback,
//! which engines `run` can use; `gather.rs`, the only part that talks to
//! the kernel), [`findings`] judges them (a pure function, `findings.rs`)
//! and [`render_text`] (`render.rs`) / [`render_json`] (`json.rs`, the
//! document's schema) print both.

mod findings;
mod gather;
mod json;
mod render;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::failure::Failure;
use crate::kernel::mptcp_info::MptcpInfo;
use crate::kernel::mptcp_pm::{Endpoint, Limits};

pub use findings::{Finding, Severity, can_work, findings};
pub use gather::{gather, host_systemd_version, judge_self_test, parse_systemctl_version};
pub use json::{CheckJson, render_json};
pub use render::render_text;

/// Exit status when MPTCP cannot work here.
pub const CANNOT_WORK: u8 = 1;

/// The command that turns MPTCP on.
pub const ENABLE_COMMAND: &str = "sysctl -w net.mptcp.enabled=1";
/// The commands that let connections use more than one path.
pub const LIMITS_COMMAND: &str = "ip mptcp limits set subflow 2 add_addr_accepted 2";
pub const ENDPOINT_COMMAND: &str = "ip mptcp endpoint add ADDRESS dev IFACE subflow";

/// Can an IPPROTO_MPTCP socket be created?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketSupport {
    Yes,
    /// `ENOPROTOOPT`: built in, but `net.mptcp.enabled` is 0.
    Disabled,
    /// `EPROTONOSUPPORT` (or `EINVAL` before 5.6): the kernel has no MPTCP.
    NotBuiltIn,
    /// Anything else (a security policy, resource limits): the error.
    Error(String),
}

/// The path manager (`net.mptcp.path_manager`, or `net.mptcp.pm_type`
/// on kernels before 6.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathManager {
    /// `kernel` or `userspace` (or whatever a future kernel names).
    pub name: String,
    /// The sysctl it was read from.
    pub sysctl: &'static str,
    /// `net.mptcp.available_path_managers`, when the kernel has it.
    pub available: Option<Vec<String>>,
}

/// `net.mptcp.scheduler` (Linux 6.6+).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduler {
    pub name: String,
    pub available: Option<Vec<String>>,
}

/// The outcome of the loopback connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// Connected, exchanged data, and both ends are still MPTCP.
    Mptcp {
        address: SocketAddr,
        client: MptcpInfo,
        server: MptcpInfo,
    },
    /// Connected and exchanged data, but as plain TCP (which end saw it).
    Fallback { side: &'static str },
    /// It could not be completed: why.
    Failed(String),
    /// Not attempted (MPTCP sockets cannot be created): why.
    Skipped(String),
}

/// Which engines `mptcpize-rs run` can use here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engines {
    /// The shim `run` would preload, or why there is none.
    pub preload: Result<PathBuf, String>,
    /// Whether the seccomp engine can work, or why not.
    pub seccomp: Result<(), String>,
}

/// The first systemd version whose `.socket` units take
/// `SocketProtocol=mptcp`.
pub const SOCKET_PROTOCOL_MPTCP_SINCE: u32 = 257;

/// systemd on this host, learned without D-Bus: the version from
/// `systemctl --version`, whether it runs as the init system from
/// `/run/systemd/system` (`sd_booted()`'s test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Systemd {
    /// The version number and `systemctl --version`'s first line, or why
    /// there is none (not installed, did not answer).
    pub version: Result<(u32, String), String>,
    pub running: bool,
}

impl Systemd {
    /// Whether `.socket` units can have `SocketProtocol=mptcp` here:
    /// unknown (`None`) when systemd's version is unknown or it does not
    /// run here.
    pub fn socket_protocol_mptcp(&self) -> Option<bool> {
        match &self.version {
            Ok((version, _)) if self.running => Some(*version >= SOCKET_PROTOCOL_MPTCP_SINCE),
            _ => None,
        }
    }
}

/// Everything `check` looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `/proc/sys/net/mptcp` exists.
    pub sysctls_present: bool,
    pub socket: SocketSupport,
    /// `net.mptcp.enabled`; `None` when it cannot be read.
    pub enabled: Option<bool>,
    pub path_manager: Option<PathManager>,
    pub scheduler: Option<Scheduler>,
    pub limits: Result<Limits, String>,
    pub endpoints: Result<Vec<Endpoint>, String>,
    pub self_test: SelfTest,
    pub engines: Engines,
    pub systemd: Systemd,
}

/// Runs the check and prints the report; 0 when MPTCP can work here (with
/// or without warnings), [`CANNOT_WORK`] otherwise.
pub fn check(json: bool) -> Result<u8, Failure> {
    let facts = gather();
    let findings = findings(&facts);
    let text = if json {
        crate::terminal_json::to_pretty_string(&render_json(&facts, &findings)) + "\n"
    } else {
        render_text(&facts, &findings)
    };
    io::stdout()
        .write_all(text.as_bytes())
        .map_err(|error| Failure::new(format!("cannot write the report: {error}")))?;
    Ok(if can_work(&findings) { 0 } else { CANNOT_WORK })
}

/// Facts of a healthy host, for the tests of each step.
#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::kernel::mptcp_info;
    use crate::kernel::mptcp_pm::FLAG_SUBFLOW;

    pub fn info() -> MptcpInfo {
        MptcpInfo {
            flags: mptcp_info::FLAG_REMOTE_KEY_RECEIVED,
            subflows_total: Some(1),
            ..MptcpInfo::default()
        }
    }

    pub fn endpoint(flags: u32) -> Endpoint {
        Endpoint {
            id: 1,
            address: Some("10.0.0.1".parse().unwrap()),
            port: None,
            flags,
            ifindex: Some(3),
            dev: Some("dummy0".into()),
        }
    }

    pub fn healthy() -> Facts {
        Facts {
            sysctls_present: true,
            socket: SocketSupport::Yes,
            enabled: Some(true),
            path_manager: Some(PathManager {
                name: "kernel".into(),
                sysctl: "net.mptcp.path_manager",
                available: Some(vec!["kernel".into(), "userspace".into()]),
            }),
            scheduler: Some(Scheduler {
                name: "default".into(),
                available: Some(vec!["default".into()]),
            }),
            limits: Ok(Limits {
                subflows: 2,
                add_addr_accepted: 2,
            }),
            endpoints: Ok(vec![endpoint(FLAG_SUBFLOW)]),
            self_test: SelfTest::Mptcp {
                address: "127.0.0.1:4242".parse().unwrap(),
                client: info(),
                server: info(),
            },
            engines: Engines {
                preload: Ok("/usr/lib/mptcpize-rs/libmptcpize_preload.so".into()),
                seccomp: Ok(()),
            },
            systemd: Systemd {
                version: Ok((252, "systemd 252 (252.39-1~deb12u2)".into())),
                running: true,
            },
        }
    }
}
