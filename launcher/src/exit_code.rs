//! Exit statuses of the launcher itself, following env(1) and timeout(1)
//! so scripts can tell the wrapper's failures from the program's; and the
//! program's own status, passed on as ours when `run` waits for it (both
//! engines end the same way: [`exit_like`]).

use std::io::{self, Write};

use crate::run::signals;

/// Bad command line (clap's own usage-error status).
pub const USAGE: u8 = 2;
/// The launcher failed before it could exec the program.
pub const LAUNCHER_FAILED: u8 = 125;
/// The program was found but could not be executed.
pub const CANNOT_EXECUTE: u8 = 126;
/// The program was not found.
pub const NOT_FOUND: u8 = 127;

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    Exited(i32),
    Signaled(i32),
}

impl ChildStatus {
    /// From a `waitpid` status (also what std's `ExitStatus::into_raw`
    /// gives): the exit code, or the signal that ended it; anything else
    /// (stopped, continued: never asked for) counts as our failure.
    pub fn from_wait_status(status: i32) -> ChildStatus {
        if libc::WIFEXITED(status) {
            ChildStatus::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            ChildStatus::Signaled(libc::WTERMSIG(status))
        } else {
            ChildStatus::Exited(i32::from(LAUNCHER_FAILED))
        }
    }
}

/// Ends this process the way the program ended: the same exit code, or
/// death by the same signal (core dumps off, so a crashing program does not
/// leave a second core from us). Returns the shell-style status (128 + N)
/// only if the signal did not end us.
pub fn exit_like(status: ChildStatus) -> u8 {
    match status {
        ChildStatus::Exited(code) => code as u8,
        ChildStatus::Signaled(signal) => {
            let _ = io::stderr().flush();
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit reads a live local.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
            signals::reset_to_default(signal);
            signals::unblock(signal);
            // SAFETY: raise takes a signal number; dying here is the intent.
            unsafe { libc::raise(signal) };
            128u8.wrapping_add(signal as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_pass_through() {
        assert_eq!(exit_like(ChildStatus::Exited(0)), 0);
        assert_eq!(exit_like(ChildStatus::Exited(3)), 3);
        assert_eq!(exit_like(ChildStatus::Exited(255)), 255);
    }

    #[test]
    fn wait_statuses() {
        assert_eq!(ChildStatus::from_wait_status(0), ChildStatus::Exited(0));
        assert_eq!(
            ChildStatus::from_wait_status(3 << 8),
            ChildStatus::Exited(3)
        );
        assert_eq!(
            ChildStatus::from_wait_status(libc::SIGTERM),
            ChildStatus::Signaled(libc::SIGTERM)
        );
        // Stopped by SIGSTOP (0x7f in the low byte): never asked for.
        assert_eq!(
            ChildStatus::from_wait_status((libc::SIGSTOP << 8) | 0x7f),
            ChildStatus::Exited(125)
        );
    }
}
