//! `status` without a unit: every `zz-mptcpize-rs.conf` in the unit
//! drop-in directories systemd reads for the scope (`NAME.d/` in each unit
//! directory of [`Scope::search_paths`]), each judged as `status UNIT`
//! judges one ([`examine`]).
//!
//! Everything is read inside the command's one [`Tree`]: directories are
//! listed and files looked up with the tree's resolution (links stay inside
//! it), nothing but a regular file is opened, a file over
//! [`in_root::MAX_UNIT_FILE_SIZE`] is refused; a drop-in reached twice (a
//! linked unit directory, `/lib` → `/usr/lib`) is listed once.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::failure::Failure;
use crate::systemd::dropin::{self, FILE_NAME};
use crate::systemd::in_root::{self, Content, Meta, Tree};
use crate::systemd::status::{State, UnitReport, examine};
use crate::systemd::unit_name::UnitName;
use crate::systemd::{Scope, UnitRequest};
use crate::terminal::printable;

/// Every drop-in of ours in the scope's unit directories, sorted by unit
/// name then path. `request` gives the [`UnitRequest`] for a unit (its
/// undo command is part of what `enable` would write).
pub fn list(
    scope: &Scope,
    tree: &Tree,
    request: &dyn Fn(&UnitName) -> UnitRequest,
) -> Result<Vec<UnitReport>, Failure> {
    let config_dir = scope.config_dir();
    let mut seen: Vec<Meta> = Vec::new();
    let mut reports = Vec::new();
    let mut bases = scope.search_paths();
    // The configuration directory also appears later in systemd's list.
    let mut unique = std::collections::HashSet::new();
    bases.retain(|base| unique.insert(base.clone()));
    for base in &bases {
        let names = tree
            .list(base)
            .map_err(|e| Failure::new(format!("cannot list {}: {e}", tree.show(base))))?;
        let mut names: Vec<_> = names
            .into_iter()
            .filter(|name| name.as_encoded_bytes().ends_with(b".d"))
            .collect();
        names.sort();
        for name in names {
            let dir = base.join(&name);
            let path = dir.join(FILE_NAME);
            let Some(meta) = found(tree, &path) else {
                continue;
            };
            if seen.iter().any(|other| other.same_file(&meta)) {
                continue;
            }
            seen.push(meta);
            let stem = &name.as_encoded_bytes()[..name.len() - 2];
            let stem = String::from_utf8_lossy(stem).into_owned();
            let unit = UnitName::parse(&stem)
                .ok()
                .filter(|unit| unit.as_str() == stem && !is_shared(&stem));
            let report = match (unit, base == &config_dir) {
                (Some(_), true) if meta.is_symlink() => {
                    let mut report = elsewhere(tree, &path, &stem, true, &config_dir);
                    report.detail = Some(
                        "a symbolic link where enable writes its file: systemd applies what \
                         it points to, enable replaces it, status UNIT does not read it"
                            .to_string(),
                    );
                    report
                }
                (Some(unit), true) => examine(&request(&unit), &unit, scope, tree)
                    .unwrap_or_else(|error| unreadable(tree, &path, &stem, error.to_string())),
                (unit, _) => elsewhere(tree, &path, &stem, unit.is_some(), &config_dir),
            };
            reports.push(report);
        }
    }
    reports.sort_by(|a, b| (&a.unit, &a.dropin).cmp(&(&b.unit, &b.dropin)));
    Ok(reports)
}

/// What `path` is, when something is there (a link counts, not followed).
fn found(tree: &Tree, path: &Path) -> Option<Meta> {
    let fd = tree.open_at(path, libc::O_PATH | libc::O_NOFOLLOW).ok()?;
    in_root::fstat(fd.as_fd()).ok()
}

/// A directory name systemd reads for several units: the top-level
/// `service.d` (stem `service`, not a unit name) is never one here; a
/// dash prefix, `web-.service` or `web-@.service`, is.
fn is_shared(stem: &str) -> bool {
    let base = stem
        .strip_suffix(".service")
        .or_else(|| stem.strip_suffix(".socket"))
        .unwrap_or(stem);
    let prefix = base.split_once('@').map_or(base, |(prefix, _)| prefix);
    prefix.ends_with('-')
}

/// A drop-in of ours that `enable` did not write there.
fn elsewhere(tree: &Tree, path: &Path, stem: &str, is_unit: bool, config: &Path) -> UnitReport {
    let shown = tree.show(path);
    let content = match tree.read_unit_file(path) {
        Ok(content) => content,
        Err(error) => return unreadable(tree, path, stem, error.to_string()),
    };
    let rules = match &content {
        Content::Text(text) => dropin::rules_of(&String::from_utf8_lossy(text)),
        _ => None,
    };
    let why = if stem == "service" {
        "the top-level service.d/, which systemd applies to every service".to_string()
    } else if stem == "socket" {
        "the top-level socket.d/, which systemd applies to every socket".to_string()
    } else if is_shared(stem) {
        format!(
            "a dash-prefix directory, which systemd applies to every unit named {}…",
            printable(stem.split(['@', '.']).next().unwrap_or(stem))
        )
    } else if !is_unit {
        "not a service's or a socket's drop-in directory".to_string()
    } else {
        format!(
            "not in {}, where enable writes",
            tree.show(&PathBuf::from(config))
        )
    };
    UnitReport {
        unit: printable(stem),
        state: State::Elsewhere,
        dropin: shown,
        dropin_present: true,
        unit_file: None,
        rules: rules.as_deref().map(printable),
        detail: Some(format!(
            "{why}: systemd applies it, but mptcpize-rs disable does not remove it"
        )),
        engine: None,
        running: None,
    }
}

fn unreadable(tree: &Tree, path: &Path, stem: &str, error: String) -> UnitReport {
    UnitReport {
        unit: printable(stem),
        state: State::Unreadable,
        dropin: tree.show(path),
        dropin_present: true,
        unit_file: None,
        rules: None,
        detail: Some(printable(&error)),
        engine: None,
        running: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_directories() {
        assert!(is_shared("web-.service"));
        assert!(is_shared("web-@.service"));
        assert!(is_shared("web-@8080.service"));
        assert!(!is_shared("web.service"));
        assert!(!is_shared("web-app.service"));
        assert!(!is_shared("app@x-.service"));
        assert!(is_shared("web-.socket"));
        assert!(!is_shared("web.socket"));
    }
}
