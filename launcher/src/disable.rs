//! `mptcpize-rs disable UNIT`: removes exactly the drop-in `enable` wrote
//! (and its directory, if nothing else is in it); the unit behaves as before.

use crate::dropin;
use crate::failure::Failure;
use crate::systemd::UnitRequest;

pub fn disable(request: &UnitRequest) -> Result<(), Failure> {
    let (unit, scope) = request.resolve()?;
    let path = scope.dropin_path(&unit);
    if !path.exists() {
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
    dropin::remove(&path).map_err(|e| dropin::write_failure(&path, e))?;
    println!("Removed {}", path.display());
    scope.apply_change(&unit, request.now)
}
