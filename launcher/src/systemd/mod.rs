//! Where systemd keeps units, whether it runs, and how to ask it to reload
//! or restart: the parts of `enable`, `disable` and `status` that touch the
//! system rather than decide.

pub mod disable;
pub mod dropin;
pub mod enable;
pub mod in_root;
pub mod status;
pub mod unit_env;
pub mod unit_name;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::failure::Failure;
use in_root::{Content, Tree};
use unit_env::ServiceEnvironment;
use unit_name::UnitName;

/// The unit file systemd would load for a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitFile {
    /// Found at this path (spelled for messages).
    Found(PathBuf),
    /// Masked: this path is linked to /dev/null (or empty).
    Masked(PathBuf),
    Missing,
}

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
}

impl UnitRequest {
    /// The validated unit name and its scope; nothing is touched yet.
    pub fn resolve(&self) -> Result<(UnitName, Scope), Failure> {
        let unit = UnitName::parse(&self.unit).map_err(|e| Failure::usage(e.to_string()))?;
        if self.user && self.root.is_some() {
            return Err(Failure::usage("--user and --root cannot be combined"));
        }
        if let Some(root) = &self.root
            && !root.is_dir()
        {
            let message = format!("--root {}: no such directory", root.display());
            return Err(Failure::usage(message));
        }
        let user = match self.user {
            false => None,
            true => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => Some(PathBuf::from(home)),
                _ => {
                    return Err(Failure::new(
                        "--user needs HOME to find ~/.config/systemd/user",
                    ));
                }
            },
        };
        Ok((
            unit,
            Scope {
                root: self.root.clone(),
                user,
            },
        ))
    }

    /// The `disable` command that undoes an `enable` (on the target system,
    /// so without `--root`).
    pub fn undo_command(&self, unit: &UnitName) -> String {
        let user = if self.user { "--user " } else { "" };
        format!("mptcpize-rs disable {user}{unit}")
    }
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
    fn config_dir(&self) -> PathBuf {
        match &self.user {
            Some(home) => home.join(".config/systemd/user"),
            None => PathBuf::from("/etc/systemd/system"),
        }
    }

    /// Unit directories in systemd's order of priority (highest first).
    fn search_paths(&self) -> Vec<PathBuf> {
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

    /// `path` inside the root tree, if any, spelled for messages (every
    /// access goes through [`Scope::tree`] instead).
    pub fn rooted(&self, path: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_path_buf(),
        }
    }

    /// The tree paths are resolved in: the `--root` directory, or `/`.
    pub fn tree(&self) -> io::Result<Tree> {
        let top = self.root.as_deref().unwrap_or(Path::new("/"));
        Tree::open(top).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", top.display())))
    }

    /// The drop-in mptcpize-rs writes for `unit`, spelled for messages.
    pub fn dropin_path(&self, unit: &UnitName) -> PathBuf {
        let dir = self.config_dir().join(unit.dropin_dir_name());
        self.rooted(&dir.join(dropin::FILE_NAME))
    }

    /// Where the drop-in for `unit` goes, for [`dropin::Location`]: the
    /// configuration directory inside the tree and the directory name.
    pub fn dropin_location(&self, unit: &UnitName) -> (PathBuf, String) {
        (self.config_dir(), unit.dropin_dir_name())
    }

    /// The unit's environment from its unit file and every drop-in systemd
    /// would read, except mptcpize-rs's own, in systemd's order, all read
    /// inside the tree ([`Tree`]). Also returns the unit file found, or
    /// that the unit is masked.
    pub fn environment_without_ours(
        &self,
        unit: &UnitName,
    ) -> io::Result<(ServiceEnvironment, UnitFile)> {
        let tree = self.tree()?;
        let mut env = ServiceEnvironment::default();
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
                        return Ok((env, UnitFile::Masked(tree.display(&path))));
                    }
                    Content::Text(text) => {
                        env.apply_bytes(&text);
                        unit_file = UnitFile::Found(tree.display(&path));
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
            .chain(paths.iter().map(|base| base.join("service.d")));
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
                env.apply_bytes(&text);
            }
        }
        Ok((env, unit_file))
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

    /// After a drop-in changed: reload systemd when it runs, and with `now`
    /// restart the unit if it is running; otherwise say what is needed.
    pub fn apply_change(&self, unit: &UnitName, now: bool) -> Result<(), Failure> {
        let user = if self.user.is_some() { "--user " } else { "" };
        if !self.manager_running() {
            let why = match &self.root {
                Some(root) => format!("{} is an offline tree", root.display()),
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
        if now {
            // try-restart: restarts the unit only if it is running.
            let name = unit.as_str();
            self.systemctl(&["try-restart", name])
                .map_err(|e| Failure::new(e.to_string()))?;
            println!("Restarted {unit} if it was running.");
        } else {
            println!("Restart {unit} to apply it: systemctl {user}restart {unit}");
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
        assert_eq!(
            scope.dropin_path(&unit),
            Path::new("/mnt/image/etc/systemd/system/app@8081.service.d/zz-mptcpize-rs.conf")
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
            scope.dropin_path(&unit),
            Path::new("/home/ann/.config/systemd/user/sync.service.d/zz-mptcpize-rs.conf")
        );
        assert!(
            scope
                .search_paths()
                .contains(&PathBuf::from("/usr/lib/systemd/user"))
        );
    }
}
