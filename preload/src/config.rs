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

/// Reads the environment. Runs from the load-time constructor, before `main`,
/// when no other thread of the program exists yet, so `getenv` is safe here.
pub fn load() {
    if secure_execution() {
        return;
    }
    load_rules();
    if switch(env::REQUIRE.c_name()) {
        REQUIRE.store(true, Ordering::Relaxed);
    }
    // SAFETY: getenv with a NUL-terminated name; the result is only read here.
    let report = unsafe { libc::getenv(env::REPORT.c_name().as_ptr()) };
    if !report.is_null() {
        crate::report::attach(report);
    }
    // SAFETY: as above.
    let log_path = unsafe { libc::getenv(env::LOG.c_name().as_ptr()) };
    if !log_path.is_null() {
        match crate::debug_log::open_file(log_path) {
            Ok(()) => {
                DEBUG.store(true, Ordering::Relaxed);
                return;
            }
            // Said once per process, on stderr (where `-d` lines then go).
            Err(refusal) => crate::debug_log::explain_log_refusal(refusal),
        }
    }
    if switch(env::DEBUG.c_name()) {
        DEBUG.store(true, Ordering::Relaxed);
    }
}

/// Whether this process runs under secure execution (setuid, setgid, file
/// capabilities...): one read of the auxiliary vector, no system call.
fn secure_execution() -> bool {
    // SAFETY: getauxval has no preconditions; 0 means "no" or "absent".
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Parses `MPTCPIZE_RS_RULES`, if set. Called from `load`, see there.
fn load_rules() {
    // SAFETY: getenv with a NUL-terminated name.
    let text = unsafe { libc::getenv(env::RULES.c_name().as_ptr()) };
    if text.is_null() {
        return;
    }
    // SAFETY: a non-null getenv result points to a NUL-terminated string.
    let text = unsafe { core::ffi::CStr::from_ptr(text) }.to_bytes();
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

/// Whether the environment variable `name` is set to a true value.
fn switch(name: &core::ffi::CStr) -> bool {
    // SAFETY: getenv with a NUL-terminated name.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: a non-null getenv result points to a NUL-terminated string.
    !value.is_null() && is_true(unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes())
}

/// "1", "yes", "true", "on" (any case) turn a switch on; anything else, off.
fn is_true(value: &[u8]) -> bool {
    [&b"1"[..], b"yes", b"true", b"on"]
        .iter()
        .any(|on| value.eq_ignore_ascii_case(on))
}

#[cfg(test)]
mod tests {
    use super::is_true;

    #[test]
    fn switches() {
        for on in ["1", "yes", "TRUE", "On"] {
            assert!(is_true(on.as_bytes()), "{on}");
        }
        for off in ["", "0", "no", "false", "2", "yes please"] {
            assert!(!is_true(off.as_bytes()), "{off}");
        }
    }
}
