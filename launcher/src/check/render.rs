//! Printing the facts and findings for a person (pure); the JSON report is
//! `json.rs`.

use super::{
    Facts, Finding, SOCKET_PROTOCOL_MPTCP_SINCE, SelfTest, Severity, SocketSupport, Systemd,
    can_work,
};
use crate::kernel::mptcp_pm::Endpoint;
use crate::terminal::printable;

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
    rows.push((
        "systemd",
        systemd_lines(&facts.systemd, facts.engines.seccomp.is_ok()),
    ));

    let mut out = String::from("MPTCP in this network namespace\n");
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, lines) in &rows {
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { *name } else { "" };
            out += &format!("  {label:<width$}  {line}\n");
        }
    }
    out += &reach_table();
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

/// Which engine reaches which sockets ([`crate::engine::REACH`]): the
/// same on every host, shown beside the engines usable on this one.
fn reach_table() -> String {
    let rows = crate::engine::REACH;
    let width = rows.iter().map(|row| row.calls.len()).max().unwrap_or(0);
    let yes_no = |reached: bool| if reached { "yes" } else { "no" };
    let mut out = format!(
        "\nWhich sockets each engine reaches:\n  {:<width$}  preload  seccomp\n",
        ""
    );
    for row in rows {
        out += &format!(
            "  {:<width$}  {:<7}  {:<7}  ({})\n",
            row.calls,
            yes_no(row.preload),
            yes_no(row.seccomp),
            row.note
        );
    }
    out
}

/// systemd's version and what `enable` can do with it: socket units'
/// listeners (systemd 257), static and Go services (the seccomp engine).
fn systemd_lines(systemd: &Systemd, seccomp: bool) -> Vec<String> {
    let first = match (&systemd.version, systemd.running) {
        (Ok((_, text)), true) => format!("{}, running", printable(text)),
        (Ok((_, text)), false) => format!(
            "{} installed, not running here (no /run/systemd/system)",
            printable(text)
        ),
        (Err(why), true) => format!("running, version unknown ({})", printable(why)),
        (Err(why), false) => format!("not found ({})", printable(why)),
    };
    let socket = match systemd.socket_protocol_mptcp() {
        Some(true) => "yes".to_string(),
        Some(false) => format!("no (needs systemd {SOCKET_PROTOCOL_MPTCP_SINCE})"),
        None => "unknown".to_string(),
    };
    let static_services = match seccomp {
        true => "yes (enable wraps ExecStart= in the seccomp engine)",
        false => "no (the seccomp engine is not usable: see engines)",
    };
    vec![
        first,
        format!("SocketProtocol=mptcp in .socket units: {socket}"),
        format!("static and Go services: {static_services}"),
    ]
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
            "systemd            systemd 252 (252.39-1~deb12u2), running",
            "SocketProtocol=mptcp in .socket units: no (needs systemd 257)",
            "static and Go services: yes (enable wraps ExecStart= in the seccomp engine)",
            "Which sockets each engine reaches:\n\
             \x20                                preload  seccomp\n\
             \x20 socket() through libc          yes      yes      (dynamically linked programs)\n\
             \x20 socket() as a raw system call  no       yes      (static programs, Go)\n\
             \x20 io_uring IORING_OP_SOCKET      no       no       \
             (run --no-io-uring: socket() instead)\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }
}
