//! Judging the facts (pure): each finding in plain language, with the
//! command that fixes it.

use super::{
    ENABLE_COMMAND, ENDPOINT_COMMAND, Engines, Facts, LIMITS_COMMAND, SelfTest, SocketSupport,
};
use crate::engine::preload::shim;
use crate::kernel::mptcp_pm::{FLAG_SIGNAL, FLAG_SUBFLOW};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One judgement, in plain language, with the fix when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier for scripts (`mptcp-disabled`, `no-endpoints`, ...).
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Command(s) or steps that fix it.
    pub fix: Option<String>,
}

impl Finding {
    fn new(id: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            id,
            severity,
            message: message.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Whether MPTCP can work: no finding is an error.
pub fn can_work(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.severity != Severity::Error)
}

/// The findings, most fundamental first.
pub fn findings(facts: &Facts) -> Vec<Finding> {
    use Severity::{Error, Ok, Warning};
    let mut out = Vec::new();

    let mptcp_usable = match (&facts.socket, facts.enabled) {
        (SocketSupport::NotBuiltIn, _) => {
            out.push(
                Finding::new(
                    "no-kernel-support",
                    Error,
                    "This kernel has no MPTCP support: IPPROTO_MPTCP sockets cannot be \
                     created, so every program uses plain TCP.",
                )
                .fix(
                    "Boot a kernel built with CONFIG_MPTCP=y (Linux 5.6 or later; most \
                     distributions enable it).",
                ),
            );
            false
        }
        (SocketSupport::Disabled, _) | (_, Some(false)) => {
            out.push(
                Finding::new(
                    "mptcp-disabled",
                    Error,
                    "MPTCP is disabled in this network namespace (net.mptcp.enabled = 0): \
                     MPTCP sockets cannot be created and programs fall back to plain TCP.",
                )
                .fix(format!(
                    "{ENABLE_COMMAND}   (to keep it across reboots: echo \
                     net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf)"
                )),
            );
            false
        }
        (SocketSupport::Error(error), _) => {
            out.push(
                Finding::new(
                    "mptcp-socket-error",
                    Error,
                    format!("An MPTCP socket cannot be created here: {error}."),
                )
                .fix(
                    "Check what denies IPPROTO_MPTCP sockets to this process (a seccomp \
                     profile, SELinux/AppArmor, a BPF cgroup program).",
                ),
            );
            false
        }
        (SocketSupport::Yes, _) => {
            out.push(Finding::new(
                "mptcp-enabled",
                Ok,
                "The kernel supports MPTCP and it is enabled (net.mptcp.enabled = 1).",
            ));
            true
        }
    };

    if mptcp_usable {
        judge_paths(facts, &mut out);
        match &facts.self_test {
            SelfTest::Mptcp { address, .. } => out.push(Finding::new(
                "self-test-passed",
                Ok,
                format!(
                    "Self-test: an MPTCP connection over {address} exchanged data without \
                     falling back to TCP."
                ),
            )),
            SelfTest::Fallback { side } => out.push(
                Finding::new(
                    "self-test-fallback",
                    Error,
                    format!(
                        "Self-test: the MPTCP connection over loopback fell back to plain \
                         TCP ({side} reported it). Something on this host strips the MPTCP \
                         options or refuses MPTCP."
                    ),
                )
                .fix(
                    "Look for firewall rules or BPF programs acting on TCP options \
                     (nft list ruleset; iptables-save), and check the MPTcpExt counters \
                     in /proc/net/netstat (nstat -az | grep -i mptcp).",
                ),
            ),
            SelfTest::Failed(error) => out.push(
                Finding::new(
                    "self-test-failed",
                    Warning,
                    format!(
                        "Self-test: the MPTCP connection over loopback could not be \
                         completed ({error}), so it is unproven that connections stay MPTCP."
                    ),
                )
                .fix("Make sure the loopback interface is up: ip link set lo up"),
            ),
            SelfTest::Skipped(_) => {}
        }
    }

    judge_engines(&facts.engines, &mut out);
    out
}

/// Limits, endpoints and the path manager: will connections use more
/// than one path?
fn judge_paths(facts: &Facts, out: &mut Vec<Finding>) {
    use Severity::{Ok, Warning};
    if let Some(pm) = &facts.path_manager
        && pm.name != "kernel"
    {
        let fix = if pm.sysctl == "net.mptcp.pm_type" {
            "Run a path manager daemon such as mptcpd, or select the in-kernel one: \
             sysctl -w net.mptcp.pm_type=0"
        } else {
            "Run a path manager daemon such as mptcpd, or select the in-kernel one: \
             sysctl -w net.mptcp.path_manager=kernel"
        };
        out.push(
            Finding::new(
                "userspace-path-manager",
                Warning,
                format!(
                    "The {} path manager is selected ({}): extra subflows come only from a \
                     daemon such as mptcpd; without one, connections use one path. The \
                     limits and endpoints below do not apply.",
                    pm.name, pm.sysctl
                ),
            )
            .fix(fix),
        );
        return;
    }
    let mut one_path = false;
    match &facts.limits {
        Err(error) => out.push(Finding::new(
            "limits-unreadable",
            Warning,
            format!("The path manager's limits cannot be read: {error}."),
        )),
        Result::Ok(limits) => {
            if limits.subflows == 0 {
                one_path = true;
                out.push(
                    Finding::new(
                        "subflow-limit-zero",
                        Warning,
                        "The subflow limit is 0: no connection may add a subflow, so every \
                         connection uses one path.",
                    )
                    .fix(LIMITS_COMMAND),
                );
            } else if limits.add_addr_accepted == 0 {
                out.push(
                    Finding::new(
                        "add-addr-accepted-zero",
                        Warning,
                        "add_addr_accepted is 0: addresses a server announces are ignored, \
                         so as a client this host opens no subflow to a server's other \
                         addresses.",
                    )
                    .fix(LIMITS_COMMAND),
                );
            }
        }
    }
    match &facts.endpoints {
        Err(error) => out.push(Finding::new(
            "endpoints-unreadable",
            Warning,
            format!("The path manager's endpoints cannot be read: {error}."),
        )),
        Result::Ok(endpoints) => {
            let useful = endpoints
                .iter()
                .filter(|e| e.flags & (FLAG_SUBFLOW | FLAG_SIGNAL) != 0)
                .count();
            if useful == 0 {
                let what = if endpoints.is_empty() {
                    "No MPTCP endpoints are configured"
                } else {
                    "No MPTCP endpoint has the subflow or signal flag"
                };
                out.push(
                    Finding::new(
                        "no-endpoints",
                        Warning,
                        format!(
                            "{what}: this host neither opens subflows from its other \
                             addresses nor announces them, so its connections use one path \
                             (unless the peer announces addresses)."
                        ),
                    )
                    .fix(format!(
                        "{ENDPOINT_COMMAND}   (once per extra address; on a server, use \
                         `signal` instead of `subflow`)"
                    )),
                );
            } else if !one_path && let Result::Ok(limits) = &facts.limits {
                out.push(Finding::new(
                    "multipath-ready",
                    Ok,
                    format!(
                        "Connections can use several paths: {useful} endpoint(s), up to {} \
                         extra subflow(s) per connection.",
                        limits.subflows
                    ),
                ));
            }
        }
    }
}

fn judge_engines(engines: &Engines, out: &mut Vec<Finding>) {
    use Severity::{Error, Ok, Warning};
    match &engines.preload {
        Result::Ok(path) => out.push(Finding::new(
            "preload-engine",
            Ok,
            format!(
                "Engine preload (LD_PRELOAD) is usable: shim {}.",
                path.display()
            ),
        )),
        Err(reason) => out.push(
            Finding::new(
                "preload-engine-missing",
                Warning,
                format!("Engine preload (LD_PRELOAD) is not usable: shim {reason}."),
            )
            .fix(format!(
                "Build it (cargo build --release) so it lands next to mptcpize-rs, or set \
                 {} to its full path.",
                shim::OVERRIDE_VAR
            )),
        ),
    }
    match &engines.seccomp {
        Result::Ok(()) => out.push(Finding::new(
            "seccomp-engine",
            Ok,
            "Engine seccomp is usable (seccomp user notification is supported).",
        )),
        Err(reason) => out.push(Finding::new(
            "seccomp-engine-unavailable",
            Warning,
            format!(
                "Engine seccomp is not usable: {reason}; statically linked programs \
                 cannot be converted."
            ),
        )),
    }
    if engines.preload.is_err() && engines.seccomp.is_err() {
        out.push(Finding::new(
            "no-engine",
            Error,
            "Neither engine is usable: `mptcpize-rs run` cannot convert any program here.",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::{endpoint, healthy};
    use crate::kernel::mptcp_pm::Limits;

    fn ids(findings: &[Finding], severity: Severity) -> Vec<&'static str> {
        findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn healthy_host_has_only_ok_findings() {
        let findings = findings(&healthy());
        assert!(can_work(&findings));
        assert_eq!(ids(&findings, Severity::Warning), Vec::<&str>::new());
        assert_eq!(ids(&findings, Severity::Error), Vec::<&str>::new());
        assert_eq!(
            ids(&findings, Severity::Ok),
            [
                "mptcp-enabled",
                "multipath-ready",
                "self-test-passed",
                "preload-engine",
                "seccomp-engine"
            ]
        );
    }

    #[test]
    fn disabled_names_the_sysctl_and_the_command() {
        let facts = Facts {
            socket: SocketSupport::Disabled,
            enabled: Some(false),
            self_test: SelfTest::Skipped("MPTCP is disabled".into()),
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(!can_work(&findings));
        assert_eq!(ids(&findings, Severity::Error), ["mptcp-disabled"]);
        let disabled = &findings[0];
        assert!(disabled.message.contains("net.mptcp.enabled"));
        assert!(disabled.fix.as_ref().unwrap().contains(ENABLE_COMMAND));
        // Path findings would be noise when nothing is MPTCP at all.
        assert!(!findings.iter().any(|f| f.id == "multipath-ready"));
    }

    #[test]
    fn no_kernel_support() {
        let facts = Facts {
            sysctls_present: false,
            socket: SocketSupport::NotBuiltIn,
            enabled: None,
            limits: Err("no mptcp_pm family".into()),
            endpoints: Err("no mptcp_pm family".into()),
            self_test: SelfTest::Skipped("the kernel has no MPTCP".into()),
            ..healthy()
        };
        let findings = findings(&facts);
        assert_eq!(ids(&findings, Severity::Error), ["no-kernel-support"]);
        assert_eq!(ids(&findings, Severity::Warning), Vec::<&str>::new());
    }

    #[test]
    fn default_limits_and_no_endpoints_warn_of_one_path() {
        let facts = Facts {
            limits: Ok(Limits {
                subflows: 2,
                add_addr_accepted: 0,
            }),
            endpoints: Ok(vec![]),
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(can_work(&findings));
        assert_eq!(
            ids(&findings, Severity::Warning),
            ["add-addr-accepted-zero", "no-endpoints"]
        );
        let no_endpoints = findings.iter().find(|f| f.id == "no-endpoints").unwrap();
        assert!(no_endpoints.message.contains("one path"));
        assert!(
            no_endpoints
                .fix
                .as_ref()
                .unwrap()
                .contains("ip mptcp endpoint add")
        );
        let limits = findings.iter().find(|f| f.id == "add-addr-accepted-zero");
        assert_eq!(limits.unwrap().fix.as_deref(), Some(LIMITS_COMMAND));
    }

    #[test]
    fn zero_subflow_limit_warns_even_with_endpoints() {
        let facts = Facts {
            limits: Ok(Limits {
                subflows: 0,
                add_addr_accepted: 0,
            }),
            ..healthy()
        };
        let findings = findings(&facts);
        assert_eq!(ids(&findings, Severity::Warning), ["subflow-limit-zero"]);
        assert!(findings[1].message.contains("one path"));
        assert_eq!(findings[1].fix.as_deref(), Some(LIMITS_COMMAND));
        assert!(!findings.iter().any(|f| f.id == "multipath-ready"));
    }

    #[test]
    fn backup_only_endpoints_do_not_count() {
        let facts = Facts {
            endpoints: Ok(vec![endpoint(1 << 2)]),
            ..healthy()
        };
        let findings = findings(&facts);
        assert_eq!(ids(&findings, Severity::Warning), ["no-endpoints"]);
    }

    #[test]
    fn userspace_path_manager_replaces_limit_checks() {
        let mut facts = healthy();
        facts.path_manager.as_mut().unwrap().name = "userspace".into();
        facts.endpoints = Ok(vec![]);
        let findings = findings(&facts);
        assert_eq!(
            ids(&findings, Severity::Warning),
            ["userspace-path-manager"]
        );
        assert!(
            findings[1]
                .fix
                .as_ref()
                .unwrap()
                .contains("path_manager=kernel")
        );
    }

    #[test]
    fn self_test_fallback_is_an_error() {
        let facts = Facts {
            self_test: SelfTest::Fallback { side: "the server" },
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(!can_work(&findings));
        assert_eq!(ids(&findings, Severity::Error), ["self-test-fallback"]);
        assert!(findings.iter().any(|f| f.message.contains("fell back")));
    }

    #[test]
    fn self_test_failure_is_a_warning() {
        let facts = Facts {
            self_test: SelfTest::Failed("connect: timed out".into()),
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(can_work(&findings));
        assert_eq!(ids(&findings, Severity::Warning), ["self-test-failed"]);
    }

    #[test]
    fn engines() {
        let mut facts = healthy();
        facts.engines.preload = Err("not found (looked in: /x)".into());
        let found = findings(&facts);
        assert_eq!(ids(&found, Severity::Warning), ["preload-engine-missing"]);
        assert!(can_work(&found));
        facts.engines.seccomp = Err("no seccomp".into());
        let found = findings(&facts);
        assert_eq!(ids(&found, Severity::Error), ["no-engine"]);
        assert!(!can_work(&found));
    }
}
