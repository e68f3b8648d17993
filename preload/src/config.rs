//! Settings read once, when the library loads (never on the hot path).
//!
//! Under secure execution (a setuid or setgid program, file capabilities,
//! an LSM transition: `getauxval(AT_SECURE) != 0`) none of the variables
//! below is read: the environment belongs to a less privileged caller, so
//! the shim converts sockets with the default rules and does nothing else
//! (no log, no report table, fallback as usual). glibc ignores
//! `LD_PRELOAD` there, but still honours `/etc/ld.so.preload`.
//!
//! - `MPTCPIZE_RS_DEBUG=1`: log one line per `socket()` decision.
//! - `MPTCPIZE_RS_LOG=PATH`: write those lines to PATH (appending) instead of
//!   standard error; implies debug. Only a regular file or a terminal, never
//!   through a symlink, never blocking (`debug_log::open_file`).
//! - `MPTCPIZE_RS_REQUIRE=1` (`run --require-mptcp`): never fall back to TCP;
//!   a socket that cannot be MPTCP fails, and the reason is printed once.
//! - `MPTCPIZE_RS_REPORT=FD:INODE` (`run --report`): the shared counter
//!   table, a sealed memfd the launcher left open on descriptor FD
//!   (`report::attach` checks it is really one).
//! - `MPTCPIZE_RS_RULES=TEXT` (`run --loopback`, `--exclude`, ...): which
//!   connections and listeners are swapped back to plain TCP (`rules`);
//!   unset means the defaults, malformed means the defaults and a notice.

use core::cell::UnsafeCell;
use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::env;
use crate::rules::Rules;

static DEBUG: AtomicBool = AtomicBool::new(false);
static REQUIRE: AtomicBool = AtomicBool::new(false);

/// Whether decisions are logged.
pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Whether falling back to TCP is forbidden.
pub fn require_mptcp() -> bool {
    REQUIRE.load(Ordering::Relaxed)
}

/// The rules, written once by `load` (before `main`, one thread), read-only
/// afterwards.
struct RulesCell(UnsafeCell<Rules>);

// SAFETY: written only from the load-time constructor, before any other
// thread of the program exists; only read afterwards.
unsafe impl Sync for RulesCell {}

static RULES: RulesCell = RulesCell(UnsafeCell::new(Rules::DEFAULT));

/// The rules in force.
pub fn rules() -> &'static Rules {
    // SAFETY: see `RulesCell`: no write happens once threads can exist.
    unsafe { &*RULES.0.get() }
}

/// The shim's variables, as found in the environment: each value with the
/// C string it came from (NUL-terminated), as `getenv` would give it.
#[derive(Default)]
struct Found<'a> {
    rules: Option<&'a CStr>,
    require: Option<&'a CStr>,
    report: Option<&'a CStr>,
    log: Option<&'a CStr>,
    debug: Option<&'a CStr>,
}

impl<'a> Found<'a> {
    /// Notes one `NAME=VALUE` entry; the first of a name counts, as with
    /// `getenv`.
    fn note(&mut self, entry: &'a CStr) {
        for (var, slot) in [
            (env::RULES, &mut self.rules),
            (env::REQUIRE, &mut self.require),
            (env::REPORT, &mut self.report),
            (env::LOG, &mut self.log),
            (env::DEBUG, &mut self.debug),
        ] {
            if slot.is_none() {
                *slot = value_of(entry, var.c_name());
            }
        }
    }
}

/// VALUE when `entry` is `name=VALUE` (pure).
fn value_of<'a>(entry: &'a CStr, name: &CStr) -> Option<&'a CStr> {
    let value = entry
        .to_bytes_with_nul()
        .strip_prefix(name.to_bytes())?
        .strip_prefix(b"=")?;
    CStr::from_bytes_with_nul(value).ok()
}

/// Reads the settings from `envp`, the environment glibc passes to the
/// load-time constructor, before `main`, when no other thread of the
/// program exists yet. It is the environment the program was started
/// with: a variable another library's constructor set with `setenv`
/// before ours ran is not seen (`getenv` would have seen it). One pass over it, and only for entries starting
/// with `MPTCPIZE_RS_` does anything more than a few byte compares happen.
///
/// # Safety
/// `envp` is null or a null-terminated array of NUL-terminated strings
/// that stay valid (the process's initial environment).
pub unsafe fn load(envp: *const *const c_char) {
    if secure_execution() || envp.is_null() {
        return;
    }
    let mut found = Found::default();
    let mut at = envp;
    loop {
        // SAFETY: the array is null-terminated, and `at` has not passed the
        // terminator (see the loop's end).
        let entry = unsafe { *at };
        if entry.is_null() {
            break;
        }
        // SAFETY: every entry is NUL-terminated (the caller's promise).
        // Only ours are measured: the prefix check stops at the first byte
        // that differs, so other entries are never read to their end.
        if unsafe { has_our_prefix(entry) } {
            // SAFETY: as above; the environment outlives the process's use.
            found.note(unsafe { c_str(entry) });
        }
        // SAFETY: `entry` was not the terminator, so the next one exists.
        at = unsafe { at.add(1) };
    }
    apply(&found);
}

/// Whether the C string at `entry` starts with `MPTCPIZE_RS_`.
///
/// # Safety
/// `entry` is NUL-terminated.
unsafe fn has_our_prefix(entry: *const c_char) -> bool {
    env::PREFIX.iter().enumerate().all(|(i, &byte)| {
        // SAFETY: bytes are read in order and the walk stops at the first
        // mismatch, so it never passes the NUL (which matches no byte of
        // the prefix).
        unsafe { *entry.add(i) as u8 == byte }
    })
}

/// The C string at `ptr`. Measured here rather than by `CStr::from_ptr`,
/// whose `strlen` would be one more symbol for the loader to look up in
/// every process (`sys`). Bounded: an environment entry longer than
/// `MAX_ENTRY` bytes is not one of ours (and reads as empty).
///
/// # Safety
/// `ptr` is NUL-terminated and valid for the returned lifetime.
unsafe fn c_str<'a>(ptr: *const c_char) -> &'a CStr {
    let mut len = 0;
    // SAFETY: read in order up to the first NUL, which exists.
    while len < MAX_ENTRY && unsafe { *ptr.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len + 1` bytes, the last of them the NUL, are readable.
    let bytes = unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len + 1) };
    CStr::from_bytes_with_nul(bytes).unwrap_or(c"")
}

/// Longest environment entry the shim reads (rules text included).
const MAX_ENTRY: usize = 64 * 1024;

/// Sets the switches, the rules, the report and the log from `found`.
fn apply(found: &Found) {
    if let Some(text) = found.rules {
        load_rules(text.to_bytes());
    }
    if found.require.is_some_and(is_true_value) {
        REQUIRE.store(true, Ordering::Relaxed);
    }
    if let Some(report) = found.report {
        crate::report::attach(report.to_bytes());
    }
    if let Some(path) = found.log {
        match crate::debug_log::open_file(path) {
            Ok(()) => {
                DEBUG.store(true, Ordering::Relaxed);
                return;
            }
            // Said once per process, on stderr (where `-d` lines then go).
            Err(refusal) => crate::debug_log::explain_log_refusal(refusal),
        }
    }
    if found.debug.is_some_and(is_true_value) {
        DEBUG.store(true, Ordering::Relaxed);
    }
}

/// Whether this process runs under secure execution (setuid, setgid, file
/// capabilities...): one read of the auxiliary vector, no system call.
fn secure_execution() -> bool {
    // SAFETY: getauxval has no preconditions; 0 means "no" or "absent".
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Parses `MPTCPIZE_RS_RULES`. Called from `load`, see there.
fn load_rules(text: &[u8]) {
    match Rules::parse(text) {
        // SAFETY: see `RulesCell`: the constructor runs before any thread.
        Ok(rules) => unsafe { *RULES.0.get() = rules },
        Err(error) => {
            crate::debug_log::notice("mptcpize-rs: ");
            crate::debug_log::notice(env::RULES.name());
            crate::debug_log::notice(" is malformed (");
            crate::debug_log::notice(error.kind.describe());
            crate::debug_log::notice("); using the default rules\n");
        }
    }
}

/// Whether a switch's value turns it on.
fn is_true_value(value: &CStr) -> bool {
    is_true(value.to_bytes())
}

/// "1", "yes", "true", "on" (any case) turn a switch on; anything else, off.
fn is_true(value: &[u8]) -> bool {
    [&b"1"[..], b"yes", b"true", b"on"]
        .iter()
        .any(|on| value.eq_ignore_ascii_case(on))
}

#[cfg(test)]
mod tests {
    use super::{Found, is_true, value_of};

    #[test]
    fn switches() {
        for on in ["1", "yes", "TRUE", "On"] {
            assert!(is_true(on.as_bytes()), "{on}");
        }
        for off in ["", "0", "no", "false", "2", "yes please"] {
            assert!(!is_true(off.as_bytes()), "{off}");
        }
    }

    #[test]
    fn values_are_found_by_exact_name() {
        let name = c"MPTCPIZE_RS_LOG";
        assert_eq!(value_of(c"MPTCPIZE_RS_LOG=/tmp/x", name), Some(c"/tmp/x"));
        assert_eq!(value_of(c"MPTCPIZE_RS_LOG=", name), Some(c""));
        assert_eq!(value_of(c"MPTCPIZE_RS_LOGX=/tmp/x", name), None);
        assert_eq!(value_of(c"MPTCPIZE_RS_LO=/tmp/x", name), None);
        assert_eq!(value_of(c"MPTCPIZE_RS_LOG", name), None);
        assert_eq!(value_of(c"PATH=/bin", name), None);
    }

    #[test]
    fn the_first_entry_of_a_name_counts_as_with_getenv() {
        let mut found = Found::default();
        for entry in [
            c"MPTCPIZE_RS_DEBUG=1",
            c"MPTCPIZE_RS_RULES=loopback",
            c"MPTCPIZE_RS_DEBUG=0",
        ] {
            found.note(entry);
        }
        assert_eq!(found.debug, Some(c"1"));
        assert_eq!(found.rules, Some(c"loopback"));
        assert_eq!(found.log, None);
    }
}
