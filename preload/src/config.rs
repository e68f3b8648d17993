//! Settings read once, when the library loads (never on the hot path).
//!
//! - `MPTCPIZE_RS_DEBUG=1`: log one line per `socket()` decision.
//! - `MPTCPIZE_RS_LOG=PATH`: write those lines to PATH (appending) instead of
//!   standard error; implies debug.

use core::sync::atomic::{AtomicBool, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Whether decisions are logged.
pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Reads the environment. Runs from the load-time constructor, before `main`,
/// when no other thread of the program exists yet, so `getenv` is safe here.
pub fn load() {
    // SAFETY: getenv with a NUL-terminated name; the result is only read here.
    let log_path = unsafe { libc::getenv(c"MPTCPIZE_RS_LOG".as_ptr()) };
    if !log_path.is_null() && crate::debug_log::open_file(log_path) {
        DEBUG.store(true, Ordering::Relaxed);
        return;
    }
    // SAFETY: as above.
    let debug = unsafe { libc::getenv(c"MPTCPIZE_RS_DEBUG".as_ptr()) };
    // SAFETY: a non-null getenv result points to a NUL-terminated string.
    if !debug.is_null() && is_true(unsafe { core::ffi::CStr::from_ptr(debug) }.to_bytes()) {
        DEBUG.store(true, Ordering::Relaxed);
    }
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
