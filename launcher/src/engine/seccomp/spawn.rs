//! Starting the program under the filter: the fork, the child's side up to
//! exec, and what the child tells the supervisor on the way.
//!
//! The filter must be installed by the program's own process (a filter
//! applies to the task that installs it and its descendants), and its
//! listener must end up in the supervisor: so the child installs it and
//! hands the listener over on a socket pair with `SCM_RIGHTS`
//! ([`super::scm_rights`]). The child also reports, with a tag and an
//! errno, the step that failed, so that `run` can tell an engine this
//! kernel cannot support (`auto` falls back to LD_PRELOAD) from a program
//! that cannot be executed:
//!
//! ```text
//! "L" + listener   the filter is installed; exec comes next
//! "N" errno        no_new_privs could not be set      (unsupported)
//! "S" errno        the filter could not be installed  (unsupported)
//! "A" errno        no SECCOMP_ADDFD_FLAG_SEND         (unsupported)
//! "E" errno        execve failed (after "L")
//! end of file      exec succeeded (the pair is close-on-exec)
//! ```
//!
//! Between fork and exec the child only makes system calls (no allocation,
//! no locks): everything it needs (C strings, argv/envp arrays, the filter)
//! is prepared before the fork, and mptcpize-rs is single-threaded then.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::child::{Child, SupervisorSignals};
use super::ffi;
use super::scm_rights::{self, Message};
use super::supervisor::{SuperviseError, Target};
use crate::exit_code;

/// Messages from the child on the socket pair: a tag byte and an errno.
const MSG_LISTENER: u8 = b'L';
pub(super) const MSG_NO_NEW_PRIVS: u8 = b'N';
pub(super) const MSG_FILTER: u8 = b'S';
pub(super) const MSG_ADDFD_SEND: u8 = b'A';
const MSG_EXEC: u8 = b'E';

/// The environment and arguments as C arrays, built before the fork.
pub struct ExecArgs {
    path: CString,
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl ExecArgs {
    pub fn new(target: &Target<'_>) -> Result<ExecArgs, SuperviseError> {
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                SuperviseError::Failed("an argument or variable contains a NUL byte".into())
            })
        };
        let variable =
            |name: &[u8], value: &OsStr| c_string(&[name, b"=", value.as_bytes()].concat());
        let path = c_string(target.path.as_os_str().as_bytes())?;
        let mut args = vec![c_string(target.arg0.as_bytes())?];
        for arg in target.args {
            args.push(c_string(arg.as_bytes())?);
        }
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            if target.env.iter().any(|(set, _)| OsStr::new(set) == name) {
                continue;
            }
            env.push(variable(name.as_bytes(), &value)?);
        }
        for (name, value) in target.env {
            env.push(variable(name.as_bytes(), value)?);
        }
        let pointers = |strings: &[CString]| {
            let mut array: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
            array.push(std::ptr::null());
            array
        };
        let argv = pointers(&args);
        let envp = pointers(&env);
        // The pointers point into the CStrings' heap buffers, which do not
        // move when the CStrings are moved into `_strings`.
        let mut strings = args;
        strings.extend(env);
        Ok(ExecArgs {
            path,
            _strings: strings,
            argv,
            envp,
        })
    }

    /// `execve` of the program; returns only on failure, with its errno.
    /// Async-signal-safe: no allocation, only the system call.
    pub fn execve(&self) -> i32 {
        // SAFETY: NUL-terminated strings and NULL-terminated arrays built
        // in `new`, alive as long as `self`.
        unsafe { libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        ffi::errno()
    }
}

/// Forks the child that installs `filter` and execs the program, and waits
/// for its listener. `ours` and `theirs` are the two ends of the socket
/// pair (SEQPACKET, close-on-exec); the child's end is closed here once it
/// has its copy. On failure the child has been reaped.
pub fn start(
    exec: &ExecArgs,
    filter: &ffi::sock_fprog,
    signals: &SupervisorSignals,
    ours: &OwnedFd,
    theirs: OwnedFd,
) -> Result<(Child, OwnedFd), SuperviseError> {
    // SAFETY: mptcpize-rs is single-threaded here, so the child gets a
    // consistent copy; the child only runs `child_after_fork`, which makes
    // async-signal-safe system calls and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SuperviseError::Failed(format!(
            "cannot fork: {}",
            io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        child_after_fork(signals, ours.as_raw_fd(), theirs.as_raw_fd(), filter, exec);
    }
    drop(theirs);
    let child = Child::new(pid);
    match receive_listener(ours) {
        Ok(listener) => Ok((child, listener)),
        Err(error) => {
            child.reap_blocking();
            Err(error)
        }
    }
}

/// The child's side, between fork and exec: only async-signal-safe system
/// calls on data prepared before the fork. Never returns.
fn child_after_fork(
    signals: &SupervisorSignals,
    parent_end: RawFd,
    report: RawFd,
    filter: &ffi::sock_fprog,
    exec: &ExecArgs,
) -> ! {
    // SAFETY: close of the parent's end, which is ours to close in the child.
    unsafe { libc::close(parent_end) };
    signals.restore_in_child();
    let listener = match install_filter(filter) {
        Ok(fd) => fd,
        Err((tag, errno)) => child_fail(report, tag, errno),
    };
    if scm_rights::send_fd(report, MSG_LISTENER, listener).is_err() {
        // The parent is gone or broken; there is nobody to serve us.
        // SAFETY: _exit ends the child at once, as intended.
        unsafe { libc::_exit(i32::from(exit_code::LAUNCHER_FAILED)) };
    }
    // SAFETY: close of the listener; the parent has its copy.
    unsafe { libc::close(listener) };
    // The arrays were built before the fork and live in the child's copy.
    let errno = exec.execve();
    child_fail(report, MSG_EXEC, errno)
}

/// In this process: `no_new_privs`, the filter with its listener, and the
/// `SECCOMP_ADDFD_FLAG_SEND` probe. The listener, or the step that failed
/// (its message tag, see the module's documentation) and its errno; after
/// a failure the steps before it stay done. Async-signal-safe.
pub(super) fn install_filter(filter: &ffi::sock_fprog) -> Result<RawFd, (u8, i32)> {
    ffi::set_no_new_privs().map_err(|errno| (MSG_NO_NEW_PRIVS, errno))?;
    let listener =
        ffi::install_filter_with_listener(filter).map_err(|errno| (MSG_FILTER, errno))?;
    if let Err(errno) = ffi::addfd_send_supported(listener) {
        return Err((MSG_ADDFD_SEND, errno));
    }
    Ok(listener)
}

/// Why the engine cannot work here, from the step of [`install_filter`]
/// that failed.
pub(super) fn unsupported(tag: u8, errno: i32) -> SuperviseError {
    let error = io::Error::from_raw_os_error(errno);
    SuperviseError::Unsupported(match tag {
        MSG_NO_NEW_PRIVS => format!("cannot set no_new_privs: {error}"),
        MSG_FILTER => {
            format!("cannot install a seccomp filter with a notification listener: {error}")
        }
        _ => format!("the kernel is too old for SECCOMP_ADDFD_FLAG_SEND (Linux 5.14+): {error}"),
    })
}

/// Reports `tag` and `errno` to the parent and exits. Async-signal-safe.
fn child_fail(report: RawFd, tag: u8, errno: i32) -> ! {
    scm_rights::send_errno(report, tag, errno);
    let code = if tag == MSG_EXEC && errno == libc::ENOENT {
        exit_code::NOT_FOUND
    } else {
        exit_code::CANNOT_EXECUTE
    };
    // SAFETY: _exit ends the child at once, as intended.
    unsafe { libc::_exit(i32::from(code)) }
}

/// Waits for the child's first message: the listener, or why there is none.
fn receive_listener(socket: &OwnedFd) -> Result<OwnedFd, SuperviseError> {
    let message = scm_rights::receive(socket)
        .map_err(|e| SuperviseError::Failed(format!("cannot receive the listener: {e}")))?;
    let Some(Message { tag, errno, fd }) = message else {
        return Err(listener_missing());
    };
    match (tag, fd) {
        (MSG_LISTENER, Some(fd)) => Ok(fd),
        (MSG_NO_NEW_PRIVS | MSG_FILTER | MSG_ADDFD_SEND, _) => Err(unsupported(tag, errno)),
        (MSG_EXEC, _) => Err(SuperviseError::Exec(io::Error::from_raw_os_error(errno))),
        _ => Err(listener_missing()),
    }
}

fn listener_missing() -> SuperviseError {
    SuperviseError::Failed("the child exited before handing over the seccomp listener".into())
}

/// After the listener: the exec's outcome, if the pair has news (it is
/// readable once the child has exec'd or died). `Some` only for a failed
/// execve; end of file means the exec succeeded.
pub fn exec_failure(pair: &OwnedFd) -> Option<io::Error> {
    match scm_rights::receive(pair) {
        Ok(Some(Message {
            tag: MSG_EXEC,
            errno,
            ..
        })) => Some(io::Error::from_raw_os_error(errno)),
        _ => None,
    }
}
