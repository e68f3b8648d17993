//! The supervisor: starts the program under the filter and answers its
//! `socket()` notifications until no process uses the filter any more.
//! This file is the loop and its lifetime; the other jobs have rooms of
//! their own: `spawn` (fork, the child's side, the listener hand-over),
//! `child` (forwarded signals, reaping), `respond` (one notification),
//! `log` (where decision lines go) and [`background`] (after the
//! program).
//!
//! ```text
//! mptcpize-rs (supervisor)                 child
//!   block forwarded signals, signalfd
//!   socketpair (SEQPACKET, CLOEXEC)
//!   fork ──────────────────────────────────> restore signal mask/dispositions
//!                                            no_new_privs, install filter
//!                                            probe ADDFD_FLAG_SEND
//!   recvmsg: listener fd  <───────────────── sendmsg "L" + SCM_RIGHTS(listener)
//!                                            execve(PROG)  (or send "E"+errno)
//!   poll: listener, signalfd, pidfd, pair
//!     listener POLLIN  → answer one socket() call
//!     signalfd         → forward the signal to the child
//!     pidfd            → reap the child: its status is run's
//!     pair EOF         → exec succeeded ("E"+errno: it failed)
//!   child reaped; listener POLLHUP? (no task uses the filter)
//!     yes → return the status
//!     no  → fork ──────────────> background supervisor (background.rs):
//!           return the status      setsid, stdio on /dev/null, serve the
//!                                  listener until POLLHUP, _exit
//! ```
//!
//! mptcpize-rs is single-threaded throughout, so both forks are sound (see
//! `spawn` and [`background`]).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::child::{Child, SupervisorSignals};
use super::log::LogSink;
use super::respond::{self, Responder};
use super::spawn::{self, ExecArgs};
use super::swap::ConnectRules;
use super::{background, ffi, filter};
use crate::exit_code::{self, ChildStatus};
use crate::kernel::fd;
use crate::run::report::Report;
use mptcpize_contract::rules::Rules;

/// What to run.
#[derive(Debug)]
pub struct Target<'a> {
    /// Resolved file to exec (contains a '/').
    pub path: &'a Path,
    pub arg0: &'a OsStr,
    pub args: &'a [OsString],
    /// Variables to set on top of the inherited environment.
    pub env: &'a [(&'static str, OsString)],
    /// Where to print one line per decision (None: nowhere).
    pub log: Option<LogSink>,
    /// `--require-mptcp`: a socket that cannot be MPTCP fails, instead of
    /// continuing as TCP; the reason is printed once.
    pub require_mptcp: bool,
    /// Count the decisions per process, for `run --report`.
    pub report: bool,
    /// `--no-io-uring`: the filter fails `io_uring_setup` with ENOSYS.
    pub refuse_io_uring: bool,
    /// The connection rules (`--loopback`, `--exclude`, ...), decided at
    /// `connect()` and `listen()` ([`super::swap`]).
    pub rules: Rules,
}

/// How supervision ended: the program's status and what was decided for
/// each process (for `run --report`).
#[derive(Debug)]
pub struct Supervised {
    pub status: ChildStatus,
    pub report: Report,
}

/// Why supervision did not run the program to its end.
#[derive(Debug)]
pub enum SuperviseError {
    /// The engine cannot work on this system (found out in the child,
    /// before exec: the program did not start). `auto` falls back.
    Unsupported(String),
    /// execve failed in the child (the program did not start).
    Exec(io::Error),
    /// Anything else that went wrong before the program started.
    Failed(String),
}

impl fmt::Display for SuperviseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuperviseError::Unsupported(reason) | SuperviseError::Failed(reason) => {
                f.write_str(reason)
            }
            SuperviseError::Exec(error) => write!(f, "exec failed: {error}"),
        }
    }
}

/// Runs the program under the filter and supervises it and everything it
/// starts. Returns the program's status when it ends; processes it left
/// that still use the filter are served from then on by a background
/// supervisor ([`background`]), until the last of them exits.
pub fn supervise(target: &Target<'_>) -> Result<Supervised, SuperviseError> {
    let prepared = Prepared::new(target)?;
    let fprog = prepared.fprog();
    let (ours, theirs) = fd::unix_socket_pair(libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC)
        .map_err(|e| SuperviseError::Failed(format!("cannot create a socket pair: {e}")))?;
    let signals = SupervisorSignals::set_up()
        .map_err(|e| SuperviseError::Failed(format!("cannot set up signal handling: {e}")))?;
    let (child, listener) = spawn::start(&prepared.exec, &fprog, &signals, &ours, theirs)?;

    sync_wake_up(listener.as_fd());
    let mut supervisor = Supervisor {
        listener,
        responder: prepared.responder(target),
    };
    let outcome = supervisor.run(child, &ours, &signals);
    // Counted up to the program's end: the report is written now, also
    // when processes it left go on under a background supervisor.
    let report = supervisor.responder.report.take().unwrap_or_default();
    drop(ours);
    let outcome = outcome.map(|ended| {
        if ended.filter_in_use {
            // Still under the blocked signals: the background supervisor
            // never has a moment where a pending one could end it.
            supervisor.hand_off(target.arg0);
        }
        ended.status
    });
    drop(supervisor);
    drop(signals);
    outcome.map(|status| Supervised { status, report })
}

/// Turns on `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` ([`ffi::set_sync_wake_up`]),
/// best effort: only faster where the kernel supports it. The benchmark
/// measures without it too: [`NO_SYNC_WAKE_UP_VAR`]`=1` leaves it off.
pub(super) fn sync_wake_up(listener: BorrowedFd<'_>) {
    if std::env::var_os(NO_SYNC_WAKE_UP_VAR).is_some_and(|value| value == "1") {
        return;
    }
    let _ = ffi::set_sync_wake_up(listener);
}

/// For `tests/bench-engines.sh` only: `1` measures the seccomp engine
/// without `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`.
pub const NO_SYNC_WAKE_UP_VAR: &str = "MPTCPIZE_RS_BENCH_NO_SYNC_WAKE_UP";

/// What both ways of starting the program (as our child here, or in our
/// place: [`super::in_place`]) prepare before any fork: the filter, the
/// exec's C arrays, and what answering needs to know.
pub(super) struct Prepared {
    notif_size: u16,
    own_netns: Option<respond::NetnsId>,
    pub exec: ExecArgs,
    program: Vec<ffi::sock_filter>,
    arch: filter::Arch,
}

impl Prepared {
    pub fn new(target: &Target<'_>) -> Result<Prepared, SuperviseError> {
        let arch = filter::native().ok_or_else(|| {
            SuperviseError::Unsupported(
                "the seccomp engine supports x86_64 and aarch64 only".into(),
            )
        })?;
        let sizes = ffi::notif_sizes().map_err(|e| {
            SuperviseError::Unsupported(format!("seccomp user notification is not available ({e})"))
        })?;
        let own_netns = respond::netns_id("self").map_err(|e| {
            SuperviseError::Failed(format!("cannot identify our network namespace: {e}"))
        })?;
        // The PIDs in notifications are in our PID namespace; /proc may
        // belong to another (`unshare -p` without a new /proc). Then every
        // lookup by PID could name a stranger: the namespace check fails
        // closed instead.
        let own_netns = super::credentials::proc_is_ours().then_some(own_netns);
        Ok(Prepared {
            notif_size: sizes.seccomp_notif,
            own_netns,
            exec: ExecArgs::new(target)?,
            program: filter::program(
                arch,
                target.refuse_io_uring,
                super::swap::traps(&target.rules),
            ),
            arch,
        })
    }

    /// The filter as `seccomp(2)` takes it; borrows the program.
    pub fn fprog(&self) -> ffi::sock_fprog {
        ffi::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        }
    }

    pub fn responder<'a>(&self, target: &'a Target<'_>) -> Responder<'a> {
        Responder::new(
            self.notif_size,
            self.own_netns,
            target.log.as_ref(),
            target.require_mptcp,
            target.report,
            ConnectRules::new(target.rules, self.arch, super::credentials::own()),
        )
    }
}

/// How the loop of [`Supervisor::run`] ended.
struct Ended {
    /// The program's status.
    status: ChildStatus,
    /// Processes it started still use the filter.
    filter_in_use: bool,
}

/// Whether the listener reports that no task uses the filter any more
/// (Linux 5.8+; without waiting). The task of a process that has been
/// reaped is released by then, so right after the program's `waitpid`
/// this is exact for the common case of a program that left nothing.
fn hung_up(listener: BorrowedFd<'_>) -> bool {
    let mut fds = [poll_entry(listener)];
    // SAFETY: poll over our one-element array of pollfd, without waiting.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    rc > 0 && fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

struct Supervisor<'a> {
    listener: OwnedFd,
    responder: Responder<'a>,
}

impl Supervisor<'_> {
    /// The loop: serve notifications, forward signals, until the program
    /// has ended and been reaped. Processes it left may still use the
    /// filter then: see [`Supervisor::hand_off`].
    fn run(
        &mut self,
        mut child: Child,
        pair: &OwnedFd,
        signals: &SupervisorSignals,
    ) -> Result<Ended, SuperviseError> {
        let mut exec_pending = true;
        let mut exec_error = None;
        while child.status.is_none() {
            let mut fds = [
                poll_entry(self.listener.as_fd()),
                poll_entry(signals.signalfd().as_fd()),
                poll_entry_opt(child.pidfd.as_ref()),
                poll_entry_opt(exec_pending.then_some(pair)),
            ];
            // SAFETY: poll over our array of pollfd; negative fds are ignored.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if rc < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Should not happen; without poll we can only wait.
                self.responder
                    .say(&format!("poll failed ({error}); waiting for the program"));
                child.reap(true);
                break;
            }
            if fds[3].revents != 0 {
                exec_pending = false;
                exec_error = spawn::exec_failure(pair);
            }
            if fds[1].revents != 0 {
                // Terminal signals (Ctrl-C, Ctrl-\, hangup) reach the whole
                // process group, the child included: forwarding them would
                // deliver them twice.
                for received in signals.pending() {
                    if received.to_forward() {
                        child.signal(received.signal);
                    }
                }
            }
            if fds[0].revents & libc::POLLIN != 0 {
                self.responder.answer_one(self.listener.as_fd());
            } else if fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                // No task uses the filter any more, so the child has exited
                // too (recent kernels release a task's filter when it
                // exits, older ones when it is reaped): reap it, or learn
                // that it was (without a pidfd, the only way to know).
                child.reap(true);
            }
            if fds[2].revents != 0 {
                child.reap(false);
            }
        }
        // The child is dead, so the pair is readable now (a message or end
        // of file) if its news has not been read yet.
        if exec_pending && let Some(error) = spawn::exec_failure(pair) {
            exec_error = Some(error);
        }
        if let Some(error) = exec_error {
            return Err(SuperviseError::Exec(error));
        }
        Ok(Ended {
            status: child
                .status
                .unwrap_or(ChildStatus::Exited(i32::from(exit_code::LAUNCHER_FAILED))),
            filter_in_use: !hung_up(self.listener.as_fd()),
        })
    }

    /// The program has ended, and processes it started still use the
    /// filter: they are served by a background supervisor from now on
    /// ([`background`]), and this process returns the program's status.
    /// If no background process can be made, they are served here, as
    /// long as they live.
    fn hand_off(&mut self, program: &OsStr) {
        let keep = [
            self.listener.as_raw_fd(),
            match self.responder.log {
                Some(LogSink::File(file)) => file.as_raw_fd(),
                _ => -1,
            },
        ];
        match background::detach(&keep, || self.serve_detached()) {
            Ok(pid) => {
                if let Some(log) = self.responder.log {
                    log.write_line(&format!(
                        "{}: {} has exited; processes it started still use the seccomp \
                         filter: the supervisor continues in the background as PID {pid} \
                         until the last of them exits",
                        crate::TOOL_NAME,
                        program.to_string_lossy()
                    ));
                }
            }
            Err(error) => {
                self.responder.say(&format!(
                    "cannot fork a background supervisor ({error}); \
                     waiting for the processes {} left behind",
                    program.to_string_lossy()
                ));
                self.serve_until_hangup();
            }
        }
    }

    /// The background supervisor's life (in the child of the hand-off):
    /// standard error is /dev/null now, so decision lines go only to a log
    /// file; decisions are no longer counted, the report being written.
    fn serve_detached(&mut self) {
        if matches!(self.responder.log, Some(LogSink::Stderr)) {
            self.responder.log = None;
        }
        self.responder.detached = true;
        self.responder.report = None;
        self.serve_until_hangup();
        if let Some(log) = self.responder.log {
            log.write_line(&format!(
                "{}: background supervisor (PID {}): no process uses the filter any more; exiting",
                crate::TOOL_NAME,
                std::process::id()
            ));
        }
    }

    fn serve_until_hangup(&mut self) {
        serve_until_hangup(self.listener.as_fd(), &mut self.responder);
    }
}

/// Answers notifications until no task uses the filter.
pub(super) fn serve_until_hangup(listener: BorrowedFd<'_>, responder: &mut Responder<'_>) {
    loop {
        let mut fds = [poll_entry(listener)];
        // SAFETY: poll over our one-element array of pollfd.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
        if rc < 0 {
            if ffi::errno() == libc::EINTR {
                continue;
            }
            // Should not happen; nothing else to wait with.
            return;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            responder.answer_one(listener);
        } else if fds[0].revents != 0 {
            return;
        }
    }
}

fn poll_entry(fd: BorrowedFd<'_>) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

fn poll_entry_opt(fd: Option<&OwnedFd>) -> libc::pollfd {
    libc::pollfd {
        fd: fd.map_or(-1, AsRawFd::as_raw_fd),
        events: libc::POLLIN,
        revents: 0,
    }
}
