//! The drop-in `enable` writes: its content (pure) and the file operations
//! (atomic write, exact removal).
//!
//! Named `zz-mptcpize-rs.conf` so it sorts after every other drop-in,
//! `override.conf` from `systemctl edit` included: systemd applies drop-ins
//! in file-name order and the last assignment of a variable wins, so ours
//! must come last to carry the merged `LD_PRELOAD` and `GODEBUG`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::failure::Failure;
use crate::preload_env::{GODEBUG, LD_PRELOAD, merge_godebug, merge_ld_preload};
use crate::rules::RULES_VAR;
use crate::unit_env::{ServiceEnvironment, quoted_assignment};
use crate::unit_name::UnitName;

pub const FILE_NAME: &str = "zz-mptcpize-rs.conf";

/// The drop-in for `unit`: `LD_PRELOAD` gets the shim appended to what the
/// unit already preloads, `GODEBUG` gets `multipathtcp=1` merged into the
/// unit's Go settings, and `rules` (canonical text, `None` for the
/// defaults) goes into `MPTCPIZE_RS_RULES`. `undo` is the command that
/// removes it.
pub fn render(
    unit: &UnitName,
    env: &ServiceEnvironment,
    shim: &Path,
    rules: Option<&str>,
    undo: &str,
) -> String {
    let ld_preload = merge_ld_preload(env.get(LD_PRELOAD).map(AsRef::as_ref), shim);
    let godebug = merge_godebug(env.get(GODEBUG).map(AsRef::as_ref));
    let mut text = format!(
        "# Written by `mptcpize-rs enable {unit}`: the service's TCP sockets become\n\
         # Multipath TCP. Undo with `{undo}`.\n\
         [Service]\n\
         Environment={}\n\
         Environment={}\n",
        quoted_assignment(LD_PRELOAD, &ld_preload.to_string_lossy()),
        quoted_assignment(GODEBUG, &godebug.to_string_lossy()),
    );
    if let Some(rules) = rules {
        text.push_str(&format!(
            "Environment={}\n",
            quoted_assignment(RULES_VAR, rules)
        ));
    }
    text
}

/// The rules a drop-in written by [`render`] carries (canonical text).
pub fn rules_of(dropin: &str) -> Option<String> {
    let mut env = ServiceEnvironment::default();
    env.apply(dropin);
    env.get(RULES_VAR).map(str::to_owned)
}

/// Writes `content` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, renamed over the target, and the directory
/// synced, so a crash leaves the old file or the new one, never half of one.
/// Creates the directory (0755) if needed; the file is 0644.
pub fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("no parent directory"))?;
    fs::create_dir_all(dir)?;
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)?;
        file.write_all(content.as_bytes())?;
        // The umask may have narrowed the mode given to open().
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Removes the drop-in and, if that left it empty, its directory. Returns
/// whether there was a drop-in to remove.
pub fn remove(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    }
    if let Some(dir) = path.parent() {
        // Fails, as it should, when other drop-ins are still there.
        let _ = fs::remove_dir(dir);
        if let Some(parent) = dir.parent() {
            let _ = File::open(parent).and_then(|d| d.sync_all());
        }
    }
    Ok(true)
}

/// A failed write, with what to do about it.
pub fn write_failure(path: &Path, error: io::Error) -> Failure {
    let hint = if error.kind() == io::ErrorKind::PermissionDenied {
        "; run it as root (sudo), or use --user for your own services"
    } else {
        ""
    };
    Failure::new(format!("cannot write {}: {error}{hint}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;

    const SHIM: &str = "/usr/lib/mptcpize-rs/libmptcpize_preload.so";

    fn render_with(unit_text: &str, rules: Option<&str>) -> String {
        let mut env = ServiceEnvironment::default();
        env.apply(unit_text);
        let unit = UnitName::parse("web").unwrap();
        let undo = "mptcpize-rs disable web.service";
        render(&unit, &env, Path::new(SHIM), rules, undo)
    }

    fn render_for(unit_text: &str) -> String {
        render_with(unit_text, None)
    }

    #[test]
    fn plain_unit() {
        assert_eq!(
            render_for("[Service]\nEnvironment=FOO=bar\n"),
            "# Written by `mptcpize-rs enable web.service`: the service's TCP sockets become\n\
             # Multipath TCP. Undo with `mptcpize-rs disable web.service`.\n\
             [Service]\n\
             Environment=\"LD_PRELOAD=/usr/lib/mptcpize-rs/libmptcpize_preload.so\"\n\
             Environment=\"GODEBUG=multipathtcp=1\"\n"
        );
    }

    #[test]
    fn merges_existing_preload_and_godebug() {
        let text = render_for(
            "[Service]\nEnvironment=\"LD_PRELOAD=/opt/a.so /opt/b.so\" GODEBUG=http2client=0\n",
        );
        assert!(
            text.contains(&format!("\"LD_PRELOAD=/opt/a.so /opt/b.so:{SHIM}\"")),
            "{text}"
        );
        assert!(
            text.contains("\"GODEBUG=http2client=0,multipathtcp=1\""),
            "{text}"
        );
    }

    #[test]
    fn rules_are_written_and_read_back() {
        let rules = "loopback=0;listen=1;exclude=10.0.0.0/8,::1";
        let text = render_with("[Service]\nEnvironment=FOO=bar\n", Some(rules));
        assert!(
            text.ends_with(&format!("Environment=\"{RULES_VAR}={rules}\"\n")),
            "{text}"
        );
        assert_eq!(rules_of(&text).as_deref(), Some(rules));
        assert_eq!(rules_of(&render_for("[Service]\n")), None);
    }

    #[test]
    fn atomic_write_and_exact_removal() {
        let scratch = ScratchDir::new("dropin");
        let path = scratch.path().join("web.service.d").join(FILE_NAME);
        write_atomic(&path, "one\n").unwrap();
        write_atomic(&path, "two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let entries = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1, "no temporary file left behind");

        let other = path.with_file_name("other.conf");
        fs::write(&other, "x").unwrap();
        assert!(remove(&path).unwrap());
        assert!(
            other.exists() && path.parent().unwrap().is_dir(),
            "others kept"
        );
        fs::remove_file(&other).unwrap();
        write_atomic(&path, "x").unwrap();
        assert!(remove(&path).unwrap());
        assert!(!path.parent().unwrap().exists(), "empty directory removed");
        assert!(!remove(&path).unwrap(), "nothing to remove is not an error");
    }
}
