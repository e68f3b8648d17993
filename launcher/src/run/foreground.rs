//! Running the program as a child in the foreground, for the cases where
//! `run` cannot simply become it (exec): with `--report`, `run` must still
//! be there when the program ends, to write the report.
//!
//! It behaves like the program as far as a caller can tell: the signals a
//! wrapper passes on (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2) reach the
//! program, and the caller gets the program's status, or sees `run` die of
//! the program's signal (`seccomp::exit_like`). Signals the terminal sends
//! (Ctrl-C and the like) already reach the program through its process
//! group and are not sent twice.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use crate::engine::seccomp::{ChildStatus, FORWARDED_SIGNALS};

/// Spawns `command` and waits for it, passing on forwarded signals.
pub fn run(command: &mut Command) -> io::Result<ChildStatus> {
    let blocked = SignalBlock::new()?;
    let previous = blocked.previous;
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls pthread_sigmask, which is async-signal-safe. The program starts
    // with the mask we were given; here the signals wait for sigtimedwait.
    unsafe {
        command.pre_exec(move || {
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            Ok(())
        })
    };
    let mut child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    loop {
        if let Some(status) = child.try_wait()? {
            drop(blocked);
            return Ok(child_status(status));
        }
        if let Some((signal, sent_by_a_process)) = blocked.wait(Duration::from_millis(50)) {
            if sent_by_a_process {
                // SAFETY: kill(2) to our own child, not yet reaped.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }
}

fn child_status(status: std::process::ExitStatus) -> ChildStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ChildStatus::Exited(code),
        (None, Some(signal)) => ChildStatus::Signaled(signal),
        (None, None) => ChildStatus::Exited(125),
    }
}

/// The forwarded signals, blocked while the guard lives, so they can be
/// taken with `sigtimedwait` instead of handlers.
struct SignalBlock {
    set: libc::sigset_t,
    previous: libc::sigset_t,
}

impl SignalBlock {
    fn new() -> io::Result<SignalBlock> {
        // SAFETY: sigemptyset/sigaddset/pthread_sigmask on local sets.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in FORWARDED_SIGNALS {
                libc::sigaddset(&mut set, signal);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(SignalBlock { set, previous })
        }
    }

    /// A pending signal, waited for at most `timeout`, and whether a
    /// process sent it (kill, sigqueue) rather than the kernel (terminal).
    fn wait(&self, timeout: Duration) -> Option<(i32, bool)> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos().into(),
        };
        // SAFETY: sigtimedwait fills `info` when it returns a signal.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signal = libc::sigtimedwait(&self.set, &mut info, &timeout);
            // si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL (a process sent it).
            (signal > 0).then_some((signal, info.si_code <= 0))
        }
    }
}

impl Drop for SignalBlock {
    fn drop(&mut self) {
        // A terminal's Ctrl-C reached the program too, and is its to act
        // on: take what is still pending, or unblocking would kill us before
        // the report is written (the program's own death is passed on).
        while self.wait(Duration::ZERO).is_some() {}
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}
