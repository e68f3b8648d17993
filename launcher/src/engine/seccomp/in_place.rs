//! `run --keep-pid` with the seccomp engine: the program takes this
//! process's place, as an exec does (same PID, parent, session and file
//! descriptors), and the supervisor runs beside it in a process of its own.
//!
//! This is how a service runs under the engine (`enable --engine
//! seccomp`): systemd's main process is the program itself, so what systemd
//! sends it (stop, `systemctl reload` with `kill -HUP $MAINPID`,
//! `systemctl kill`) reaches the program, its `sd_notify` messages come from
//! the main PID (the default `NotifyAccess=main` accepts them), and its
//! exit status is the service's, exactly as without mptcpize-rs.
//!
//! ```text
//! mptcpize-rs ──fork──> intermediate ──fork──> supervisor
//!   │                     _exit(0)               detach: own session, stdin and
//!   │ waitpid(intermediate)                       stdout on /dev/null, stderr too
//!   │                                             unless it is the log, forwarded
//!   │                                             signals ignored, other fds closed
//!   │ recv "R" <───────────────────────────────── send "R" (ready)
//!   │ no_new_privs, install filter,
//!   │ probe SECCOMP_ADDFD_FLAG_SEND
//!   │ send "L" + listener ──────────────────────> recv the listener
//!   │ execve(PROG): PROG has this PID            answer notifications until no
//!   ▼                                            process uses the filter, _exit
//! ```
//!
//! Forked before the filter is installed, the supervisor is not under it.
//! It is forked twice so that it is never the program's child: a program
//! that waits for all its children (`wait()` until ECHILD) must not wait
//! for it, nor reap it. It is adopted by the nearest subreaper (the service
//! manager). It ignores every signal that would end it but SIGKILL and the
//! faults of a bug (a stop sends SIGTERM to every process of the service
//! with systemd's default `KillMode=control-group`; `systemctl kill` any
//! signal) and leaves when the last process under the filter has exited;
//! SIGKILL at the end of a stop timeout ends it with the rest.
//!
//! Until the filter is installed a failure changes nothing (`auto` falls
//! back to the preload engine); after, the filter stays in this process,
//! so a failure (a kernel without `SECCOMP_ADDFD_FLAG_SEND`, Linux < 5.14)
//! stops `run` with an error instead.

use std::convert::Infallible;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::log::LogSink;
use super::scm_rights::{self, Message};
use super::supervisor::{self, Prepared, SuperviseError, Target};
use super::{background, ffi};
use crate::kernel::fd;
use crate::run::signals;

/// The supervisor to this process: ready for the listener.
const MSG_READY: u8 = b'R';
/// This process to the supervisor: the listener (`SCM_RIGHTS`).
const MSG_LISTENER: u8 = b'L';

/// Execs the program in this process under the filter, its supervisor
/// started beside it. Returns only on failure.
pub fn exec_in_place(target: &Target<'_>) -> SuperviseError {
    match try_exec(target) {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

fn try_exec(target: &Target<'_>) -> Result<Infallible, SuperviseError> {
    let prepared = Prepared::new(target)?;
    let fprog = prepared.fprog();
    let (ours, theirs) = fd::unix_socket_pair(libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC)
        .map_err(|e| SuperviseError::Failed(format!("cannot create a socket pair: {e}")))?;
    start_supervisor(&prepared, target, &ours, theirs)?;
    let os_error = |errno| io::Error::from_raw_os_error(errno);
    ffi::set_no_new_privs().map_err(|errno| {
        SuperviseError::Unsupported(format!("cannot set no_new_privs: {}", os_error(errno)))
    })?;
    let listener = ffi::install_filter_with_listener(&fprog).map_err(|errno| {
        SuperviseError::Unsupported(format!(
            "cannot install a seccomp filter with a notification listener: {}",
            os_error(errno)
        ))
    })?;
    // SAFETY: the listener was just created and is owned by nothing else.
    let listener = unsafe { OwnedFd::from_raw_fd(listener) };
    // From here the filter is installed: no other engine can be tried.
    if let Err(errno) = ffi::addfd_send_supported(listener.as_raw_fd()) {
        return Err(SuperviseError::Failed(format!(
            "the kernel is too old for SECCOMP_ADDFD_FLAG_SEND (Linux 5.14+): {}",
            os_error(errno)
        )));
    }
    scm_rights::send_fd(ours.as_raw_fd(), MSG_LISTENER, listener.as_raw_fd()).map_err(|errno| {
        SuperviseError::Failed(format!(
            "cannot hand the listener to the supervisor: {}",
            os_error(errno)
        ))
    })?;
    drop(listener);
    // mptcpize-rs ignores SIGPIPE for itself, and an ignored signal stays
    // ignored across exec: the program gets it as mptcpize-rs was given it.
    signals::restore_inherited_sigpipe();
    let errno = prepared.exec.execve();
    Err(SuperviseError::Exec(os_error(errno)))
}

/// Forks the supervisor (twice: see the module's documentation) and waits
/// until it is ready for the listener.
fn start_supervisor(
    prepared: &Prepared,
    target: &Target<'_>,
    ours: &OwnedFd,
    theirs: OwnedFd,
) -> Result<(), SuperviseError> {
    let program_pid = std::process::id();
    // SAFETY: mptcpize-rs is single-threaded here, so both children get a
    // consistent copy of the memory and may run ordinary Rust code.
    let intermediate = unsafe { libc::fork() };
    if intermediate < 0 {
        return Err(SuperviseError::Failed(format!(
            "cannot fork the supervisor: {}",
            io::Error::last_os_error()
        )));
    }
    if intermediate == 0 {
        // SAFETY: as above; the intermediate is single-threaded too.
        if unsafe { libc::fork() } == 0 {
            serve_beside(prepared, target, &theirs, program_pid);
        }
        // SAFETY: _exit ends the intermediate at once; its parent reaps it.
        unsafe { libc::_exit(0) }
    }
    drop(theirs);
    let mut status = 0;
    // SAFETY: waitpid on our own child with a pointer to a local.
    while unsafe { libc::waitpid(intermediate, &mut status, 0) } < 0 && ffi::errno() == libc::EINTR
    {
    }
    match scm_rights::receive(ours) {
        Ok(Some(Message { tag: MSG_READY, .. })) => Ok(()),
        _ => Err(SuperviseError::Failed(
            "the supervisor process did not start".into(),
        )),
    }
}

/// The supervisor's life: detach, say it is ready, take the listener and
/// answer until no process uses the filter. Never returns.
fn serve_beside(prepared: &Prepared, target: &Target<'_>, pair: &OwnedFd, program_pid: u32) -> ! {
    let log_file = match &target.log {
        Some(LogSink::File(file)) => file.as_raw_fd(),
        _ => -1,
    };
    let log_on_stderr = matches!(target.log, Some(LogSink::Stderr));
    background::detach_self(&[pair.as_raw_fd(), log_file], log_on_stderr);
    scm_rights::send_errno(pair.as_raw_fd(), MSG_READY, 0);
    if let Ok(Some(Message {
        tag: MSG_LISTENER,
        fd: Some(listener),
        ..
    })) = scm_rights::receive(pair)
    {
        // Best effort: only faster where the kernel supports it.
        let _ = ffi::set_sync_wake_up(listener.as_fd());
        let mut responder = prepared.responder(target);
        responder.detached = true;
        responder.report = None;
        if let Some(log) = responder.log {
            log.write_line(&format!(
                "{}: supervisor (PID {}) for {} (PID {program_pid}), which keeps its PID",
                crate::TOOL_NAME,
                std::process::id(),
                target.arg0.to_string_lossy()
            ));
        }
        supervisor::serve_until_hangup(listener.as_fd(), &mut responder);
        if let Some(log) = responder.log {
            log.write_line(&format!(
                "{}: supervisor (PID {}): no process uses the filter any more; exiting",
                crate::TOOL_NAME,
                std::process::id()
            ));
        }
    }
    // SAFETY: _exit ends the supervisor; nothing of the caller's is dropped.
    unsafe { libc::_exit(0) }
}
