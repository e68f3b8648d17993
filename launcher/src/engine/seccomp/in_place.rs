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
//!   │                   tries no_new_privs,      detach: own session, stdin and
//!   │                   the filter, the          stdout on /dev/null (stderr too
//!   │                   ADDFD probe              unless it is the log), signals
//!   │ recv "T" <─────── send "T" (or why not)    ignored, other fds closed
//!   │ waitpid           _exit(0)
//!   │ recv "R" <───────────────────────────────── send "R" + its PID (ready)
//!   │ PR_SET_PTRACER(supervisor)
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
//! The intermediate process, which exits anyway, first tries on itself the
//! steps this process then takes (`no_new_privs`, the filter, the
//! `SECCOMP_ADDFD_FLAG_SEND` probe): a system that cannot do them (Linux <
//! 5.14, an outer notification listener) is found out while nothing has
//! changed here, and `auto` falls back to the preload engine. Where
//! mptcpize-rs is PID 1 or a child subreaper, it would adopt the
//! supervisor itself: `--keep-pid` is refused there (`auto`: preload).

use std::convert::Infallible;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::log::LogSink;
use super::scm_rights::{self, Message};
use super::supervisor::{self, Prepared, SuperviseError, Target};
use super::{background, ffi, spawn};
use crate::kernel::fd;
use crate::run::signals;

/// The supervisor to this process: ready for the listener (with its PID).
const MSG_READY: u8 = b'R';
/// This process to the supervisor: the listener (`SCM_RIGHTS`).
const MSG_LISTENER: u8 = b'L';
/// The intermediate process to this one: the steps worked there (else
/// the failed step's tag from [`spawn::install_filter`]).
const MSG_TRIED: u8 = b'T';

/// Execs the program in this process under the filter, its supervisor
/// started beside it. Returns only on failure.
pub fn exec_in_place(target: &Target<'_>) -> SuperviseError {
    match try_exec(target) {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

fn try_exec(target: &Target<'_>) -> Result<Infallible, SuperviseError> {
    check_not_a_reaper()?;
    let prepared = Prepared::new(target)?;
    let fprog = prepared.fprog();
    let (ours, theirs) = fd::unix_socket_pair(libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC)
        .map_err(|e| SuperviseError::Failed(format!("cannot create a socket pair: {e}")))?;
    let supervisor = start_supervisor(&prepared, target, &fprog, &ours, theirs)?;
    allow_tracing_by(supervisor);
    // The intermediate process did the same steps: from here a failure is
    // not expected, and the steps done cannot be undone.
    let listener = spawn::install_filter(&fprog).map_err(|(tag, errno)| {
        SuperviseError::Failed(format!(
            "{} (after the same steps succeeded in a test process)",
            spawn::unsupported(tag, errno)
        ))
    })?;
    // SAFETY: the listener was just created and is owned by nothing else.
    let listener = unsafe { OwnedFd::from_raw_fd(listener) };
    scm_rights::send_fd(ours.as_raw_fd(), MSG_LISTENER, listener.as_raw_fd()).map_err(|errno| {
        SuperviseError::Failed(format!(
            "cannot hand the listener to the supervisor: {}",
            io::Error::from_raw_os_error(errno)
        ))
    })?;
    drop(listener);
    // mptcpize-rs ignores SIGPIPE for itself, and an ignored signal stays
    // ignored across exec: the program gets it as mptcpize-rs was given it.
    signals::restore_inherited_sigpipe();
    let errno = prepared.exec.execve();
    Err(SuperviseError::Exec(io::Error::from_raw_os_error(errno)))
}

/// Lets the supervisor read this process's memory and copy its
/// descriptors (`process_vm_readv`, `pidfd_getfd`: what a connect-time swap
/// needs) where Yama's `ptrace_scope` is 1: the supervisor is not an
/// ancestor of the program here, so an unprivileged one would be refused.
/// `PR_SET_PTRACER` names it; Yama keeps the relation across `execve` (it
/// is dropped when either process exits). Best effort: without Yama the
/// call fails with EINVAL and nothing is needed; with `ptrace_scope` 2 or
/// 3 it does not help, and sockets the rules make TCP stay MPTCP.
fn allow_tracing_by(supervisor: u32) {
    if supervisor == 0 {
        return;
    }
    // SAFETY: prctl with integer arguments, on this process only.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, supervisor as libc::c_ulong, 0, 0, 0) };
}

/// The supervisor, forked twice, is adopted by the nearest subreaper: if
/// that is this process (PID 1 of a PID namespace, or a child subreaper),
/// it would be the program's child after all, and a program that waits
/// for all its children would wait for it forever.
fn check_not_a_reaper() -> Result<(), SuperviseError> {
    let mut subreaper: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes an int through the pointer.
    let is_subreaper = unsafe {
        libc::prctl(
            libc::PR_GET_CHILD_SUBREAPER,
            &mut subreaper as *mut libc::c_int,
        )
    } == 0
        && subreaper != 0;
    if std::process::id() == 1 || is_subreaper {
        return Err(SuperviseError::Unsupported(
            "with --keep-pid the supervisor must not be the program's child, and here \
             mptcpize-rs is PID 1 (or a child subreaper), which would adopt it: run \
             without --keep-pid"
                .into(),
        ));
    }
    Ok(())
}

/// Forks the supervisor (twice: see the module's documentation); the
/// intermediate process, which exits anyway, tries the steps this process
/// is about to take (`no_new_privs`, the filter, the ADDFD probe), so that
/// a system that cannot do them is found out while nothing is changed
/// here. Waits until the supervisor is ready for the listener; returns its
/// PID (its "ready" message carries it).
fn start_supervisor(
    prepared: &Prepared,
    target: &Target<'_>,
    fprog: &ffi::sock_fprog,
    ours: &OwnedFd,
    theirs: OwnedFd,
) -> Result<u32, SuperviseError> {
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
        let (tag, errno) = match spawn::install_filter(fprog) {
            Ok(_) => (MSG_TRIED, 0),
            Err(failed) => failed,
        };
        scm_rights::send_errno(theirs.as_raw_fd(), tag, errno);
        // SAFETY: _exit ends the intermediate at once; its parent reaps it.
        unsafe { libc::_exit(0) }
    }
    drop(theirs);
    let mut status = 0;
    // SAFETY: waitpid on our own child with a pointer to a local.
    while unsafe { libc::waitpid(intermediate, &mut status, 0) } < 0 && ffi::errno() == libc::EINTR
    {
    }
    // Two messages, in either order: the intermediate's outcome and the
    // supervisor's "ready". End of file: one of them never came.
    let (mut ready, mut tried) = (None, None);
    while ready.is_none() || tried.is_none() {
        match scm_rights::receive(ours) {
            Ok(Some(Message {
                tag: MSG_READY,
                errno: pid,
                ..
            })) => ready = Some(pid as u32),
            Ok(Some(Message { tag: MSG_TRIED, .. })) => tried = Some(Ok(())),
            Ok(Some(Message { tag, errno, .. })) => tried = Some(Err((tag, errno))),
            _ => break,
        }
    }
    match (tried, ready) {
        (Some(Err((tag, errno))), _) => Err(spawn::unsupported(tag, errno)),
        (Some(Ok(())), Some(pid)) => Ok(pid),
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
    // The errno field carries our PID, for PR_SET_PTRACER.
    scm_rights::send_errno(pair.as_raw_fd(), MSG_READY, std::process::id() as i32);
    if let Ok(Some(Message {
        tag: MSG_LISTENER,
        fd: Some(listener),
        ..
    })) = scm_rights::receive(pair)
    {
        supervisor::sync_wake_up(listener.as_fd());
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
