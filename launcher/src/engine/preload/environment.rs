//! The environment variables handed to the launched program. Everything here
//! is pure: callers pass the current values in and get the new ones back.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use mptcpize_contract::env;

pub const LD_PRELOAD: &str = "LD_PRELOAD";
pub const GODEBUG: &str = "GODEBUG";
/// Read once by the shim at load time; "1" turns on per-socket logging.
pub const DEBUG_VAR: &str = env::DEBUG.name();
/// Read by the shim: file to log to instead of stderr.
pub const LOG_VAR: &str = env::LOG.name();
/// Read by the shim: "1" forbids falling back to TCP (`--require-mptcp`).
pub const REQUIRE_VAR: &str = env::REQUIRE.name();

/// Go's knob for native MPTCP (Go >= 1.21).
const GODEBUG_MPTCP_KEY: &[u8] = b"multipathtcp";
const GODEBUG_MPTCP_SETTING: &[u8] = b"multipathtcp=1";

/// glibc's ld.so splits LD_PRELOAD on both spaces and colons.
fn is_ld_preload_separator(byte: u8) -> bool {
    byte == b':' || byte == b' '
}

/// Whether `path` can be written into LD_PRELOAD at all: ld.so would split
/// a path containing a separator into two bogus entries.
pub fn is_preloadable(path: &Path) -> bool {
    !path
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|&b| is_ld_preload_separator(b))
}

/// Appends `shim` to an existing LD_PRELOAD value.
///
/// The existing text is kept byte for byte (other tools may rely on its
/// order and spelling); if `shim` is already one of its entries the value
/// is returned unchanged, and if there are no entries at all the result is
/// just `shim`.
pub fn merge_ld_preload(existing: Option<&OsStr>, shim: &Path) -> OsString {
    let shim = shim.as_os_str().as_bytes();
    let Some(existing) = existing.map(OsStr::as_bytes) else {
        return OsString::from_vec(shim.to_vec());
    };
    let mut entries = existing
        .split(|&b| is_ld_preload_separator(b))
        .filter(|entry| !entry.is_empty())
        .peekable();
    if entries.peek().is_none() {
        return OsString::from_vec(shim.to_vec());
    }
    if entries.any(|entry| entry == shim) {
        return OsString::from_vec(existing.to_vec());
    }
    let mut merged = existing.to_vec();
    if !existing.last().is_some_and(|&b| is_ld_preload_separator(b)) {
        merged.push(b':');
    }
    merged.extend_from_slice(shim);
    OsString::from_vec(merged)
}

/// Returns GODEBUG with `multipathtcp=1` as its last setting.
///
/// Other settings keep their order and text; earlier `multipathtcp`
/// entries (whatever their value) and empty entries are dropped so the
/// result is unambiguous whichever precedence rule a Go version uses.
pub fn merge_godebug(existing: Option<&OsStr>) -> OsString {
    let existing = existing.map(OsStr::as_bytes).unwrap_or_default();
    let mut merged = Vec::with_capacity(existing.len() + GODEBUG_MPTCP_SETTING.len() + 1);
    for entry in existing.split(|&b| b == b',') {
        let key = entry.split(|&b| b == b'=').next().unwrap_or_default();
        if entry.trim_ascii().is_empty() || key == GODEBUG_MPTCP_KEY {
            continue;
        }
        merged.extend_from_slice(entry);
        merged.push(b',');
    }
    merged.extend_from_slice(GODEBUG_MPTCP_SETTING);
    OsString::from_vec(merged)
}

/// The variables to set for the launched program, given a lookup of the
/// current environment. Variables not listed are inherited untouched.
pub fn program_environment(
    current: impl Fn(&str) -> Option<OsString>,
    shim: &Path,
    debug: bool,
) -> Vec<(&'static str, OsString)> {
    let mut vars = vec![
        (
            LD_PRELOAD,
            merge_ld_preload(current(LD_PRELOAD).as_deref(), shim),
        ),
        (GODEBUG, merge_godebug(current(GODEBUG).as_deref())),
    ];
    if debug {
        vars.push((DEBUG_VAR, OsString::from("1")));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIM: &str = "/opt/mptcpize-rs/libmptcpize_preload.so";

    fn ld(existing: Option<&str>) -> String {
        let merged = merge_ld_preload(existing.map(OsStr::new), Path::new(SHIM));
        merged.into_string().expect("UTF-8 in, UTF-8 out")
    }

    fn godebug(existing: Option<&str>) -> String {
        let merged = merge_godebug(existing.map(OsStr::new));
        merged.into_string().expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn ld_preload_unset_or_blank_is_just_the_shim() {
        assert_eq!(ld(None), SHIM);
        assert_eq!(ld(Some("")), SHIM);
        assert_eq!(ld(Some("   ")), SHIM);
        assert_eq!(ld(Some(" : :")), SHIM);
    }

    #[test]
    fn ld_preload_appends_with_colon() {
        assert_eq!(ld(Some("/lib/a.so")), format!("/lib/a.so:{SHIM}"));
        assert_eq!(
            ld(Some("/lib/a.so:/lib/b.so")),
            format!("/lib/a.so:/lib/b.so:{SHIM}")
        );
    }

    #[test]
    fn ld_preload_keeps_whitespace_separated_list_verbatim() {
        assert_eq!(
            ld(Some("/lib/a.so /lib/b.so")),
            format!("/lib/a.so /lib/b.so:{SHIM}")
        );
        // A trailing separator is reused instead of doubled.
        assert_eq!(ld(Some("/lib/a.so ")), format!("/lib/a.so {SHIM}"));
        assert_eq!(ld(Some("/lib/a.so:")), format!("/lib/a.so:{SHIM}"));
    }

    #[test]
    fn ld_preload_already_present_is_unchanged() {
        for existing in [
            SHIM.to_owned(),
            format!("/lib/a.so:{SHIM}"),
            format!("{SHIM} /lib/a.so"),
            format!(" {SHIM}: "),
        ] {
            assert_eq!(ld(Some(&existing)), existing);
        }
    }

    #[test]
    fn ld_preload_prefix_match_is_not_presence() {
        let longer = format!("{SHIM}.bak");
        assert_eq!(ld(Some(&longer)), format!("{longer}:{SHIM}"));
    }

    #[test]
    fn ld_preload_keeps_non_utf8_bytes() {
        let existing = OsStr::from_bytes(b"/lib/\xff.so");
        let merged = merge_ld_preload(Some(existing), Path::new(SHIM));
        let mut expected = b"/lib/\xff.so:".to_vec();
        expected.extend_from_slice(SHIM.as_bytes());
        assert_eq!(merged.as_bytes(), expected.as_slice());
    }

    #[test]
    fn preloadable_paths() {
        assert!(is_preloadable(Path::new(SHIM)));
        assert!(!is_preloadable(Path::new("/home/me/My Code/lib.so")));
        assert!(!is_preloadable(Path::new("/srv/a:b/lib.so")));
    }

    #[test]
    fn godebug_unset_or_empty() {
        assert_eq!(godebug(None), "multipathtcp=1");
        assert_eq!(godebug(Some("")), "multipathtcp=1");
        assert_eq!(godebug(Some(",, ,")), "multipathtcp=1");
    }

    #[test]
    fn godebug_keeps_other_settings_in_order() {
        assert_eq!(
            godebug(Some("http2client=0,gctrace=1")),
            "http2client=0,gctrace=1,multipathtcp=1"
        );
    }

    #[test]
    fn godebug_replaces_existing_multipathtcp() {
        assert_eq!(godebug(Some("multipathtcp=0")), "multipathtcp=1");
        assert_eq!(
            godebug(Some("multipathtcp=2,x=1,multipathtcp=0")),
            "x=1,multipathtcp=1"
        );
        assert_eq!(godebug(Some("multipathtcp,x=1")), "x=1,multipathtcp=1");
        assert_eq!(godebug(Some("multipathtcp=1")), "multipathtcp=1");
    }

    #[test]
    fn godebug_drops_empty_entries_only() {
        assert_eq!(godebug(Some(",a=1,,b=2,")), "a=1,b=2,multipathtcp=1");
        // Similar-looking keys are different settings.
        assert_eq!(
            godebug(Some("multipathtcpx=1")),
            "multipathtcpx=1,multipathtcp=1"
        );
    }

    #[test]
    fn program_environment_without_debug() {
        let current = |name: &str| match name {
            "LD_PRELOAD" => Some(OsString::from("/lib/a.so")),
            "GODEBUG" => Some(OsString::from("multipathtcp=0")),
            _ => None,
        };
        let vars = program_environment(current, Path::new(SHIM), false);
        assert_eq!(
            vars,
            vec![
                (LD_PRELOAD, OsString::from(format!("/lib/a.so:{SHIM}"))),
                (GODEBUG, OsString::from("multipathtcp=1")),
            ]
        );
    }

    #[test]
    fn program_environment_with_debug() {
        let vars = program_environment(|_| None, Path::new(SHIM), true);
        assert_eq!(
            vars,
            vec![
                (LD_PRELOAD, OsString::from(SHIM)),
                (GODEBUG, OsString::from("multipathtcp=1")),
                (DEBUG_VAR, OsString::from("1")),
            ]
        );
    }
}
