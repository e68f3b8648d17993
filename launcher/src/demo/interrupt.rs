//! Ctrl-C (and SIGTERM, SIGHUP) during the demo. The default action would
//! kill the process on the spot and leave its namespaces behind, so the
//! handler only records the signal; every wait in the demo polls
//! [`received`] and turns it into an error, and the guards' destructors then
//! remove what was created.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that arrived, or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // An atomic store is async-signal-safe; nothing else happens here.
    RECEIVED.store(signal, Ordering::Relaxed);
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP. A SIGHUP that is
/// ignored (as under `nohup`) stays ignored.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: sigaction is a plain C struct for which all-zero bytes are
        // a valid value (empty mask, no flags, SIG_DFL).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // Restart interrupted system calls: std's reads and waits then behave
        // as if nothing happened, and the polling loops notice the flag.
        action.sa_flags = libc::SA_RESTART;
        if signal == libc::SIGHUP {
            // SAFETY: valid signal number; a null `act` only reads the
            // current disposition into `previous`.
            unsafe { libc::sigaction(signal, std::ptr::null(), &mut previous) };
            if previous.sa_sigaction == libc::SIG_IGN {
                continue;
            }
        }
        // SAFETY: valid signal number and a fully initialised action whose
        // handler only stores to an atomic.
        unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    }
}

/// The signal received since [`install`], if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}
