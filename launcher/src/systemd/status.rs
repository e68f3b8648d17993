//! `mptcpize-rs status [UNIT]`: whether the drop-in is there and current,
//! and, when systemd runs the unit, whether its main process really has the
//! shim loaded and how many of its TCP-family sockets are MPTCP. Without a
//! unit, the same for every unit that has the drop-in
//! ([`crate::systemd::listing`]); with `--json`, one document for tools
//! ([`crate::systemd::status_json`]).

use std::path::PathBuf;

use crate::engine::{Engine, EngineOption};
use crate::failure::Failure;
use crate::kernel::process_sockets::{
    has_seccomp_filter, has_shim_loaded, holds_seccomp_listener, tcp_family_sockets,
};
use crate::systemd::in_root::Tree;
use crate::systemd::service_engine::{self, Installed, Wanted};
use crate::systemd::unit_name::{UnitKind, UnitName};
use crate::systemd::{
    Scope, UnitFile, UnitRequest, dropin, listing, resolve_scope, socket, status_json,
};
use crate::terminal::printable;

/// Exit status when the unit is not enabled (like `systemctl is-enabled`),
/// and, for the host-wide listing, when a listed unit is not current.
pub const NOT_ENABLED: u8 = 1;

/// What `status` was asked: one unit, or every unit (`unit` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRequest {
    pub unit: Option<String>,
    pub user: bool,
    pub root: Option<PathBuf>,
    /// One JSON document instead of text.
    pub json: bool,
}

impl StatusRequest {
    /// The request for one unit, as `enable` and `disable` take it.
    fn unit_request(&self, unit: &str) -> UnitRequest {
        UnitRequest {
            unit: unit.to_string(),
            user: self.user,
            root: self.root.clone(),
            now: false,
            dry_run: false,
            force: false,
            rules: Default::default(),
            json: false,
            engine: Default::default(),
        }
    }
}

/// A drop-in's state, from best to worst for the listing's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Enabled, and the drop-in is what `enable` would write now.
    Current,
    /// Enabled, but `enable` would now write something else (the unit's
    /// environment or the shim's place changed).
    OutOfDate,
    /// Enabled; not compared, because the shim cannot be found here.
    Unchecked,
    /// The unit is masked: systemd will not start it.
    Masked,
    /// A drop-in with no unit file for it.
    UnitMissing,
    /// (One unit asked for) no drop-in.
    NotEnabled,
    /// Our file name where `enable` does not write it: another unit
    /// directory, or a directory shared by several units (`service.d/`, a
    /// dash prefix `web-.service.d/`), or a unit that is not a service.
    /// systemd applies it; `disable` does not remove it.
    Elsewhere,
    /// The drop-in (or the unit's files) could not be read: `detail` says why.
    Unreadable,
}

impl State {
    /// The name in `--json` (stable, for scripts).
    pub fn name(self) -> &'static str {
        match self {
            State::Current => "current",
            State::OutOfDate => "out-of-date",
            State::Unchecked => "unchecked",
            State::Masked => "masked",
            State::UnitMissing => "unit-missing",
            State::NotEnabled => "not-enabled",
            State::Elsewhere => "elsewhere",
            State::Unreadable => "unreadable",
        }
    }

    /// Whether `enable` put the drop-in there and it applies to the unit.
    fn enabled(self) -> bool {
        matches!(self, State::Current | State::OutOfDate | State::Unchecked)
    }
}

/// The unit's main process as the kernel shows it (when systemd runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    /// systemd's `ActiveState` (`unknown` when it could not be asked).
    pub active_state: String,
    /// The main process, when the unit is active and has one.
    pub main_pid: Option<i32>,
    pub shim_loaded: Option<bool>,
    /// With the seccomp engine: whether it runs under a seccomp filter.
    pub seccomp_filter: Option<bool>,
    /// TCP-family sockets of the main process, and how many are MPTCP.
    pub sockets: Option<(usize, usize)>,
    /// Why the process (`inspect`) or its sockets (`sockets`) could not be read.
    pub inspect_error: Option<String>,
    pub sockets_error: Option<String>,
}

/// One drop-in (one unit), everything `status` says of it. Every text
/// field is printable: names and paths come from the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitReport {
    pub unit: String,
    pub state: State,
    /// The drop-in's path, as it is shown (with `--root` in front).
    pub dropin: String,
    /// Whether a drop-in is there (a masked unit may have one or not).
    pub dropin_present: bool,
    /// The unit file systemd would load (or that masks it).
    pub unit_file: Option<String>,
    /// The rules the drop-in carries (`None`: the defaults).
    pub rules: Option<String>,
    /// Why: the read error, or where an `Elsewhere` drop-in is.
    pub detail: Option<String>,
    /// A service's engine, as its drop-in runs it.
    pub engine: Option<Engine>,
    pub running: Option<Running>,
}

/// Prints the status. For one unit: 0 when enabled, [`NOT_ENABLED`]
/// otherwise. For every unit: 0 when each listed unit is current (or none
/// is listed), [`NOT_ENABLED`] otherwise.
pub fn status(request: &StatusRequest) -> Result<u8, Failure> {
    match &request.unit {
        Some(unit) => status_one(request, unit),
        None => status_all(request),
    }
}

fn status_one(request: &StatusRequest, name: &str) -> Result<u8, Failure> {
    let unit_request = request.unit_request(name);
    // The tree is opened here, once; everything below goes through it.
    let (unit, scope, tree) = unit_request.resolve()?;
    let mut report = examine(&unit_request, &unit, &scope, &tree)?;
    if report.state.enabled() && scope.manager_running() && has_main_process(&unit) {
        report.running = Some(main_process(&scope, &unit, report.engine));
    }
    let code = if report.state.enabled() || report.state == State::UnitMissing {
        0
    } else {
        NOT_ENABLED
    };
    if request.json {
        let document = status_json::document(&scope, &tree, std::slice::from_ref(&report));
        print_json(&document)?;
    } else {
        write_out(&render_one(&report, &unit))?;
    }
    Ok(code)
}

fn status_all(request: &StatusRequest) -> Result<u8, Failure> {
    let (scope, tree) = resolve_scope(request.user, request.root.as_deref())?;
    let undo = |unit: &UnitName| request.unit_request(unit.as_str());
    let mut reports = listing::list(&scope, &tree, &undo)?;
    if scope.manager_running() {
        for report in &mut reports {
            if !report.state.enabled() {
                continue;
            }
            if let Ok(unit) = UnitName::parse(&report.unit)
                && has_main_process(&unit)
            {
                report.running = Some(main_process(&scope, &unit, report.engine));
            }
        }
    }
    let all_current = reports.iter().all(|r| r.state == State::Current);
    if request.json {
        print_json(&status_json::document(&scope, &tree, &reports))?;
    } else {
        write_out(&render_all(&reports, &scope, &tree))?;
    }
    Ok(if all_current { 0 } else { NOT_ENABLED })
}

fn print_json(document: &status_json::StatusJson) -> Result<(), Failure> {
    write_out(&(crate::terminal_json::to_pretty_string(document) + "\n"))
}

/// The report on standard output; a closed pipe is an error, not a panic.
fn write_out(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| Failure::new(format!("cannot write the status: {error}")))
}

/// A service that is not a template (`app@.service` has no process of
/// its own; a socket's listener is systemd's).
fn has_main_process(unit: &UnitName) -> bool {
    unit.kind() == UnitKind::Service && !unit.as_str().contains("@.")
}

/// What `status` says of the files in `tree` (the command's one tree),
/// printed as `status UNIT` always printed it; returns 0 when enabled,
/// [`NOT_ENABLED`] otherwise. (The tests' entry: a tree they opened.)
#[cfg(test)]
pub(crate) fn status_in(
    request: &UnitRequest,
    unit: &UnitName,
    scope: &Scope,
    tree: &Tree,
) -> Result<u8, Failure> {
    let report = examine(request, unit, scope, tree)?;
    print!("{}", render_one(&report, unit));
    Ok(match report.state {
        State::Masked | State::NotEnabled => NOT_ENABLED,
        _ => 0,
    })
}

/// The unit's drop-in (in the configuration directory, where `enable`
/// writes it) and its state, each file read once: the drop-in, then the
/// unit file and the other drop-ins in one pass that gives both the mask
/// and the environment.
pub(crate) fn examine(
    request: &UnitRequest,
    unit: &UnitName,
    scope: &Scope,
    tree: &Tree,
) -> Result<UnitReport, Failure> {
    let at = scope.dropin(tree, unit);
    let path = at.shown();
    let current = at
        .read()
        .map_err(|e| Failure::new(format!("cannot read {path}: {e}")))?;
    let (env, unit_file) = scope
        .environment_without_ours(tree, unit)
        .map_err(|e| Failure::new(format!("cannot read {unit}'s files: {e}")))?;
    let mut report = UnitReport {
        unit: unit.to_string(),
        state: State::NotEnabled,
        dropin: path,
        dropin_present: current.is_some(),
        unit_file: None,
        rules: None,
        detail: None,
        engine: None,
        running: None,
    };
    let found = match unit_file {
        UnitFile::Masked(masked) => {
            report.state = State::Masked;
            report.unit_file = Some(masked);
            return Ok(report);
        }
        UnitFile::Found(path) => Some(path),
        UnitFile::Missing => None,
    };
    report.unit_file = found.clone();
    let Some(current) = current else {
        return Ok(report);
    };
    // The rules are the user's choice at enable time, not derived: read
    // them back, so that only what enable derives can be out of date.
    let rules = dropin::rules_of(&current);
    report.rules = rules.as_deref().map(printable);
    let undo = request.undo_command(unit);
    report.state = match unit.kind() {
        UnitKind::Socket if socket::render(unit, &undo) == current => State::Current,
        UnitKind::Socket => State::OutOfDate,
        UnitKind::Service => {
            let asked = dropin::asked_engine_of(&current);
            report.engine = Some(match dropin::is_seccomp(&current) {
                true => Engine::Seccomp,
                false => Engine::Preload,
            });
            let choice = service_engine::choose(asked, tree, &env);
            let expected = Expected {
                engine: choice.engine,
                asked,
                rules,
            };
            service_state(&mut report, unit, tree, &env, &current, expected, &undo)
        }
    };
    if found.is_none() {
        // What the drop-in says matters less than that nothing uses it.
        report.state = State::UnitMissing;
    }
    Ok(report)
}

/// What `enable` would write now: the engine it would choose, asked as
/// the drop-in was, with the drop-in's rules (the user's choice, read back).
struct Expected {
    engine: Engine,
    asked: EngineOption,
    rules: Option<String>,
}

/// A service's drop-in compared with what `enable` would write now.
fn service_state(
    report: &mut UnitReport,
    unit: &UnitName,
    tree: &Tree,
    env: &crate::systemd::unit_env::ServiceEnvironment,
    current: &str,
    expected: Expected,
    undo: &str,
) -> State {
    let installed = Installed::here();
    match installed.for_engine(expected.engine, true) {
        Ok(file) => {
            let wanted = Wanted {
                engine: expected.engine,
                asked: expected.asked,
                rules: expected.rules.as_deref(),
            };
            let rendered = service_engine::render(unit, tree, env, &wanted, undo, file);
            if rendered.as_deref().ok() == Some(current) {
                State::Current
            } else {
                State::OutOfDate
            }
        }
        Err(why) => {
            report.detail = Some(format!("not compared with what enable would write: {why}"));
            State::Unchecked
        }
    }
}

/// `status UNIT` as text: the lines it has always printed, then the main
/// process when systemd runs the unit.
fn render_one(report: &UnitReport, unit: &UnitName) -> String {
    let path = &report.dropin;
    let mut out = String::new();
    match report.state {
        State::Masked => {
            let leftover = match report.dropin_present {
                true => format!("; {path} is still there"),
                false => String::new(),
            };
            let masked = report.unit_file.as_deref().unwrap_or_default();
            out += &format!(
                "{unit}: masked ({masked} is linked to /dev/null): systemd will not start it{leftover}\n"
            );
            return out;
        }
        State::NotEnabled => {
            out += &format!("{unit}: not enabled (no {path})\n");
            return out;
        }
        _ => {}
    }
    out += &format!("{unit}: enabled\n");
    out += &format!("  drop-in: {path}\n");
    out += &details(report);
    out
}

/// The indented lines under a unit's first line: rules, what is wrong,
/// the main process.
fn details(report: &UnitReport) -> String {
    let unit = &report.unit;
    let mut out = String::new();
    if let Some(rules) = &report.rules {
        out += &format!("  rules: {rules}\n");
    }
    if report.engine == Some(Engine::Seccomp) {
        out += "  engine: seccomp (its ExecStart= lines run under mptcpize-rs run --keep-pid)\n";
    }
    match report.state {
        State::OutOfDate if report.unit.ends_with(".socket") => {
            out += &format!(
                "  out of date: it is not what enable writes now; run `mptcpize-rs enable \
                 {unit}` again\n"
            );
        }
        State::OutOfDate => {
            let same_rules = match report.rules {
                Some(_) => " with the same rule options",
                None => "",
            };
            out += &format!(
                "  out of date: the unit's environment or the shim's place changed since; \
                 run `mptcpize-rs enable {unit}` again{same_rules}\n"
            );
        }
        State::UnitMissing => {
            out += &format!(
                "  no unit file for {unit}: the drop-in applies to nothing; remove it \
                 (mptcpize-rs disable {unit}) or install the unit\n"
            );
        }
        State::Unchecked => {
            if let Some(detail) = &report.detail {
                out += &format!("  {detail}\n");
            }
        }
        _ => {}
    }
    if let Some(running) = &report.running {
        out += &running_line(running, unit);
    }
    out
}

/// The main process line(s), as `status UNIT` has always printed them.
fn running_line(running: &Running, unit: &str) -> String {
    let Some(pid) = running.main_pid else {
        return format!(
            "  not running ({}): nothing to inspect\n",
            running.active_state
        );
    };
    if let Some(error) = &running.inspect_error {
        return format!("  main process {pid}: cannot inspect it: {error}\n");
    }
    let loaded = match (running.seccomp_filter, running.shim_loaded) {
        (Some(true), _) => "under the seccomp engine's filter".to_string(),
        (Some(false), Some(true)) => "shim loaded: the seccomp engine was not usable when it \
                                      started (its journal says why)"
            .to_string(),
        (Some(false), _) => {
            format!("NOT under the seccomp engine (restart the unit: systemctl restart {unit})")
        }
        (None, Some(true)) => "shim loaded".to_string(),
        _ => format!("shim NOT loaded (restart the unit: systemctl restart {unit})"),
    };
    match (&running.sockets, &running.sockets_error) {
        (Some((total, mptcp)), _) => format!(
            "  main process {pid}: {loaded}; {mptcp} of {total} TCP-family sockets are MPTCP\n"
        ),
        (None, error) => format!(
            "  main process {pid}: {loaded}; cannot read its sockets: {} (run as root)\n",
            error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// The host-wide listing as text: one block per drop-in, then the verdict.
fn render_all(reports: &[UnitReport], scope: &Scope, tree: &Tree) -> String {
    let place = match (&scope.root, &scope.user) {
        (Some(_), _) => format!(" under {}", tree.show(std::path::Path::new("/"))),
        (None, Some(_)) => " for your user's systemd".to_string(),
        (None, None) => String::new(),
    };
    if reports.is_empty() {
        return format!(
            "No units are enabled{place}: no {} in any unit drop-in directory.\n",
            dropin::FILE_NAME
        );
    }
    let mut out = String::new();
    for report in reports {
        let head = match report.state {
            State::Current => "enabled, current".to_string(),
            State::OutOfDate => "enabled, OUT OF DATE".to_string(),
            State::Unchecked => "enabled, not checked".to_string(),
            State::Masked => format!(
                "masked ({} is linked to /dev/null): systemd will not start it",
                report.unit_file.as_deref().unwrap_or_default()
            ),
            State::UnitMissing => "drop-in left over: no unit file".to_string(),
            State::NotEnabled => "not enabled".to_string(),
            State::Elsewhere => "drop-in not written by enable here".to_string(),
            State::Unreadable => "cannot be read".to_string(),
        };
        out += &format!("{}: {head}\n", report.unit);
        out += &format!("  drop-in: {}\n", report.dropin);
        if matches!(report.state, State::Elsewhere | State::Unreadable)
            && let Some(detail) = &report.detail
        {
            out += &format!("  {detail}\n");
        }
        out += &details(report);
    }
    let current = reports.iter().filter(|r| r.state == State::Current).count();
    let total = reports.len();
    let units = if total == 1 { "unit has" } else { "units have" };
    out += &format!("\n{total} {units} the mptcpize-rs drop-in{place}; {current} current");
    out += if current == total {
        ".\n"
    } else {
        "; see above for the others.\n"
    };
    out
}

/// The processes of the unit's control group (cgroup v2, or v1's systemd
/// hierarchy); none when they cannot be read.
fn unit_processes(scope: &Scope, unit: &UnitName) -> Vec<i32> {
    let Ok(group) = scope.systemctl(&["show", "--value", "-p", "ControlGroup", unit.as_str()])
    else {
        return Vec::new();
    };
    let group = group.trim_start_matches('/');
    ["/sys/fs/cgroup", "/sys/fs/cgroup/systemd"]
        .iter()
        .find_map(|top| {
            std::fs::read_to_string(std::path::Path::new(top).join(group).join("cgroup.procs")).ok()
        })
        .map(|procs| procs.lines().filter_map(|pid| pid.parse().ok()).collect())
        .unwrap_or_default()
}

/// The unit's main process, seen from the kernel's side: with the preload
/// engine whether the shim is mapped, with the seccomp engine whether a
/// seccomp filter is on it.
fn main_process(scope: &Scope, unit: &UnitName, engine: Option<Engine>) -> Running {
    let show = |property| scope.systemctl(&["show", "--value", "-p", property, unit.as_str()]);
    let state = show("ActiveState").unwrap_or_default();
    let pid: i32 = show("MainPID")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let mut running = Running {
        active_state: if state.is_empty() {
            "unknown".to_string()
        } else {
            printable(&state)
        },
        main_pid: None,
        shim_loaded: None,
        seccomp_filter: None,
        sockets: None,
        inspect_error: None,
        sockets_error: None,
    };
    if state != "active" || pid <= 0 {
        return running;
    }
    running.main_pid = Some(pid);
    // With the seccomp engine: the main process under a filter and, in the
    // unit, a supervisor holding a listener (systemd's own filters, from
    // SystemCallFilter= and the like, have none); the shim too, which a
    // wrapped `--engine auto` line falls back to.
    let inspected = has_shim_loaded(pid).and_then(|loaded| {
        running.shim_loaded = Some(loaded);
        if engine == Some(Engine::Seccomp) {
            let supervised = unit_processes(scope, unit)
                .iter()
                .any(|&pid| holds_seccomp_listener(pid));
            running.seccomp_filter = Some(has_seccomp_filter(pid)? && supervised);
        }
        Ok(())
    });
    match inspected {
        Ok(()) => {}
        Err(error) => {
            running.inspect_error = Some(error.to_string());
            return running;
        }
    }
    match tcp_family_sockets(pid) {
        Ok(sockets) => {
            let mptcp = sockets.iter().filter(|s| s.is_mptcp()).count();
            running.sockets = Some((sockets.len(), mptcp));
        }
        Err(error) => running.sockets_error = Some(error.to_string()),
    }
    running
}
