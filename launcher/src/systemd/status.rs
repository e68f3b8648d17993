//! `mptcpize-rs status UNIT`: whether the drop-in is there and current, and,
//! when systemd runs the unit, whether its main process really has the shim
//! loaded and how many of its TCP-family sockets are MPTCP.

use crate::engine::preload::shim;
use crate::failure::Failure;
use crate::kernel::process_sockets::{has_shim_loaded, tcp_family_sockets};
use crate::systemd::dropin;
use crate::systemd::in_root::Tree;
use crate::systemd::unit_name::UnitName;
use crate::systemd::{Scope, UnitFile, UnitRequest};
use crate::terminal::printable;

/// Exit status when the unit is not enabled (like `systemctl is-enabled`).
pub const NOT_ENABLED: u8 = 1;

/// Prints the status; returns 0 when enabled, [`NOT_ENABLED`] otherwise.
pub fn status(request: &UnitRequest) -> Result<u8, Failure> {
    // The tree is opened here, once; everything below goes through it.
    let (unit, scope, tree) = request.resolve()?;
    let code = status_in(request, &unit, &scope, &tree)?;
    if code == 0 && scope.manager_running() {
        report_main_process(&scope, &unit);
    }
    Ok(code)
}

/// What `status` says of the files in `tree` (the command's one tree),
/// each read once: the drop-in, then the unit file and the other drop-ins
/// in one pass that gives both the mask and the environment.
pub(crate) fn status_in(
    request: &UnitRequest,
    unit: &UnitName,
    scope: &Scope,
    tree: &Tree,
) -> Result<u8, Failure> {
    let at = scope.dropin(tree, unit);
    let path = at.shown();
    let current = at
        .read()
        .map_err(|e| Failure::new(format!("cannot read {path}: {e}")))?;
    let (env, unit_file) = scope
        .environment_without_ours(tree, unit)
        .map_err(|e| Failure::new(format!("cannot read {unit}'s files: {e}")))?;
    if let UnitFile::Masked(masked) = &unit_file {
        let leftover = match current {
            Some(_) => format!("; {path} is still there"),
            None => String::new(),
        };
        println!(
            "{unit}: masked ({masked} is linked to /dev/null): systemd will not start it{leftover}"
        );
        return Ok(NOT_ENABLED);
    }
    let Some(current) = current else {
        println!("{unit}: not enabled (no {path})");
        return Ok(NOT_ENABLED);
    };
    println!("{unit}: enabled");
    println!("  drop-in: {path}");
    // The rules are the user's choice at enable time, not derived: read
    // them back, so that only what enable derives can be out of date.
    let rules = dropin::rules_of(&current);
    if let Some(rules) = &rules {
        println!("  rules: {}", printable(rules));
    }
    if let Ok(shim) = shim::locate() {
        let undo = request.undo_command(unit);
        let expected = dropin::render(unit, &env, &shim, rules.as_deref(), &undo);
        if expected.as_deref().ok() != Some(current.as_str()) {
            let same_rules = if rules.is_some() {
                " with the same rule options"
            } else {
                ""
            };
            println!(
                "  out of date: the unit's environment or the shim's place changed since; \
                 run `mptcpize-rs enable {unit}` again{same_rules}"
            );
        }
    }
    Ok(0)
}

/// The unit's main process, seen from the kernel's side.
fn report_main_process(scope: &Scope, unit: &UnitName) {
    let show = |property| scope.systemctl(&["show", "--value", "-p", property, unit.as_str()]);
    let state = show("ActiveState").unwrap_or_default();
    let pid: i32 = show("MainPID")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    if state != "active" || pid <= 0 {
        let state = if state.is_empty() { "unknown" } else { &state };
        println!("  not running ({state}): nothing to inspect");
        return;
    }
    let loaded = match has_shim_loaded(pid) {
        Ok(true) => "shim loaded",
        Ok(false) => "shim NOT loaded (restart the unit: systemctl restart UNIT)",
        Err(error) => return println!("  main process {pid}: cannot inspect it: {error}"),
    };
    let loaded = loaded.replace("UNIT", unit.as_str());
    match tcp_family_sockets(pid) {
        Ok(sockets) => {
            let mptcp = sockets.iter().filter(|s| s.is_mptcp()).count();
            println!(
                "  main process {pid}: {loaded}; {mptcp} of {} TCP-family sockets are MPTCP",
                sockets.len()
            );
        }
        Err(error) => println!(
            "  main process {pid}: {loaded}; cannot read its sockets: {error} (run as root)"
        ),
    }
}
