//! Settings read once, when the library loads (never on the hot path).
//!
//! - `MPTCPIZE_RS_DEBUG=1`: log one line per `socket()` decision.
//! - `MPTCPIZE_RS_LOG=PATH`: write those lines to PATH (appending) instead of
//!   standard error; implies debug.
//! - `MPTCPIZE_RS_REQUIRE=1` (`run --require-mptcp`): never fall back to TCP;
//!   a socket that cannot be MPTCP fails, and the reason is printed once.
//! - `MPTCPIZE_RS_REPORT=PATH` (`run --report`): the shared counter table.

use core::sync::atomic::{AtomicBool, Ordering};

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

/// Reads the environment. Runs from the load-time constructor, before `main`,
/// when no other thread of the program exists yet, so `getenv` is safe here.
pub fn load() {
    if switch(c"MPTCPIZE_RS_REQUIRE") {
        REQUIRE.store(true, Ordering::Relaxed);
    }
    // SAFETY: getenv with a NUL-terminated name; the result is only read here.
    let report = unsafe { libc::getenv(c"MPTCPIZE_RS_REPORT".as_ptr()) };
    if !report.is_null() {
        crate::report::attach(report);
    }
    // SAFETY: as above.
    let log_path = unsafe { libc::getenv(c"MPTCPIZE_RS_LOG".as_ptr()) };
    if !log_path.is_null() && crate::debug_log::open_file(log_path) {
        DEBUG.store(true, Ordering::Relaxed);
        return;
    }
    if switch(c"MPTCPIZE_RS_DEBUG") {
        DEBUG.store(true, Ordering::Relaxed);
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
