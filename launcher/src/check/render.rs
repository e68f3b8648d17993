//! Printing the facts and findings: the human report and the JSON one
//! (pure).

use super::{Facts, Finding, SelfTest, Severity, SocketSupport, can_work};
use crate::json::Json;
use crate::kernel::mptcp_pm::Endpoint;
use crate::kernel::mptcp_pm::{FLAG_SIGNAL, FLAG_SUBFLOW};

/// The human report: facts, findings, verdict.
pub fn render_text(facts: &Facts, findings: &[Finding]) -> String {
    let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
    let kernel = match &facts.socket {
        SocketSupport::Yes => "MPTCP supported (IPPROTO_MPTCP sockets can be created)".into(),
        SocketSupport::Disabled => "MPTCP built in, but sockets are refused (disabled)".into(),
        SocketSupport::NotBuiltIn => "no MPTCP support".into(),
        SocketSupport::Error(error) => format!("MPTCP socket failed: {error}"),
    };
    rows.push(("kernel", vec![kernel]));
    rows.push((
        "net.mptcp.enabled",
        vec![match facts.enabled {
            Some(true) => "1".into(),
            Some(false) => "0".into(),
            None => "unknown (no /proc/sys/net/mptcp/enabled)".into(),
        }],
    ));
    if let Some(pm) = &facts.path_manager {
        let mut line = format!("{} ({}", pm.name, pm.sysctl);
        if let Some(available) = &pm.available {
            line += &format!("; available: {}", available.join(" "));
        }
        rows.push(("path manager", vec![line + ")"]));
    }
    if let Some(scheduler) = &facts.scheduler {
        let mut line = scheduler.name.clone();
        if let Some(available) = &scheduler.available {
            line += &format!(" (available: {})", available.join(" "));
        }
        rows.push(("scheduler", vec![line]));
    }
    rows.push((
        "limits",
        vec![match &facts.limits {
            Ok(limits) => format!(
                "subflow {}, add_addr_accepted {}",
                limits.subflows, limits.add_addr_accepted
            ),
            Err(error) => format!("unknown: {error}"),
        }],
    ));
    rows.push((
        "endpoints",
        match &facts.endpoints {
            Ok(endpoints) if endpoints.is_empty() => vec!["none".into()],
            Ok(endpoints) => endpoints.iter().map(endpoint_line).collect(),
            Err(error) => vec![format!("unknown: {error}")],
        },
    ));
    rows.push(("self-test", vec![self_test_line(&facts.self_test)]));
    rows.push((
        "engines",
        vec![
            match &facts.engines.preload {
                Ok(path) => format!("preload: {}", path.display()),
                Err(reason) => format!("preload: shim {reason}"),
            },
            match &facts.engines.seccomp {
                Ok(()) => "seccomp: supported".into(),
                Err(reason) => format!("seccomp: not usable ({reason})"),
            },
        ],
    ));

    let mut out = String::from("MPTCP in this network namespace\n");
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, lines) in &rows {
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { *name } else { "" };
            out += &format!("  {label:<width$}  {line}\n");
        }
    }
    out += "\nFindings:\n";
    for finding in findings {
        let tag = format!("[{}]", finding.severity.name());
        out += &format!("  {tag:<9} {}\n", finding.message);
        if let Some(fix) = &finding.fix {
            out += &format!("  {:<9} fix: {fix}\n", "");
        }
    }
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let plural = if warnings == 1 { "" } else { "s" };
    out += &if can_work(findings) {
        format!("\nMPTCP can work here ({warnings} warning{plural}).\n")
    } else {
        "\nMPTCP cannot work here: see the errors above.\n".to_string()
    };
    out
}

fn endpoint_line(endpoint: &Endpoint) -> String {
    let mut line = format!("id {}", endpoint.id);
    if let Some(address) = endpoint.address {
        line += &format!(" {address}");
    }
    if let Some(port) = endpoint.port {
        line += &format!(" port {port}");
    }
    match (&endpoint.dev, endpoint.ifindex) {
        (Some(dev), _) => line += &format!(" dev {dev}"),
        (None, Some(index)) => line += &format!(" ifindex {index}"),
        (None, None) => {}
    }
    for flag in endpoint.flag_names() {
        line += &format!(" {flag}");
    }
    line
}

fn self_test_line(self_test: &SelfTest) -> String {
    match self_test {
        SelfTest::Mptcp {
            address, client, ..
        } => format!(
            "passed: MPTCP connection over {address}, no fallback ({} subflow{})",
            client.subflows(),
            if client.subflows() == 1 { "" } else { "s" }
        ),
        SelfTest::Fallback { side } => format!("FELL BACK to TCP ({side})"),
        SelfTest::Failed(error) => format!("could not complete: {error}"),
        SelfTest::Skipped(why) => format!("skipped ({why})"),
    }
}

/// The machine-readable report: every fact, the findings and the verdict.
pub fn render_json(facts: &Facts, findings: &[Finding]) -> Json {
    let text = |s: &str| Json::str(s);
    let list = |items: &[String]| Json::Array(items.iter().map(|s| text(s)).collect());
    let (socket_ok, socket_error) = match &facts.socket {
        SocketSupport::Yes => (true, None),
        SocketSupport::Disabled => (false, Some("ENOPROTOOPT: disabled".to_string())),
        SocketSupport::NotBuiltIn => (false, Some("EPROTONOSUPPORT: not built in".to_string())),
        SocketSupport::Error(error) => (false, Some(error.clone())),
    };
    let endpoint = |e: &Endpoint| {
        let has = |bit: u32| Json::Bool(e.flags & bit != 0);
        Json::object([
            ("id", Json::int(e.id)),
            (
                "address",
                Json::opt(e.address, |a| Json::str(a.to_string())),
            ),
            ("port", Json::opt(e.port, Json::int)),
            ("dev", Json::opt(e.dev.as_deref(), text)),
            ("ifindex", Json::opt(e.ifindex, Json::int)),
            (
                "flags",
                Json::Array(e.flag_names().into_iter().map(Json::Str).collect()),
            ),
            ("signal", has(FLAG_SIGNAL)),
            ("subflow", has(FLAG_SUBFLOW)),
            ("backup", has(1 << 2)),
            ("fullmesh", has(1 << 3)),
        ])
    };
    let self_test = match &facts.self_test {
        SelfTest::Mptcp {
            address,
            client,
            server,
        } => Json::object([
            ("result", text("mptcp")),
            ("address", Json::str(address.to_string())),
            ("fallback", Json::Bool(false)),
            ("subflows", Json::int(client.subflows())),
            ("client_token", Json::int(client.token)),
            ("server_token", Json::int(server.token)),
        ]),
        SelfTest::Fallback { side } => Json::object([
            ("result", text("fallback")),
            ("fallback", Json::Bool(true)),
            ("detail", Json::str(format!("reported by {side}"))),
        ]),
        SelfTest::Failed(error) => {
            Json::object([("result", text("failed")), ("detail", text(error))])
        }
        SelfTest::Skipped(why) => {
            Json::object([("result", text("skipped")), ("detail", text(why))])
        }
    };
    let engines = &facts.engines;
    Json::object([
        ("mptcp_can_work", Json::Bool(can_work(findings))),
        (
            "kernel_support",
            Json::Bool(facts.sysctls_present || socket_ok),
        ),
        ("mptcp_sysctls", Json::Bool(facts.sysctls_present)),
        (
            "mptcp_socket",
            Json::object([
                ("ok", Json::Bool(socket_ok)),
                ("error", Json::opt(socket_error, Json::Str)),
            ]),
        ),
        ("enabled", Json::opt(facts.enabled, Json::Bool)),
        (
            "path_manager",
            Json::opt(facts.path_manager.as_ref(), |pm| {
                Json::object([
                    ("name", text(&pm.name)),
                    ("sysctl", text(pm.sysctl)),
                    ("available", Json::opt(pm.available.as_deref(), list)),
                ])
            }),
        ),
        (
            "scheduler",
            Json::opt(facts.scheduler.as_ref(), |s| {
                Json::object([
                    ("name", text(&s.name)),
                    ("available", Json::opt(s.available.as_deref(), list)),
                ])
            }),
        ),
        (
            "limits",
            Json::opt(facts.limits.as_ref().ok(), |l| {
                Json::object([
                    ("subflows", Json::int(l.subflows)),
                    ("add_addr_accepted", Json::int(l.add_addr_accepted)),
                ])
            }),
        ),
        (
            "limits_error",
            Json::opt(facts.limits.as_ref().err(), |e| text(e)),
        ),
        (
            "endpoints",
            Json::opt(facts.endpoints.as_ref().ok(), |list| {
                Json::Array(list.iter().map(endpoint).collect())
            }),
        ),
        (
            "endpoints_error",
            Json::opt(facts.endpoints.as_ref().err(), |e| text(e)),
        ),
        ("self_test", self_test),
        (
            "engines",
            Json::object([
                (
                    "preload",
                    Json::object([
                        ("usable", Json::Bool(engines.preload.is_ok())),
                        (
                            "shim",
                            Json::opt(engines.preload.as_ref().ok(), |p| {
                                Json::str(p.display().to_string())
                            }),
                        ),
                        (
                            "reason",
                            Json::opt(engines.preload.as_ref().err(), |e| text(e)),
                        ),
                    ]),
                ),
                (
                    "seccomp",
                    Json::object([
                        ("usable", Json::Bool(engines.seccomp.is_ok())),
                        (
                            "reason",
                            Json::opt(engines.seccomp.as_ref().err(), |e| text(e)),
                        ),
                    ]),
                ),
            ]),
        ),
        (
            "findings",
            Json::Array(
                findings
                    .iter()
                    .map(|f| {
                        Json::object([
                            ("id", text(f.id)),
                            ("severity", text(f.severity.name())),
                            ("message", text(&f.message)),
                            ("fix", Json::opt(f.fix.as_deref(), text)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::healthy;
    use crate::check::{LIMITS_COMMAND, findings};
    use crate::kernel::mptcp_pm::Limits;

    #[test]
    fn text_report() {
        let facts = Facts {
            limits: Ok(Limits {
                subflows: 0,
                add_addr_accepted: 0,
            }),
            ..healthy()
        };
        let text = render_text(&facts, &findings(&facts));
        for needle in [
            "net.mptcp.enabled  1",
            "kernel (net.mptcp.path_manager; available: kernel userspace)",
            "subflow 0, add_addr_accepted 0",
            "id 1 10.0.0.1 dev dummy0 subflow",
            "passed: MPTCP connection over 127.0.0.1:4242",
            "[warning] The subflow limit is 0",
            &format!("fix: {LIMITS_COMMAND}"),
            "MPTCP can work here (1 warning).",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn json_report() {
        let facts = healthy();
        let json = render_json(&facts, &findings(&facts)).pretty();
        for needle in [
            "\"mptcp_can_work\": true",
            "\"subflows\": 2",
            "\"add_addr_accepted\": 2",
            "\"address\": \"10.0.0.1\"",
            "\"dev\": \"dummy0\"",
            "\"subflow\": true",
            "\"result\": \"mptcp\"",
            "\"severity\": \"ok\"",
        ] {
            assert!(json.contains(needle), "missing {needle:?} in:\n{json}");
        }
    }
}
