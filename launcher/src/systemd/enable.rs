//! `mptcpize-rs enable UNIT`: one drop-in that preloads the shim into a
//! service, merged with the preload libraries and Go settings the unit
//! already has. The unit file and every other setting stay untouched.
//!
//! Everything is read and written inside the tree (`--root`, or `/`) with
//! [`crate::systemd::in_root`]; the unit's values are written back escaped
//! ([`crate::systemd::unit_env::quoted_assignment`]); a masked unit is refused, and
//! so is, for a system service, a shim someone other than root could
//! replace (unless `--force`).

use std::io;
use std::path::Path;

use crate::engine::preload::shim;
use crate::failure::Failure;
use crate::systemd::dropin::{self, Location};
use crate::systemd::in_root::{Tree, check_owned_by_root};
use crate::systemd::unit_name::UnitName;
use crate::systemd::{Scope, UnitFile, UnitRequest};
use crate::terminal::printable;

pub fn enable(request: &UnitRequest) -> Result<(), Failure> {
    let (unit, scope) = request.resolve()?;
    let rules = request.rules.canonical().map_err(Failure::usage)?;
    let shim = shim::locate().map_err(|e| Failure::new(e.to_string()))?;
    let read_error = |e: io::Error| Failure::new(format!("cannot read {unit}'s files: {e}"));
    let (env, unit_file) = scope.environment_without_ours(&unit).map_err(read_error)?;
    match unit_file {
        UnitFile::Found(_) => {}
        UnitFile::Masked(path) => {
            return Err(Failure::new(format!(
                "{unit} is masked ({} is linked to /dev/null), so systemd will not start it; \
                 nothing written. Unmask it first (systemctl unmask {unit}).",
                path.display()
            )));
        }
        UnitFile::Missing => {
            return Err(Failure::new(format!(
                "no unit file for {unit} found{}; check the name (systemctl list-unit-files)",
                match &scope.root {
                    Some(root) => format!(" under {}", root.display()),
                    None => String::new(),
                }
            )));
        }
    }
    let tree = scope.tree().map_err(read_error)?;
    let shim_inside = scope.root.is_none() || tree.is_file(&shim);
    if scope.user.is_none() && shim_inside {
        check_shim(&tree, &shim, &unit, request.force)?;
    }
    let path = scope.dropin_path(&unit);
    let (config_dir, dir_name) = scope.dropin_location(&unit);
    let at = Location {
        tree: &tree,
        config_dir: &config_dir,
        dir_name: &dir_name,
    };
    let undo = request.undo_command(&unit);
    let content = dropin::render(&unit, &env, &shim, rules.as_deref(), &undo);
    if request.dry_run {
        // Also finds a linked drop-in directory, which the write would refuse.
        at.read().map_err(|e| dropin::write_failure(&path, e))?;
        println!("Would write {}:\n{content}", path.display());
        return Ok(());
    }
    let current = at.read().map_err(|e| dropin::write_failure(&path, e))?;
    if current.as_deref() == Some(content.as_str()) {
        println!(
            "{unit} is already enabled: {} is up to date.",
            path.display()
        );
    } else {
        at.write(&content)
            .map_err(|e| dropin::write_failure(&path, e))?;
        println!("Wrote {}", path.display());
    }
    if !env.environment_files.is_empty() {
        println!(
            "Note: {unit} also reads EnvironmentFile={}; systemd applies those files \
             after Environment=, so if one sets LD_PRELOAD or GODEBUG it overrides the drop-in.",
            printable(&env.environment_files.join(" "))
        );
    }
    if !shim_inside {
        println!(
            "Note: {} does not exist inside {}; install mptcpize-rs there before the unit starts.",
            shim.display(),
            scope.rooted(Path::new("/")).display()
        );
    }
    scope.apply_change(&unit, request.now)
}

/// A system service runs the shim as root at every start: refuse one that
/// anyone but root could replace (see [`check_owned_by_root`]), unless
/// `force`, which only warns.
fn check_shim(tree: &Tree, shim: &Path, unit: &UnitName, force: bool) -> Result<(), Failure> {
    let Err(why) = check_owned_by_root(tree, shim) else {
        return Ok(());
    };
    let shown = tree.display(shim);
    if force {
        eprintln!(
            "mptcpize-rs: warning: {why}; whoever can change {} can run code as root \
             when {unit} starts. Using it anyway (--force).",
            shown.display()
        );
        return Ok(());
    }
    Err(Failure::new(format!(
        "refusing to preload {} into {unit}, a system service: {why}, so someone other than \
         root could replace it and run code as root when {unit} starts. Install mptcpize-rs \
         for the system (`sudo make install`, or the .deb or .rpm package), which puts a \
         root-owned shim under /usr/local/lib/mptcpize-rs or /usr/lib/mptcpize-rs, and \
         enable with that mptcpize-rs (or point {} at such a copy); --force uses this one \
         anyway.",
        shown.display(),
        shim::OVERRIDE_VAR,
    )))
}

/// Whether `scope` would find `unit` masked (for `status`).
pub fn is_masked(scope: &Scope, unit: &UnitName) -> Option<std::path::PathBuf> {
    match scope.environment_without_ours(unit) {
        Ok((_, UnitFile::Masked(path))) => Some(path),
        _ => None,
    }
}
