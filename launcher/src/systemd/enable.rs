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
use crate::engine::{Engine, EngineOption};
use crate::failure::Failure;
use crate::systemd::dropin;
use crate::systemd::in_root::{Tree, check_owned_by_root};
use crate::systemd::service_engine::{self, Installed, Wanted};
use crate::systemd::socket;
use crate::systemd::unit_env::ServiceEnvironment;
use crate::systemd::unit_name::{UnitKind, UnitName};
use crate::systemd::{Scope, UnitFile, UnitRequest};
use crate::terminal::printable;

pub fn enable(request: &UnitRequest) -> Result<(), Failure> {
    // The tree is opened here, once; everything below goes through it.
    let (unit, scope, tree) = request.resolve()?;
    let rules = request.rules.canonical().map_err(Failure::usage)?;
    let installed = Installed::here();
    if enable_in(request, &unit, &scope, &tree, &installed, rules.as_deref())? {
        scope.apply_change(&tree, &unit, request.now)?;
    }
    Ok(())
}

/// `enable`'s work in `tree` (the command's one tree): the unit's
/// environment and mask, the shim check, the drop-in's read and write.
/// Returns whether systemd should now be told (not on `--dry-run`).
pub(crate) fn enable_in(
    request: &UnitRequest,
    unit: &UnitName,
    scope: &Scope,
    tree: &Tree,
    installed: &Installed,
    rules: Option<&str>,
) -> Result<bool, Failure> {
    if unit.kind() == UnitKind::Socket && request.engine != EngineOption::Auto {
        return Err(Failure::usage(format!(
            "--engine applies to a service; {unit}'s drop-in makes systemd create \
             its listeners as MPTCP, with no engine: enable {unit} without it"
        )));
    }
    let read_error = |e: io::Error| Failure::new(format!("cannot read {unit}'s files: {e}"));
    let (env, unit_file) = scope
        .environment_without_ours(tree, unit)
        .map_err(read_error)?;
    match unit_file {
        UnitFile::Found(_) => {}
        UnitFile::Masked(path) => {
            return Err(Failure::new(format!(
                "{unit} is masked ({path} is linked to /dev/null), so systemd will not start \
                 it; nothing written. Unmask it first (systemctl unmask {unit})."
            )));
        }
        UnitFile::Missing => {
            return Err(Failure::new(format!(
                "no unit file for {unit} found{}; check the name (systemctl list-unit-files)",
                match &scope.root {
                    Some(_) => format!(" under {}", tree.show(Path::new("/"))),
                    None => String::new(),
                }
            )));
        }
    }
    let undo = request.undo_command(unit);
    let mut chosen = None;
    let (content, named) = match unit.kind() {
        UnitKind::Socket => {
            if rules.is_some() {
                return Err(Failure::usage(format!(
                    "connection rules (--exclude, --include, --no-listen, --loopback, ...) \
                     apply to a service's own sockets; {unit}'s drop-in only makes its \
                     listeners MPTCP: enable {unit} without them"
                )));
            }
            socket::check_has_tcp_listener(scope, tree, unit)?;
            let version = socket::target_version(scope, tree);
            socket::check_supported(unit, &version, request.force)?;
            (socket::render(unit, &undo), None)
        }
        UnitKind::Service => {
            let choice = service_engine::choose(request.engine, tree, &env);
            let file = installed
                .for_engine(choice.engine, false)
                .map_err(Failure::new)?;
            let inside = scope.root.is_none() || tree.is_file(file);
            if scope.user.is_none() && inside {
                check_owned(tree, file, choice.engine, unit, request.force)?;
            }
            // Wrapped with `--engine auto`, `run` falls back to the shim
            // where the kernel cannot do seccomp (or for a dynamically
            // linked line of a oneshot): it runs as root then too.
            if let (Engine::Seccomp, EngineOption::Auto, None, Ok(shim)) =
                (choice.engine, request.engine, &scope.user, &installed.shim)
                && (scope.root.is_none() || tree.is_file(shim))
            {
                check_owned(tree, shim, Engine::Preload, unit, request.force)?;
            }
            let wanted = Wanted {
                engine: choice.engine,
                asked: request.engine,
                rules,
            };
            let content = service_engine::render(unit, tree, &env, &wanted, &undo, file)?;
            chosen = Some(choice);
            (content, (!inside).then_some(file))
        }
    };
    let at = scope.dropin(tree, unit);
    let path = at.shown();
    // Also finds a linked drop-in directory, which the write would refuse,
    // and anything but a regular file in the drop-in's place.
    let current = at.read().map_err(|e| dropin::write_failure(&path, e))?;
    if let Some(choice) = &chosen
        && !request.json
    {
        print_engine(unit, &env, choice);
    }
    if request.dry_run {
        if request.json {
            let files = [DryRunFile {
                path: (at.config_dir.join(&at.dir_name).join(dropin::FILE_NAME))
                    .to_string_lossy()
                    .into_owned(),
                host_path: at.display().to_string_lossy().into_owned(),
                mode: "0644",
                content: &content,
                unchanged: current.as_deref() == Some(content.as_str()),
            }];
            println!("{}", crate::terminal_json::to_pretty_string(&files));
        } else {
            println!("Would write {path}:\n{content}");
        }
        return Ok(false);
    }
    if current.as_deref() == Some(content.as_str()) {
        println!("{unit} is already enabled: {path} is up to date.");
    } else {
        at.write(&content)
            .map_err(|e| dropin::write_failure(&path, e))?;
        println!("Wrote {path}");
    }
    if !env.environment_files.is_empty() {
        println!(
            "Note: {unit} also reads EnvironmentFile={}; systemd applies those files \
             after Environment=, so if one sets LD_PRELOAD or GODEBUG it overrides the drop-in.",
            printable(&env.environment_files.join(" "))
        );
    }
    if let Some(file) = named {
        println!(
            "Note: {} does not exist inside {}; install mptcpize-rs there before the unit starts.",
            printable(&file.to_string_lossy()),
            tree.show(Path::new("/"))
        );
    }
    if unit.kind() == UnitKind::Service {
        let sockets = socket::activating_sockets(scope, tree, unit).map_err(read_error)?;
        if !sockets.is_empty() {
            let version = socket::target_version(scope, tree);
            println!(
                "{}",
                socket::activation_note(unit, &sockets, &version, &enable_prefix(request))
            );
        }
    }
    Ok(true)
}

/// `mptcpize-rs enable ` with the request's scope, for another unit's name
/// to follow.
fn enable_prefix(request: &UnitRequest) -> String {
    let mut text = "mptcpize-rs enable ".to_string();
    if request.user {
        text += "--user ";
    }
    if let Some(root) = &request.root {
        text += &format!("--root {} ", printable(&root.to_string_lossy()));
    }
    text
}

/// One file `enable --dry-run --json` would write: where on the target
/// system (`path`, as systemd there sees it), where in this tree
/// (`host_path`: with `--root`, under it), its mode and exact content.
#[derive(serde::Serialize)]
struct DryRunFile<'a> {
    path: String,
    host_path: String,
    mode: &'static str,
    content: &'a str,
    /// The file there already has exactly this content.
    unchanged: bool,
}

/// Which engine the service gets and why; for the seccomp engine, what it
/// means for the unit; binaries `auto` could not read.
fn print_engine(unit: &UnitName, env: &ServiceEnvironment, choice: &service_engine::Chosen) {
    println!(
        "Engine for {unit}: {} ({}).",
        choice.engine.name(),
        choice.why
    );
    if !choice.unread.is_empty() {
        println!(
            "Note: could not read {} to choose the engine; if it is statically linked or \
             a Go program, enable with --engine seccomp.",
            choice.unread.join(", ")
        );
    }
    for unreached in &choice.unreached {
        println!(
            "Note: {unreached}; its sockets stay TCP with this drop-in: enable with --engine seccomp or auto."
        );
    }
    if choice.engine == Engine::Seccomp
        && env.service_type.as_deref() == Some("forking")
        && env.pid_file.is_none()
    {
        println!(
            "Note: {unit} is Type=forking without PIDFile=: systemd guesses its main \
             process among those it adopts, and the seccomp supervisor is one more; set \
             PIDFile= so that systemd knows it."
        );
    }
}

/// A system service runs the shim (or, with the seccomp engine, the
/// launcher) as root at every start: refuse one that anyone but root could
/// replace (see [`check_owned_by_root`]), unless `force`, which only warns.
fn check_owned(
    tree: &Tree,
    file: &Path,
    engine: Engine,
    unit: &UnitName,
    force: bool,
) -> Result<(), Failure> {
    let Err(why) = check_owned_by_root(tree, file) else {
        return Ok(());
    };
    let shown = tree.show(file);
    let (refusing, override_hint) = match engine {
        Engine::Preload => (
            format!("refusing to preload {shown} into {unit}"),
            format!(" (or point {} at such a copy)", shim::OVERRIDE_VAR),
        ),
        Engine::Seccomp => (
            format!("refusing to start {unit} through {shown}"),
            String::new(),
        ),
    };
    if force {
        eprintln!(
            "mptcpize-rs: warning: {why}; whoever can change {shown} can run code as root \
             when {unit} starts. Using it anyway (--force)."
        );
        return Ok(());
    }
    Err(Failure::new(format!(
        "{refusing}, a system service: {why}, so someone other \
         than root could replace it and run code as root when {unit} starts. Install \
         mptcpize-rs for the system (`sudo make install`, or the .deb or .rpm package), which \
         puts it root-owned under /usr/local or /usr, and enable with that \
         mptcpize-rs{override_hint}; --force uses this one anyway."
    )))
}
