//! `check --json`: the document's schema ([`CheckJson`] and the structs it
//! holds) and how the facts and findings fill it (pure).
//!
//! Every field is always present: what is unknown or does not apply is
//! `null` (an `Option` that is `None`), never left out.

use serde::Serialize;

use super::{Facts, Finding, SelfTest, SocketSupport, can_work};
use crate::kernel::mptcp_pm::{Endpoint, FLAG_SIGNAL, FLAG_SUBFLOW};

/// The machine-readable report: the verdict, every fact, the findings.
#[derive(Serialize)]
pub struct CheckJson<'a> {
    pub mptcp_can_work: bool,
    /// The sysctls exist or an MPTCP socket could be created.
    pub kernel_support: bool,
    /// `/proc/sys/net/mptcp` exists.
    pub mptcp_sysctls: bool,
    pub mptcp_socket: SocketJson,
    /// `net.mptcp.enabled`; `null` when it cannot be read.
    pub enabled: Option<bool>,
    pub path_manager: Option<PathManagerJson<'a>>,
    pub scheduler: Option<SchedulerJson<'a>>,
    /// `null` when they could not be read: see `limits_error`.
    pub limits: Option<LimitsJson>,
    pub limits_error: Option<&'a str>,
    /// `null` when they could not be read: see `endpoints_error`.
    pub endpoints: Option<Vec<EndpointJson<'a>>>,
    pub endpoints_error: Option<&'a str>,
    pub self_test: SelfTestJson<'a>,
    pub engines: EnginesJson<'a>,
    pub systemd: SystemdJson<'a>,
    pub findings: Vec<FindingJson<'a>>,
}

/// systemd on this host (from `systemctl --version`, no D-Bus).
#[derive(Serialize)]
pub struct SystemdJson<'a> {
    /// `systemctl` ran and told its version.
    pub installed: bool,
    /// `252`; `null` when unknown (see `error`).
    pub version: Option<u32>,
    /// `systemctl --version`'s first line.
    pub version_text: Option<&'a str>,
    /// systemd runs as the init system (`/run/systemd/system`).
    pub running: bool,
    /// `.socket` units take `SocketProtocol=mptcp` (systemd >= 257);
    /// `null` when unknown (version unknown, or systemd not running).
    pub socket_protocol_mptcp: Option<bool>,
    pub error: Option<&'a str>,
}

/// Could an IPPROTO_MPTCP socket be created, and if not, why.
#[derive(Serialize)]
pub struct SocketJson {
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct PathManagerJson<'a> {
    pub name: &'a str,
    /// The sysctl the name was read from.
    pub sysctl: &'a str,
    pub available: Option<&'a [String]>,
}

#[derive(Serialize)]
pub struct SchedulerJson<'a> {
    pub name: &'a str,
    pub available: Option<&'a [String]>,
}

/// The path manager's limits.
#[derive(Serialize)]
pub struct LimitsJson {
    pub subflows: u32,
    pub add_addr_accepted: u32,
}

/// One path manager endpoint: its flags both as names (unknown bits as
/// hex) and as one boolean each for the four known ones.
#[derive(Serialize)]
pub struct EndpointJson<'a> {
    pub id: u8,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub dev: Option<&'a str>,
    pub ifindex: Option<i32>,
    pub flags: Vec<String>,
    pub signal: bool,
    pub subflow: bool,
    pub backup: bool,
    pub fullmesh: bool,
}

/// The loopback connection's outcome, `result` first; the other fields
/// depend on it.
#[derive(Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum SelfTestJson<'a> {
    /// `fallback` is always false here.
    Mptcp {
        address: String,
        fallback: bool,
        subflows: u8,
        client_token: u32,
        server_token: u32,
    },
    /// `fallback` is always true here; `detail` says which end saw it.
    Fallback {
        fallback: bool,
        detail: String,
    },
    Failed {
        detail: &'a str,
    },
    Skipped {
        detail: &'a str,
    },
}

#[derive(Serialize)]
pub struct EnginesJson<'a> {
    pub preload: PreloadJson<'a>,
    pub seccomp: SeccompJson<'a>,
    /// Which sockets each engine reaches, the same on every host.
    pub reach: Vec<ReachJson>,
}

/// One row of [`crate::engine::REACH`].
#[derive(Serialize)]
pub struct ReachJson {
    pub calls: &'static str,
    pub preload: bool,
    pub seccomp: bool,
    pub note: &'static str,
}

/// `shim` when usable, `reason` otherwise; the other is `null`.
#[derive(Serialize)]
pub struct PreloadJson<'a> {
    pub usable: bool,
    pub shim: Option<String>,
    pub reason: Option<&'a str>,
}

#[derive(Serialize)]
pub struct SeccompJson<'a> {
    pub usable: bool,
    pub reason: Option<&'a str>,
}

#[derive(Serialize)]
pub struct FindingJson<'a> {
    /// Stable identifier for scripts.
    pub id: &'a str,
    /// `ok`, `warning` or `error`.
    pub severity: &'a str,
    pub message: &'a str,
    pub fix: Option<&'a str>,
}

/// The machine-readable report: every fact, the findings and the verdict.
pub fn render_json<'a>(facts: &'a Facts, findings: &'a [Finding]) -> CheckJson<'a> {
    let (socket_ok, socket_error) = match &facts.socket {
        SocketSupport::Yes => (true, None),
        SocketSupport::Disabled => (false, Some("ENOPROTOOPT: disabled".to_string())),
        SocketSupport::NotBuiltIn => (false, Some("EPROTONOSUPPORT: not built in".to_string())),
        SocketSupport::Error(error) => (false, Some(error.clone())),
    };
    let engines = &facts.engines;
    CheckJson {
        mptcp_can_work: can_work(findings),
        kernel_support: facts.sysctls_present || socket_ok,
        mptcp_sysctls: facts.sysctls_present,
        mptcp_socket: SocketJson {
            ok: socket_ok,
            error: socket_error,
        },
        enabled: facts.enabled,
        path_manager: facts.path_manager.as_ref().map(|pm| PathManagerJson {
            name: &pm.name,
            sysctl: pm.sysctl,
            available: pm.available.as_deref(),
        }),
        scheduler: facts.scheduler.as_ref().map(|s| SchedulerJson {
            name: &s.name,
            available: s.available.as_deref(),
        }),
        limits: facts.limits.as_ref().ok().map(|l| LimitsJson {
            subflows: l.subflows,
            add_addr_accepted: l.add_addr_accepted,
        }),
        limits_error: facts.limits.as_ref().err().map(String::as_str),
        endpoints: (facts.endpoints.as_ref().ok())
            .map(|list| list.iter().map(EndpointJson::new).collect()),
        endpoints_error: facts.endpoints.as_ref().err().map(String::as_str),
        self_test: SelfTestJson::new(&facts.self_test),
        engines: EnginesJson {
            preload: PreloadJson {
                usable: engines.preload.is_ok(),
                shim: (engines.preload.as_ref().ok()).map(|p| p.display().to_string()),
                reason: engines.preload.as_ref().err().map(String::as_str),
            },
            seccomp: SeccompJson {
                usable: engines.seccomp.is_ok(),
                reason: engines.seccomp.as_ref().err().map(String::as_str),
            },
            reach: (crate::engine::REACH.iter())
                .map(|row| ReachJson {
                    calls: row.calls,
                    preload: row.preload,
                    seccomp: row.seccomp,
                    note: row.note,
                })
                .collect(),
        },
        systemd: SystemdJson {
            installed: facts.systemd.version.is_ok(),
            version: facts.systemd.version.as_ref().ok().map(|(v, _)| *v),
            version_text: (facts.systemd.version.as_ref().ok()).map(|(_, text)| text.as_str()),
            running: facts.systemd.running,
            socket_protocol_mptcp: facts.systemd.socket_protocol_mptcp(),
            error: facts.systemd.version.as_ref().err().map(String::as_str),
        },
        findings: findings
            .iter()
            .map(|f| FindingJson {
                id: f.id,
                severity: f.severity.name(),
                message: &f.message,
                fix: f.fix.as_deref(),
            })
            .collect(),
    }
}

impl<'a> EndpointJson<'a> {
    fn new(e: &'a Endpoint) -> EndpointJson<'a> {
        let has = |bit: u32| e.flags & bit != 0;
        EndpointJson {
            id: e.id,
            address: e.address.map(|a| a.to_string()),
            port: e.port,
            dev: e.dev.as_deref(),
            ifindex: e.ifindex,
            flags: e.flag_names(),
            signal: has(FLAG_SIGNAL),
            subflow: has(FLAG_SUBFLOW),
            backup: has(1 << 2),
            fullmesh: has(1 << 3),
        }
    }
}

impl<'a> SelfTestJson<'a> {
    fn new(self_test: &'a SelfTest) -> SelfTestJson<'a> {
        match self_test {
            SelfTest::Mptcp {
                address,
                client,
                server,
            } => SelfTestJson::Mptcp {
                address: address.to_string(),
                fallback: false,
                subflows: client.subflows(),
                client_token: client.token,
                server_token: server.token,
            },
            SelfTest::Fallback { side } => SelfTestJson::Fallback {
                fallback: true,
                detail: format!("reported by {side}"),
            },
            SelfTest::Failed(error) => SelfTestJson::Failed { detail: error },
            SelfTest::Skipped(why) => SelfTestJson::Skipped { detail: why },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::findings;
    use crate::check::fixtures::healthy;
    use crate::terminal_json::to_pretty_string;

    #[test]
    fn json_report() {
        let facts = healthy();
        let json = to_pretty_string(&render_json(&facts, &findings(&facts)));
        for needle in [
            "\"mptcp_can_work\": true",
            "\"subflows\": 2",
            "\"add_addr_accepted\": 2",
            "\"address\": \"10.0.0.1\"",
            "\"dev\": \"dummy0\"",
            "\"subflow\": true",
            "\"result\": \"mptcp\"",
            "\"severity\": \"ok\"",
            "\"version\": 252",
            "\"socket_protocol_mptcp\": false",
            "\"calls\": \"socket() as a raw system call\",\n        \"preload\": false,\n        \"seccomp\": true",
        ] {
            assert!(json.contains(needle), "missing {needle:?} in:\n{json}");
        }
    }

    /// `result` first, then the fields of that outcome only.
    #[test]
    fn self_test_shapes() {
        let json = |self_test: SelfTest| serde_json::to_string(&SelfTestJson::new(&self_test));
        let mptcp = healthy().self_test;
        assert_eq!(
            json(mptcp).unwrap(),
            r#"{"result":"mptcp","address":"127.0.0.1:4242","fallback":false,"subflows":1,"client_token":0,"server_token":0}"#
        );
        let fallback = SelfTest::Fallback { side: "the server" };
        assert_eq!(
            json(fallback).unwrap(),
            r#"{"result":"fallback","fallback":true,"detail":"reported by the server"}"#
        );
        let failed = SelfTest::Failed("timed out".into());
        assert_eq!(
            json(failed).unwrap(),
            r#"{"result":"failed","detail":"timed out"}"#
        );
        let skipped = SelfTest::Skipped("no socket".into());
        assert_eq!(
            json(skipped).unwrap(),
            r#"{"result":"skipped","detail":"no socket"}"#
        );
    }
}
