//! Where systemd keeps units, whether it runs, and how to ask it to reload
//! or restart: the parts of `enable`, `disable` and `status` that touch the
//! system rather than decide.

pub mod disable;
pub mod dropin;
pub mod enable;
pub mod exec_start;
pub mod in_root;
pub mod listing;
pub mod service_engine;
pub mod socket;
pub mod status;
pub mod status_json;
pub mod unit_env;
pub mod unit_name;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::failure::Failure;
use crate::terminal::printable;
use in_root::{Content, Tree};
use unit_env::ServiceEnvironment;
use unit_name::UnitName;

/// The unit file systemd would load for a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitFile {
    /// Found at this path (spelled for messages, printable).
    Found(String),
    /// Masked: this path (printable) is linked to /dev/null (or empty).
    Masked(String),
    Missing,
}

/// One file systemd reads for a unit (the unit file or a drop-in): where
/// it is inside the tree, and its bytes.
pub type UnitText = (PathBuf, Vec<u8>);

/// What `enable`, `disable` and `status` were asked to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitRequest {
    /// The unit as the user typed it (validated by [`UnitName::parse`]).
    pub unit: String,
    pub user: bool,
    pub root: Option<PathBuf>,
    /// Restart the unit if it is running (enable/disable).
    pub now: bool,
    /// Print what would be written or removed; change nothing.
    pub dry_run: bool,
    /// `enable`: use a shim that someone other than root could replace.
    pub force: bool,
    /// `enable`'s connection rules (the defaults for the others).
    pub rules: crate::rules::RuleOptions,
    /// `enable --dry-run --json`: print what would be written as JSON.
    pub json: bool,
    /// `enable --engine`: how the service's sockets are reached.
    pub engine: crate::engine::EngineOption,
}

impl UnitRequest {
    /// The validated unit name, its scope, and the tree to work in, opened
    /// here, once per command: everything the command reads, checks and
    /// writes goes through this one [`Tree`], so a `--root` directory
    /// replaced after this (by a user who owns it or a directory above
    /// it) changes nothing. A `--root` that resolves to `/` is refused.
    pub fn resolve(&self) -> Result<(UnitName, Scope, Tree), Failure> {
        let unit = UnitName::parse(&self.unit).map_err(|e| Failure::usage(e.to_string()))?;
        let (scope, tree) = resolve_scope(self.user, self.root.as_deref())?;
        Ok((unit, scope, tree))
    }

    /// The `disable` command that undoes an `enable` (on the target system,
    /// so without `--root`).
    pub fn undo_command(&self, unit: &UnitName) -> String {
        let user = if self.user { "--user " } else { "" };
        format!("mptcpize-rs disable {user}{unit}")
    }
}

/// The scope (`--user`, `--root DIR` or the running system) and its tree,
/// opened here, once per command (see [`UnitRequest::resolve`]).
pub fn resolve_scope(user: bool, root: Option<&Path>) -> Result<(Scope, Tree), Failure> {
    if user && root.is_some() {
        return Err(Failure::usage("--user and --root cannot be combined"));
    }
    let home = match user {
        false => None,
        true => Some(user_home()?),
    };
    let tree = match root {
        None => {
            Tree::open(Path::new("/")).map_err(|e| Failure::new(format!("cannot open /: {e}")))?
        }
        Some(root) => open_root(root)?,
    };
    Ok((
        Scope {
            root: root.map(Path::to_path_buf),
            user: home,
        },
        tree,
    ))
}

/// `--root DIR` opened as a [`Tree`]; refused when it is not a directory,
/// or when it is the running system's `/` (a link to it, or `/` itself),
/// which `--root` is not for.
fn open_root(root: &Path) -> Result<Tree, Failure> {
    let shown = printable(&root.to_string_lossy());
    let tree = Tree::open(root).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => {
            Failure::usage(format!("--root {shown}: no such directory"))
        }
        _ => Failure::new(format!("cannot open --root {shown}: {e}")),
    })?;
    if tree.is_host_root() {
        return Err(Failure::usage(format!(
            "--root {shown} resolves to /, the running system: --root is for an offline \
             tree or image; for the running system, run the command without --root"
        )));
    }
    Ok(tree)
}

/// `$HOME` for `--user`, which must belong to the effective user: root
/// with another user's HOME (`sudo -E`) would otherwise read and write,
/// as root, in a directory that user controls.
fn user_home() -> Result<PathBuf, Failure> {
    use std::os::unix::fs::MetadataExt;
    let home = match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => {
            return Err(Failure::new(
                "--user needs HOME to find ~/.config/systemd/user",
            ));
        }
    };
    let shown = printable(&home.to_string_lossy());
    let owner = std::fs::metadata(&home)
        .map_err(|e| Failure::new(format!("--user: cannot use HOME ({shown}): {e}")))?
        .uid();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if owner != euid {
        return Err(Failure::new(format!(
            "--user: HOME ({shown}) belongs to uid {owner}, not to you (uid {euid}); \
             --user is for your own services: run mptcpize-rs as the user who owns \
             them (without sudo), or set HOME to your own home directory"
        )));
    }
    Ok(home)
}

/// Which systemd instance, and which file system tree, to work on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// `--root DIR`: an offline tree or image (like `systemctl --root`);
    /// `None` for the running system.
    pub root: Option<PathBuf>,
    /// `--user`: the per-user manager, units under `~/.config/systemd/user`.
    pub user: Option<PathBuf>,
}

impl Scope {
    /// The directory drop-ins are written to (before `root` is applied).
    pub fn config_dir(&self) -> PathBuf {
        match &self.user {
            Some(home) => home.join(".config/systemd/user"),
            None => PathBuf::from("/etc/systemd/system"),
        }
    }

    /// Unit directories in systemd's order of priority (highest first).
    pub fn search_paths(&self) -> Vec<PathBuf> {
        let fixed: &[&str] = match &self.user {
            Some(_) => &[
                "/etc/systemd/user",
                "/run/systemd/user",
                "/usr/local/lib/systemd/user",
                "/usr/lib/systemd/user",
            ],
            None => &[
                "/etc/systemd/system.control",
                "/run/systemd/system.control",
                "/run/systemd/transient",
                "/run/systemd/generator.early",
                "/etc/systemd/system",
                "/run/systemd/system",
                "/run/systemd/generator",
                "/usr/local/lib/systemd/system",
                "/usr/lib/systemd/system",
                "/lib/systemd/system",
                "/run/systemd/generator.late",
            ],
        };
        let mut paths = vec![self.config_dir()];
        if let Some(home) = &self.user {
            paths.push(home.join(".local/share/systemd/user"));
        }
        paths.extend(fixed.iter().map(PathBuf::from));
        paths.dedup();
        paths
    }

    /// Where the drop-in for `unit` goes, for [`dropin::Location`]:
    /// the configuration directory inside the tree and the directory name.
    pub fn dropin_location(&self, unit: &UnitName) -> (PathBuf, String) {
        (self.config_dir(), unit.dropin_dir_name())
    }

    /// The unit's drop-in, as the command's one `tree` shows it.
    pub fn dropin<'a>(&self, tree: &'a Tree, unit: &UnitName) -> dropin::Location<'a> {
        let (config_dir, dir_name) = self.dropin_location(unit);
        dropin::Location {
            tree,
            config_dir,
            dir_name,
        }
    }

    /// The unit's environment from its unit file and every drop-in systemd
    /// would read, except mptcpize-rs's own, in systemd's order, all read
    /// inside `tree` (the command's one [`Tree`]), each file once. Also
    /// returns the unit file found, or that the unit is masked.
    pub fn environment_without_ours(
        &self,
        tree: &Tree,
        unit: &UnitName,
    ) -> io::Result<(ServiceEnvironment, UnitFile)> {
        let (texts, unit_file) = self.unit_texts_without_ours(tree, unit)?;
        let mut env = ServiceEnvironment::default();
        for (path, text) in &texts {
            env.apply_bytes(text);
            let after_ours = path
                .file_name()
                .is_some_and(|name| name > std::ffi::OsStr::new(dropin::FILE_NAME))
                && path.extension().is_some_and(|ext| ext == "conf");
            if after_ours {
                let mut alone = ServiceEnvironment::default();
                alone.apply_bytes(text);
                if alone.exec_start_assigned {
                    env.exec_start_after_ours.push(tree.show(path));
                }
            }
        }
        Ok((env, unit_file))
    }

    /// The paths and texts of the unit file and of every drop-in systemd
    /// would read for `unit`, except mptcpize-rs's own, in the order systemd
    /// applies them (see [`Scope::environment_without_ours`]); none when
    /// masked.
    pub fn unit_texts_without_ours(
        &self,
        tree: &Tree,
        unit: &UnitName,
    ) -> io::Result<(Vec<UnitText>, UnitFile)> {
        let mut texts = Vec::new();
        let paths = self.search_paths();
        let names: Vec<String> = [Some(unit.to_string()), unit.template()]
            .into_iter()
            .flatten()
            .collect();
        // The first unit file found wins; an instance falls back to its
        // template. One linked to /dev/null (or empty) masks the unit.
        let mut unit_file = UnitFile::Missing;
        'search: for name in &names {
            for dir in &paths {
                let path = dir.join(name);
                match tree.read_unit_file(&path)? {
                    Content::Missing => continue,
                    Content::Masked => {
                        return Ok((texts, UnitFile::Masked(tree.show(&path))));
                    }
                    Content::Text(text) => {
                        unit_file = UnitFile::Found(tree.show(&path));
                        texts.push((path, text));
                        break 'search;
                    }
                }
            }
        }
        // Drop-in directories in systemd's order: in each unit directory
        // (highest priority first) the unit's own, its template's and its
        // dash prefixes' (`foo-.service.d/`), most specific first; then
        // `service.d/` in each. A file name found earlier masks the same
        // name later; all apply in file-name order.
        let specific = unit.dropin_names();
        let dirs = paths
            .iter()
            .flat_map(|base| {
                specific
                    .iter()
                    .map(move |name| base.join(format!("{name}.d")))
            })
            .chain(
                paths
                    .iter()
                    .map(|base| base.join(unit.kind().top_level_dropin_dir())),
            );
        let mut dropins = std::collections::BTreeMap::new();
        for dir in dirs {
            for name in tree.list(&dir)? {
                if Path::new(&name)
                    .extension()
                    .is_some_and(|ext| ext == "conf")
                {
                    let path = dir.join(&name);
                    dropins.entry(name).or_insert(path);
                }
            }
        }
        dropins.remove(std::ffi::OsStr::new(dropin::FILE_NAME));
        for path in dropins.values() {
            // A drop-in linked to /dev/null only masks the ones it names.
            if let Content::Text(text) = tree.read_unit_file(path)? {
                texts.push((path.clone(), text));
            }
        }
        Ok((texts, unit_file))
    }

    /// Whether the systemd instance this scope means is running, detected
    /// the way systemd itself does (`sd_booted()`: /run/systemd/system).
    /// An offline `--root` tree never has a running manager.
    pub fn manager_running(&self) -> bool {
        if self.root.is_some() {
            return false;
        }
        match &self.user {
            None => Path::new("/run/systemd/system").is_dir(),
            Some(_) => std::env::var_os("XDG_RUNTIME_DIR")
                .is_some_and(|dir| Path::new(&dir).join("systemd/private").exists()),
        }
    }

    /// After a drop-in changed in `tree`: reload systemd when it runs, and
    /// with `now` restart the unit if it is running; otherwise say what is
    /// needed.
    pub fn apply_change(&self, tree: &Tree, unit: &UnitName, now: bool) -> Result<(), Failure> {
        let user = if self.user.is_some() { "--user " } else { "" };
        if !self.manager_running() {
            let why = match &self.root {
                Some(_) => format!("{} is an offline tree", tree.show(Path::new("/"))),
                None => "systemd is not running here".to_string(),
            };
            println!(
                "Note: {why}; the change applies once systemd has reloaded \
                 (systemctl {user}daemon-reload) and {unit} has restarted."
            );
            return Ok(());
        }
        self.systemctl(&["daemon-reload"])
            .map_err(|e| Failure::new(e.to_string()))?;
        println!("Reloaded systemd.");
        if now && unit.kind() == unit_name::UnitKind::Socket {
            return self.restart_socket(unit);
        }
        if now {
            // try-restart: restarts the unit only if it is running.
            let name = unit.as_str();
            self.systemctl(&["try-restart", name])
                .map_err(|e| Failure::new(e.to_string()))?;
            println!("Restarted {unit} if it was running.");
        } else {
            match unit.kind() {
                unit_name::UnitKind::Service => {
                    println!("Restart {unit} to apply it: systemctl {user}restart {unit}");
                }
                // The running service keeps the listener it was given.
                unit_name::UnitKind::Socket => println!(
                    "Restart {unit} to apply it, after stopping the service it starts: \
                     systemctl {user}restart {unit}"
                ),
            }
        }
        Ok(())
    }

    /// `--now` for a socket: systemd refuses to start a socket whose
    /// service is still running ("Socket service ... already active,
    /// refusing"), and that service keeps the old listener; so the socket
    /// and the services it triggers are stopped, then the socket started:
    /// the service starts again on the next connection, with the new
    /// listener. A socket that is not active is left alone.
    fn restart_socket(&self, unit: &UnitName) -> Result<(), Failure> {
        let name = unit.as_str();
        let failure = |e: io::Error| Failure::new(e.to_string());
        // is-active exits non-zero for anything but active.
        if self.systemctl(&["is-active", name]).is_err() {
            println!("{unit} is not active; the change applies when it starts.");
            return Ok(());
        }
        let triggers = self
            .systemctl(&["show", "--value", "-p", "Triggers", name])
            .map_err(failure)?;
        let mut stop = vec!["stop", name];
        stop.extend(triggers.split_whitespace());
        self.systemctl(&stop).map_err(failure)?;
        self.systemctl(&["start", name]).map_err(failure)?;
        match triggers.split_whitespace().next() {
            Some(_) => println!(
                "Stopped {} and restarted {unit}: the service starts again on the next \
                 connection, with the new listener.",
                printable(&triggers)
            ),
            None => println!("Restarted {unit}."),
        }
        Ok(())
    }

    /// `systemctl [--user] ARGS...`, failing with its own message.
    pub fn systemctl(&self, args: &[&str]) -> io::Result<String> {
        let mut command = Command::new("systemctl");
        if self.user.is_some() {
            command.arg("--user");
        }
        let output = command.args(args).output().map_err(|error| {
            io::Error::new(error.kind(), format!("cannot run systemctl: {error}"))
        })?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stderr);
            return Err(io::Error::other(format!(
                "systemctl {} failed: {}",
                args.join(" "),
                message.trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_root() {
        let scope = Scope {
            root: Some("/mnt/image".into()),
            user: None,
        };
        let unit = UnitName::parse("app@8081").unwrap();
        // Inside the tree: the tree itself is opened by the command.
        assert_eq!(
            scope.dropin_location(&unit),
            (
                PathBuf::from("/etc/systemd/system"),
                "app@8081.service.d".to_string()
            )
        );
        assert!(!scope.manager_running());
        // Searched inside the tree: the paths are the image's own.
        assert_eq!(scope.search_paths()[0], Path::new("/etc/systemd/system"));
    }

    #[test]
    fn user_paths() {
        let scope = Scope {
            root: None,
            user: Some("/home/ann".into()),
        };
        let unit = UnitName::parse("sync").unwrap();
        assert_eq!(
            scope.dropin_location(&unit),
            (
                PathBuf::from("/home/ann/.config/systemd/user"),
                "sync.service.d".to_string()
            )
        );
        assert!(
            scope
                .search_paths()
                .contains(&PathBuf::from("/usr/lib/systemd/user"))
        );
    }

    fn request(unit: &str, root: Option<&Path>) -> UnitRequest {
        UnitRequest {
            unit: unit.to_string(),
            user: false,
            root: root.map(Path::to_path_buf),
            now: false,
            dry_run: false,
            force: false,
            rules: Default::default(),
            json: false,
            engine: Default::default(),
        }
    }

    /// The review's attack, made deterministic: a user who owns the
    /// `--root` directory swaps it for a link to the host (here a scratch
    /// directory standing for `/`) after the command opened it. Each
    /// command opens its tree once ([`UnitRequest::resolve`]) and does
    /// everything through it, so the values, the checks and the write all
    /// stay in the image the command opened; the host is untouched.
    #[test]
    fn a_root_swapped_after_the_open_changes_nothing() {
        use crate::test_support::ScratchDir;
        let scratch = ScratchDir::new("swap");
        let image = scratch.dir("img");
        let unit_text = b"[Service]\nEnvironment=LD_PRELOAD=/image/evil.so\n";
        scratch.file("img/etc/systemd/system/web.service", unit_text, 0o644);
        let host = scratch.dir("host");
        let host_unit = b"[Service]\nExecStart=/bin/true\n";
        scratch.file("host/etc/systemd/system/web.service", host_unit, 0o644);
        let moved = scratch.path().join("img.moved");
        let dropin = "etc/systemd/system/web.service.d/zz-mptcpize-rs.conf";
        let installed = crate::systemd::service_engine::Installed {
            shim: Ok("/usr/lib/mptcpize-rs/libmptcpize_preload.so".into()),
            launcher: Err("unused".into()),
        };
        let swap = || {
            std::fs::rename(&image, &moved).unwrap();
            std::os::unix::fs::symlink(&host, &image).unwrap();
        };
        let unswap = || {
            std::fs::remove_file(&image).unwrap();
            std::fs::rename(&moved, &image).unwrap();
        };

        let enable = request("web", Some(&image));
        let (unit, scope, tree) = enable.resolve().unwrap();
        // Messages name the directory opened, resolved.
        assert_eq!(tree.top(), image.canonicalize().unwrap());
        swap();
        assert!(
            crate::systemd::enable::enable_in(&enable, &unit, &scope, &tree, &installed, None)
                .unwrap()
        );
        let written = std::fs::read_to_string(moved.join(dropin)).unwrap();
        assert!(written.contains("LD_PRELOAD=/image/evil.so:"), "{written}");
        assert!(!host.join("etc/systemd/system/web.service.d").exists());
        unswap();

        let (unit, scope, tree) = enable.resolve().unwrap();
        swap();
        let code = crate::systemd::status::status_in(&enable, &unit, &scope, &tree).unwrap();
        assert_eq!(code, 0, "the image's drop-in, current for the image's unit");
        unswap();

        let (unit, scope, tree) = enable.resolve().unwrap();
        swap();
        // The host has a drop-in of that name: it stays.
        let host_dropin = host.join(dropin);
        std::fs::create_dir_all(host_dropin.parent().unwrap()).unwrap();
        std::fs::write(&host_dropin, "the host's own\n").unwrap();
        assert!(crate::systemd::disable::disable_in(&enable, &unit, &scope, &tree).unwrap());
        assert!(!moved.join(dropin).exists(), "removed in the image");
        assert_eq!(
            std::fs::read_to_string(&host_dropin).unwrap(),
            "the host's own\n"
        );
        assert_eq!(
            std::fs::read(host.join("etc/systemd/system/web.service")).unwrap(),
            host_unit
        );
    }

    /// `--root` naming the running system's `/` (itself, or through a
    /// link, as a swap before the open would make it) is refused: the
    /// message says to use no --root.
    #[test]
    fn a_root_that_is_the_host_root_is_refused() {
        use crate::test_support::ScratchDir;
        let scratch = ScratchDir::new("root-is-slash");
        let link = scratch.path().join("img");
        std::os::unix::fs::symlink("/", &link).unwrap();
        for root in [Path::new("/"), &link, Path::new("/.")] {
            let error = request("web", Some(root)).resolve().unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains("resolves to /") && message.contains("without --root"),
                "{message}"
            );
        }
        let missing = scratch.path().join("nosuch");
        let message = request("web", Some(&missing))
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(message.contains("no such directory"), "{message}");
        // Without --root the tree is the running system's /.
        let (_, _, tree) = request("web", None).resolve().unwrap();
        assert!(tree.is_host_root());
    }
}
