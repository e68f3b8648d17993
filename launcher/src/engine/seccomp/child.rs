//! The program as the supervisor's direct child: the signals passed on to
//! it, and reaping it. The supervisor waits for it in its `poll` loop, not
//! in `waitpid`, so both are descriptors there: a signalfd for the
//! forwarded signals ([`SupervisorSignals`]) and a pidfd that becomes
//! readable when the child exits ([`Child`]).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::ffi;
use crate::exit_code::{self, ChildStatus};
use crate::kernel::fd;
use crate::run::signals::{self, DefaultDisposition, ForwardedSignals, Received};

/// The forwarded signals blocked and readable from a signalfd; SIGCHLD at
/// its default (so the child can be waited for); all undone on drop. The
/// child undoes it before exec ([`SupervisorSignals::restore_in_child`]).
pub struct SupervisorSignals {
    // Fields drop in this order: SIGCHLD, then the mask, as they were.
    sigchld: DefaultDisposition,
    forwarded: ForwardedSignals,
    signalfd: OwnedFd,
}

impl SupervisorSignals {
    pub fn set_up() -> io::Result<SupervisorSignals> {
        let forwarded = ForwardedSignals::block()?;
        let signalfd = forwarded.signalfd()?;
        Ok(SupervisorSignals {
            sigchld: DefaultDisposition::set(libc::SIGCHLD),
            forwarded,
            signalfd,
        })
    }

    pub fn signalfd(&self) -> &OwnedFd {
        &self.signalfd
    }

    /// Signals waiting in the signalfd.
    pub fn pending(&self) -> Vec<Received> {
        signals::read_signalfd(self.signalfd.as_fd())
    }

    /// In the child: the mask, SIGCHLD and SIGPIPE as inherited
    /// (mptcpize-rs ignores SIGPIPE for itself). Async-signal-safe.
    pub fn restore_in_child(&self) {
        self.sigchld.restore();
        signals::restore_inherited_sigpipe();
        self.forwarded.previous_mask().restore();
    }
}

/// The direct child: its PID, a pidfd (readable once it exits, and safe to
/// signal: it can never name a recycled PID), and its status once reaped.
pub struct Child {
    pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
    pub status: Option<ChildStatus>,
}

impl Child {
    pub fn new(pid: libc::pid_t) -> Child {
        Child {
            pid,
            // The child is not reaped yet, so the PID is still it.
            pidfd: fd::pidfd_open(pid).ok(),
            status: None,
        }
    }

    /// Reaps the child if it has exited (`block`: wait for it).
    pub fn reap(&mut self, block: bool) {
        if self.status.is_some() {
            return;
        }
        let mut status = 0;
        let flags = if block { 0 } else { libc::WNOHANG };
        loop {
            // SAFETY: waitpid on our own child with a pointer to a local.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if rc == self.pid {
                self.status = Some(ChildStatus::from_wait_status(status));
                return;
            }
            if rc < 0 && ffi::errno() == libc::EINTR {
                continue;
            }
            if rc < 0 {
                // ECHILD: someone else reaped it; report a failure status.
                self.status = Some(ChildStatus::Exited(i32::from(exit_code::LAUNCHER_FAILED)));
            }
            return;
        }
    }

    pub fn reap_blocking(mut self) {
        self.reap(true);
    }

    pub fn signal(&self, signal: i32) {
        if self.status.is_some() {
            return;
        }
        match &self.pidfd {
            // SAFETY: pidfd_send_signal with our pidfd, no siginfo.
            Some(pidfd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            },
            // SAFETY: kill of our own unreaped child (the PID cannot be
            // reused before we reap it).
            None => unsafe {
                libc::kill(self.pid, signal);
            },
        }
    }
}
