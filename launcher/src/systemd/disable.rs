//! `mptcpize-rs disable UNIT`: removes exactly the drop-in `enable` wrote
//! (and its directory, if nothing else is in it); the unit behaves as before.
//! The drop-in is found inside the tree, never through a linked drop-in
//! directory ([`crate::systemd::dropin::Location`]). A masked unit can be disabled.

use crate::failure::Failure;
use crate::systemd::dropin;
use crate::systemd::in_root::Tree;
use crate::systemd::unit_name::UnitName;
use crate::systemd::{Scope, UnitRequest};

pub fn disable(request: &UnitRequest) -> Result<(), Failure> {
    // The tree is opened here, once; everything below goes through it.
    let (unit, scope, tree) = request.resolve()?;
    if disable_in(request, &unit, &scope, &tree)? {
        scope.apply_change(&tree, &unit, request.now)?;
    }
    Ok(())
}

/// `disable`'s work in `tree` (the command's one tree). Returns whether
/// a drop-in was removed, so systemd should now be told.
pub(crate) fn disable_in(
    request: &UnitRequest,
    unit: &UnitName,
    scope: &Scope,
    tree: &Tree,
) -> Result<bool, Failure> {
    let at = scope.dropin(tree, unit);
    let path = at.shown();
    let exists = at.exists().map_err(|e| dropin::write_failure(&path, e))?;
    if !exists {
        println!("{unit} is not enabled (no {path}); nothing to do.");
        return Ok(false);
    }
    if request.dry_run {
        println!("Would remove {path}");
        return Ok(false);
    }
    at.remove().map_err(|e| dropin::write_failure(&path, e))?;
    println!("Removed {path}");
    Ok(true)
}
