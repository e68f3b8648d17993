//! `status --json`: the document's schema ([`StatusJson`]) and how the
//! reports fill it (pure). The same document with or without UNIT (with
//! one, `units` holds that unit, whose `state` may be `not-enabled`).
//!
//! Every field is always present: what is unknown or does not apply is
//! `null`, never left out.

use std::path::Path;

use serde::Serialize;

use crate::systemd::Scope;
use crate::systemd::in_root::Tree;
use crate::systemd::status::{Running, State, UnitReport};

/// The machine-readable status.
#[derive(Serialize)]
pub struct StatusJson<'a> {
    /// `system` or `user`.
    pub scope: &'static str,
    /// The `--root` tree (resolved), `null` for the running system.
    pub root: Option<String>,
    /// Whether the scope's systemd runs here (then `running` is filled).
    pub manager_running: bool,
    /// Every listed unit is `current` (true for an empty list).
    pub all_current: bool,
    pub units: Vec<UnitJson<'a>>,
}

/// One drop-in and its unit.
#[derive(Serialize)]
pub struct UnitJson<'a> {
    /// `web.service` (for a drop-in in a shared directory, the directory's
    /// name without `.d`: `service`, `web-.service`).
    pub unit: &'a str,
    /// `current`, `out-of-date`, `unchecked`, `masked`, `unit-missing`,
    /// `not-enabled`, `elsewhere` or `unreadable`.
    pub state: &'static str,
    /// The drop-in's path (with `--root`, under that tree).
    pub dropin: &'a str,
    /// The unit file systemd loads (or that masks the unit).
    pub unit_file: Option<&'a str>,
    /// The connection rules in the drop-in; `null` for the defaults.
    pub rules: Option<&'a str>,
    /// Why, for `unchecked`, `elsewhere`, `unreadable`.
    pub detail: Option<&'a str>,
    /// A service's engine as its drop-in runs it: `preload` or `seccomp`;
    /// `null` for a socket or a drop-in not examined.
    pub engine: Option<&'static str>,
    /// The unit's main process; `null` when systemd does not run here or
    /// the unit is not enabled (or is a template).
    pub running: Option<RunningJson<'a>>,
}

#[derive(Serialize)]
pub struct RunningJson<'a> {
    /// systemd's ActiveState: `active`, `inactive`, `failed`, ...
    pub active_state: &'a str,
    /// `null` unless active with a main process.
    pub main_pid: Option<i32>,
    /// Preload engine: the shim is mapped in the main process.
    pub shim_loaded: Option<bool>,
    /// Seccomp engine: the main process runs under a seccomp filter.
    pub seccomp_filter: Option<bool>,
    pub tcp_family_sockets: Option<usize>,
    pub mptcp_sockets: Option<usize>,
    /// Why the process or its sockets could not be read.
    pub error: Option<&'a str>,
}

/// The document for `reports`, found in `scope` and `tree`.
pub fn document<'a>(scope: &Scope, tree: &Tree, reports: &'a [UnitReport]) -> StatusJson<'a> {
    StatusJson {
        scope: if scope.user.is_some() {
            "user"
        } else {
            "system"
        },
        root: scope
            .root
            .as_ref()
            .map(|_| tree.display(Path::new("/")).to_string_lossy().into_owned()),
        manager_running: scope.manager_running(),
        all_current: reports.iter().all(|r| r.state == State::Current),
        units: reports.iter().map(unit).collect(),
    }
}

fn unit(report: &UnitReport) -> UnitJson<'_> {
    UnitJson {
        unit: &report.unit,
        state: report.state.name(),
        dropin: &report.dropin,
        unit_file: report.unit_file.as_deref(),
        rules: report.rules.as_deref(),
        detail: report.detail.as_deref(),
        engine: report.engine.map(|engine| engine.name()),
        running: report.running.as_ref().map(running),
    }
}

fn running(running: &Running) -> RunningJson<'_> {
    RunningJson {
        active_state: &running.active_state,
        main_pid: running.main_pid,
        shim_loaded: running.shim_loaded,
        seccomp_filter: running.seccomp_filter,
        tcp_family_sockets: running.sockets.map(|(total, _)| total),
        mptcp_sockets: running.sockets.map(|(_, mptcp)| mptcp),
        error: (running.inspect_error.as_deref()).or(running.sockets_error.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal_json::to_pretty_string;

    #[test]
    fn shape() {
        let scope = Scope {
            root: Some("/".into()),
            user: None,
        };
        let tree = Tree::open(Path::new("/")).unwrap();
        let reports = [UnitReport {
            unit: "web.service".into(),
            state: State::OutOfDate,
            dropin: "/etc/systemd/system/web.service.d/zz-mptcpize-rs.conf".into(),
            dropin_present: true,
            unit_file: Some("/etc/systemd/system/web.service".into()),
            rules: Some("loopback=0".into()),
            detail: None,
            engine: Some(crate::engine::Engine::Preload),
            running: Some(Running {
                active_state: "active".into(),
                main_pid: Some(42),
                shim_loaded: Some(true),
                seccomp_filter: None,
                sockets: Some((2, 1)),
                inspect_error: None,
                sockets_error: None,
            }),
        }];
        let json = serde_json::to_value(document(&scope, &tree, &reports)).unwrap();
        assert_eq!(json["scope"], "system");
        assert_eq!(json["root"], "/");
        assert_eq!(json["all_current"], false);
        assert_eq!(json["units"][0]["state"], "out-of-date");
        assert_eq!(json["units"][0]["rules"], "loopback=0");
        assert_eq!(json["units"][0]["detail"], serde_json::Value::Null);
        assert_eq!(json["units"][0]["engine"], "preload");
        assert_eq!(json["units"][0]["running"]["main_pid"], 42);
        assert_eq!(
            json["units"][0]["running"]["seccomp_filter"],
            serde_json::Value::Null
        );
        assert_eq!(json["units"][0]["running"]["tcp_family_sockets"], 2);
        assert_eq!(json["units"][0]["running"]["mptcp_sockets"], 1);
        let empty = to_pretty_string(&document(&scope, &tree, &[]));
        assert!(empty.contains("\"units\": []"), "{empty}");
        assert!(empty.contains("\"all_current\": true"), "{empty}");
    }
}
