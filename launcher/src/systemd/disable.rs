//! `mptcpize-rs disable UNIT`: removes exactly the drop-in `enable` wrote
//! (and its directory, if nothing else is in it); the unit behaves as before.
//! The drop-in is found inside the tree, never through a linked drop-in
//! directory ([`crate::systemd::dropin::Location`]). A masked unit can be disabled.

use crate::failure::Failure;
use crate::systemd::UnitRequest;
use crate::systemd::dropin::{self, Location};

pub fn disable(request: &UnitRequest) -> Result<(), Failure> {
    let (unit, scope) = request.resolve()?;
    let path = scope.dropin_path(&unit);
    let tree = scope.tree().map_err(|e| dropin::write_failure(&path, e))?;
    let (config_dir, dir_name) = scope.dropin_location(&unit);
    let at = Location {
        tree: &tree,
        config_dir: &config_dir,
        dir_name: &dir_name,
    };
    let exists = at.exists().map_err(|e| dropin::write_failure(&path, e))?;
    if !exists {
        println!(
            "{unit} is not enabled (no {}); nothing to do.",
            path.display()
        );
        return Ok(());
    }
    if request.dry_run {
        println!("Would remove {}", path.display());
        return Ok(());
    }
    at.remove().map_err(|e| dropin::write_failure(&path, e))?;
    println!("Removed {}", path.display());
    scope.apply_change(&unit, request.now)
}
