//! `mptcpize-rs enable UNIT`: one drop-in that preloads the shim into a
//! service, merged with the preload libraries and Go settings the unit
//! already has. The unit file and every other setting stay untouched.

use std::fs;
use std::io;

use crate::dropin;
use crate::failure::Failure;
use crate::shim;
use crate::systemd::UnitRequest;

pub fn enable(request: &UnitRequest) -> Result<(), Failure> {
    let (unit, scope) = request.resolve()?;
    let rules = request.rules.canonical().map_err(Failure::usage)?;
    let shim = shim::locate().map_err(|e| Failure::new(e.to_string()))?;
    let read_error = |e: io::Error| Failure::new(format!("cannot read {unit}'s files: {e}"));
    let (env, unit_file) = scope.environment_without_ours(&unit).map_err(read_error)?;
    if unit_file.is_none() {
        return Err(Failure::new(format!(
            "no unit file for {unit} found{}; check the name (systemctl list-unit-files)",
            match &scope.root {
                Some(root) => format!(" under {}", root.display()),
                None => String::new(),
            }
        )));
    }
    let path = scope.dropin_path(&unit);
    let undo = request.undo_command(&unit);
    let content = dropin::render(&unit, &env, &shim, rules.as_deref(), &undo);
    if request.dry_run {
        println!("Would write {}:\n{content}", path.display());
        return Ok(());
    }
    if fs::read_to_string(&path).is_ok_and(|current| current == content) {
        println!(
            "{unit} is already enabled: {} is up to date.",
            path.display()
        );
    } else {
        dropin::write_atomic(&path, &content).map_err(|e| dropin::write_failure(&path, e))?;
        println!("Wrote {}", path.display());
    }
    if !env.environment_files.is_empty() {
        println!(
            "Note: {unit} also reads EnvironmentFile={}; systemd applies those files \
             after Environment=, so if one sets LD_PRELOAD or GODEBUG it overrides the drop-in.",
            env.environment_files.join(" ")
        );
    }
    if scope.root.is_some() && !scope.rooted(&shim).is_file() {
        println!(
            "Note: {} does not exist inside {}; install mptcpize-rs there before the unit starts.",
            shim.display(),
            scope.rooted(std::path::Path::new("/")).display()
        );
    }
    scope.apply_change(&unit, request.now)
}
