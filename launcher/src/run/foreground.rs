//! Running the program as a child in the foreground, for the cases where
//! `run` cannot simply become it (exec): with `--report`, `run` must still
//! be there when the program ends, to write the report.
//!
//! It behaves like the program as far as a caller can tell: the signals a
//! wrapper passes on ([`super::signals`]) reach the program, and the caller
//! gets the program's status, or sees `run` die of the program's signal
//! ([`crate::exit_code::exit_like`]). Signals the terminal sends (Ctrl-C
//! and the like) already reach the program through its process group and
//! are not sent twice.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::Duration;

use super::signals::ForwardedSignals;
use crate::exit_code::ChildStatus;

/// Spawns `command` and waits for it, passing on forwarded signals.
pub fn run(command: &mut Command) -> io::Result<ChildStatus> {
    let blocked = ForwardedSignals::block()?;
    let status = spawn_and_wait(command, &blocked);
    // A terminal's Ctrl-C reached the program too, and is its to act on:
    // take what is still pending, or unblocking would kill us before the
    // report is written (the program's own death is passed on).
    blocked.discard_pending();
    drop(blocked);
    status
}

fn spawn_and_wait(command: &mut Command, blocked: &ForwardedSignals) -> io::Result<ChildStatus> {
    let previous = blocked.previous_mask();
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls pthread_sigmask and sigaction, which are async-signal-safe. The program starts
    // with the mask we were given; here the signals wait for sigtimedwait.
    unsafe {
        command.pre_exec(move || {
            previous.restore();
            super::signals::restore_inherited_sigpipe();
            Ok(())
        })
    };
    let mut child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(ChildStatus::from_wait_status(status.into_raw()));
        }
        if let Some(received) = blocked.wait(Duration::from_millis(50))
            && received.to_forward()
        {
            // SAFETY: kill(2) to our own child, not yet reaped.
            unsafe { libc::kill(pid, received.signal) };
        }
    }
}
