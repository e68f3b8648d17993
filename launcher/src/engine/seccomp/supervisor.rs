//! The supervisor: starts the program under the filter and answers its
//! `socket()` notifications until no process uses the filter any more.
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
//! Between fork and exec the child only makes system calls (no allocation,
//! no locks): everything it needs (C strings, argv/envp arrays, the filter)
//! is prepared before the fork, and mptcpize-rs is single-threaded then
//! (and still when the background supervisor is forked).

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::credentials::{self, FsIds};
use super::ffi::{self, NotifBuffer};
use super::{background, filter};
use crate::exit_code::{self, ChildStatus};
use crate::kernel::fd;
use crate::run::report::{self, Report};
use crate::run::signals::{self, DefaultDisposition, ForwardedSignals, Received};

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
}

/// How supervision ended: the program's status and what was decided for
/// each process (for `run --report`).
#[derive(Debug)]
pub struct Supervised {
    pub status: ChildStatus,
    pub report: Report,
}

/// Where the decision lines go: the same rules as the shim's log.
#[derive(Debug)]
pub enum LogSink {
    /// Standard error (only used while it is open and not a socket).
    Stderr,
    /// A file opened for appending (`MPTCPIZE_RS_LOG`).
    File(std::fs::File),
}

impl LogSink {
    /// The sink for `debug` and `MPTCPIZE_RS_LOG` (which implies debug), as
    /// the shim chooses: the file if set and openable, else standard error
    /// if debugging and fd 2 is open and not a socket.
    pub fn choose(debug: bool, log_file: Option<&OsStr>) -> Option<LogSink> {
        let stderr_ok = std::fs::metadata("/proc/self/fd/2")
            .map(|meta| {
                use std::os::unix::fs::FileTypeExt;
                !meta.file_type().is_socket()
            })
            .unwrap_or(false);
        if let Some(path) = log_file.filter(|p| !p.is_empty()) {
            // The shim's rules: no symlink followed, no FIFO waited for.
            match crate::run::output_file::open_log(Path::new(path)) {
                Ok(file) => return Some(LogSink::File(file)),
                Err(error) if stderr_ok => {
                    let _ = writeln!(
                        io::stderr(),
                        "{}",
                        crate::run::output_file::log_refusal(&error)
                    );
                }
                Err(_) => {}
            }
        }
        ((debug || log_file.is_some()) && stderr_ok).then_some(LogSink::Stderr)
    }

    /// One line in one write; errors are ignored.
    pub fn write_line(&self, line: &str) {
        let line = format!("{line}\n");
        let _ = match self {
            LogSink::Stderr => io::stderr().write_all(line.as_bytes()),
            LogSink::File(file) => {
                let mut writer: &std::fs::File = file;
                writer.write_all(line.as_bytes())
            }
        };
    }
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

/// Messages from the child on the socket pair: a tag byte and an errno.
const MSG_LISTENER: u8 = b'L';
const MSG_NO_NEW_PRIVS: u8 = b'N';
const MSG_FILTER: u8 = b'S';
const MSG_ADDFD_SEND: u8 = b'A';
const MSG_EXEC: u8 = b'E';

/// Runs the program under the filter and supervises it and everything it
/// starts. Returns the program's status when it ends; processes it left
/// that still use the filter are served from then on by a background
/// supervisor ([`background`]), until the last of them exits.
pub fn supervise(target: &Target<'_>) -> Result<Supervised, SuperviseError> {
    let arch = filter::native().ok_or_else(|| {
        SuperviseError::Unsupported("the seccomp engine supports x86_64 and aarch64 only".into())
    })?;
    let sizes = ffi::notif_sizes().map_err(|e| {
        SuperviseError::Unsupported(format!("seccomp user notification is not available ({e})"))
    })?;
    let own_netns = netns_id("self").map_err(|e| {
        SuperviseError::Failed(format!("cannot identify our network namespace: {e}"))
    })?;
    let exec = ExecArgs::new(target)?;
    let program = filter::socket_filter(arch);
    let fprog = ffi::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    let (ours, theirs) = fd::unix_socket_pair(libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC)
        .map_err(|e| SuperviseError::Failed(format!("cannot create a socket pair: {e}")))?;
    let signals = SupervisorSignals::set_up()
        .map_err(|e| SuperviseError::Failed(format!("cannot set up signal handling: {e}")))?;

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
        child_after_fork(
            &signals,
            ours.as_raw_fd(),
            theirs.as_raw_fd(),
            &fprog,
            &exec,
        );
    }
    drop(theirs);
    let child = Child::new(pid);

    let listener = match receive_listener(&ours) {
        Ok(listener) => listener,
        Err(error) => {
            child.reap_blocking();
            return Err(error);
        }
    };
    // Best effort: only faster where the kernel supports it.
    let _ = ffi::set_sync_wake_up(listener.as_fd());
    let mut supervisor = Supervisor {
        listener,
        detached: false,
        buffer: NotifBuffer::new(sizes.seccomp_notif),
        own_netns,
        log: target.log.as_ref(),
        require_mptcp: target.require_mptcp,
        refusal_explained: false,
        report: target.report.then(Report::default),
        own_ids: credentials::own(),
    };
    let outcome = supervisor.run(child, &ours, &signals);
    // Counted up to the program's end: the report is written now, also
    // when processes it left go on under a background supervisor.
    let report = supervisor.report.take().unwrap_or_default();
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

/// The environment and arguments as C arrays, built before the fork.
struct ExecArgs {
    path: CString,
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl ExecArgs {
    fn new(target: &Target<'_>) -> Result<ExecArgs, SuperviseError> {
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                SuperviseError::Failed("an argument or variable contains a NUL byte".into())
            })
        };
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
            env.push(c_string(
                &[name.as_bytes(), b"=", value.as_bytes()].concat(),
            )?);
        }
        for (name, value) in target.env {
            env.push(c_string(
                &[name.as_bytes(), b"=", value.as_bytes()].concat(),
            )?);
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
}

/// The child's side, between fork and exec: only async-signal-safe system
/// calls on data prepared before the fork. Never returns.
fn child_after_fork(
    signals: &SupervisorSignals,
    parent_end: RawFd,
    report: RawFd,
    fprog: &ffi::sock_fprog,
    exec: &ExecArgs,
) -> ! {
    // Every unsafe call below is a plain system call on descriptors and
    // memory that are valid in the child (inherited copies of the
    // parent's), and none allocates or takes a lock.
    // SAFETY: as said above.
    unsafe { libc::close(parent_end) };
    signals.restore_in_child();
    if let Err(errno) = ffi::set_no_new_privs() {
        child_fail(report, MSG_NO_NEW_PRIVS, errno);
    }
    let listener = match ffi::install_filter_with_listener(fprog) {
        Ok(fd) => fd,
        Err(errno) => child_fail(report, MSG_FILTER, errno),
    };
    if let Err(errno) = ffi::addfd_send_supported(listener) {
        child_fail(report, MSG_ADDFD_SEND, errno);
    }
    if send_fd(report, MSG_LISTENER, listener).is_err() {
        // The parent is gone or broken; there is nobody to serve us.
        // SAFETY: as said above.
        unsafe { libc::_exit(i32::from(exit_code::LAUNCHER_FAILED)) };
    }
    // SAFETY: as said above.
    unsafe {
        libc::close(listener);
        libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
    }
    let errno = ffi::errno();
    child_fail(report, MSG_EXEC, errno)
}

/// Reports `tag` and `errno` to the parent and exits. Async-signal-safe.
fn child_fail(report: RawFd, tag: u8, errno: i32) -> ! {
    let mut message = [0u8; 5];
    message[0] = tag;
    message[1..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: send of a 5-byte stack buffer, then _exit.
    unsafe {
        libc::send(
            report,
            message.as_ptr().cast(),
            message.len(),
            libc::MSG_NOSIGNAL,
        );
        libc::_exit(i32::from(if tag == MSG_EXEC && errno == libc::ENOENT {
            exit_code::NOT_FOUND
        } else {
            exit_code::CANNOT_EXECUTE
        }))
    }
}

/// Sends one byte `tag` with descriptor `fd` attached (SCM_RIGHTS).
/// Async-signal-safe: everything lives on the stack.
fn send_fd(socket: RawFd, tag: u8, fd: RawFd) -> Result<(), i32> {
    // Room for one cmsghdr carrying one int, 8-byte aligned.
    let mut control = [0u64; 4];
    let mut byte = tag;
    let mut iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain data; zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    // SAFETY: the control buffer (32 bytes) holds CMSG_SPACE(4) = 24 bytes,
    // so the first header and its data are inside it.
    let rc = unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
        libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL)
    };
    if rc < 0 { Err(ffi::errno()) } else { Ok(()) }
}

/// Receives one message: a tag, an optional errno and an optional
/// descriptor. `Ok(None)` at end of file.
fn receive_message(socket: &OwnedFd) -> io::Result<Option<(u8, i32, Option<OwnedFd>)>> {
    let mut control = [0u64; 4];
    let mut data = [0u8; 5];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    let received = loop {
        // SAFETY: msg describes live buffers of the sizes given.
        let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if rc >= 0 {
            break rc as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let mut fd = None;
    // SAFETY: the kernel filled `control` up to msg_controllen; the CMSG
    // macros walk only within it.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
                // The kernel installed this descriptor for us; we own it.
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            header = libc::CMSG_NXTHDR(&msg, header);
        }
    }
    if received == 0 {
        return Ok(None);
    }
    let errno = if received >= 5 {
        i32::from_ne_bytes([data[1], data[2], data[3], data[4]])
    } else {
        0
    };
    Ok(Some((data[0], errno, fd)))
}

/// Waits for the child's first message: the listener, or why there is none.
fn receive_listener(socket: &OwnedFd) -> Result<OwnedFd, SuperviseError> {
    let message = receive_message(socket)
        .map_err(|e| SuperviseError::Failed(format!("cannot receive the listener: {e}")))?;
    let failure = |what: &str, errno: i32| {
        let error = io::Error::from_raw_os_error(errno);
        format!("{what}: {error}")
    };
    match message {
        Some((MSG_LISTENER, _, Some(fd))) => Ok(fd),
        Some((MSG_NO_NEW_PRIVS, errno, _)) => Err(SuperviseError::Unsupported(failure(
            "cannot set no_new_privs",
            errno,
        ))),
        Some((MSG_FILTER, errno, _)) => Err(SuperviseError::Unsupported(failure(
            "cannot install a seccomp filter with a notification listener",
            errno,
        ))),
        Some((MSG_ADDFD_SEND, errno, _)) => Err(SuperviseError::Unsupported(format!(
            "the kernel is too old for SECCOMP_ADDFD_FLAG_SEND (Linux 5.14+): {}",
            io::Error::from_raw_os_error(errno)
        ))),
        Some((MSG_EXEC, errno, _)) => {
            Err(SuperviseError::Exec(io::Error::from_raw_os_error(errno)))
        }
        _ => Err(SuperviseError::Failed(
            "the child exited before handing over the seccomp listener".into(),
        )),
    }
}

/// Device and inode of `/proc/PID/ns/net`: equal means same namespace.
fn netns_id(pid: &str) -> io::Result<(u64, u64)> {
    let meta = std::fs::metadata(format!("/proc/{pid}/ns/net"))?;
    Ok((meta.dev(), meta.ino()))
}

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

    /// In the child: the mask and SIGCHLD as inherited, and SIGPIPE at its
    /// default (Rust ignores it in mptcpize-rs; std's exec resets it the
    /// same way). Async-signal-safe.
    pub fn restore_in_child(&self) {
        self.sigchld.restore();
        signals::reset_to_default(libc::SIGPIPE);
        self.forwarded.previous_mask().restore();
    }
}

/// The direct child: its PID, a pidfd (readable once it exits, and safe to
/// signal: it can never name a recycled PID), and its status once reaped.
struct Child {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    status: Option<ChildStatus>,
}

impl Child {
    fn new(pid: libc::pid_t) -> Child {
        Child {
            pid,
            // The child is not reaped yet, so the PID is still it.
            pidfd: fd::pidfd_open(pid).ok(),
            status: None,
        }
    }

    /// Reaps the child if it has exited (`block`: wait for it).
    fn reap(&mut self, block: bool) {
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

    fn reap_blocking(mut self) {
        self.reap(true);
    }

    fn signal(&self, signal: i32) {
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

/// What the supervisor did with one `socket()` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Installed an MPTCP socket as this descriptor in the target.
    Converted(RawFd),
    /// MPTCP could not be created (errno): the kernel made the TCP socket.
    FellBack(i32),
    /// The caller is in another network namespace: the kernel made it.
    OtherNamespace,
    /// Its network namespace could not be read (errno): the kernel made it.
    NamespaceUnknown(i32),
    /// Installing the socket failed (errno): the kernel made the call.
    AddFdFailed(i32),
    /// The caller went away (exited, or a signal interrupted the call).
    CallerGone,
    /// MPTCP could not be created (errno) and `--require-mptcp` is on: the
    /// caller's `socket()` failed with that errno.
    Refused(i32),
}

impl Decision {
    /// How `run --report` counts it (a caller that went away: not at all).
    fn counted(self) -> Option<report::Decision> {
        match self {
            Decision::Converted(_) => Some(report::Decision::Converted),
            Decision::FellBack(errno)
            | Decision::NamespaceUnknown(errno)
            | Decision::AddFdFailed(errno) => Some(report::Decision::Fallback(errno)),
            Decision::OtherNamespace => Some(report::Decision::Fallback(0)),
            Decision::Refused(errno) => Some(report::Decision::Refused(errno)),
            Decision::CallerGone => None,
        }
    }
}

/// Formats one decision line like the shim's (pure, unit-tested).
pub fn format_decision(
    pid: u32,
    domain: i32,
    ty: i32,
    protocol: i32,
    decision: Decision,
) -> String {
    let domain = match domain {
        libc::AF_INET => "AF_INET".to_string(),
        libc::AF_INET6 => "AF_INET6".to_string(),
        other => other.to_string(),
    };
    let mut kind = match ty & 0xf {
        libc::SOCK_STREAM => "SOCK_STREAM".to_string(),
        other => other.to_string(),
    };
    if ty & libc::SOCK_NONBLOCK != 0 {
        kind.push_str("|SOCK_NONBLOCK");
    }
    if ty & libc::SOCK_CLOEXEC != 0 {
        kind.push_str("|SOCK_CLOEXEC");
    }
    let call = format!(
        "{}[{pid}]: socket({domain}, {kind}, {protocol})",
        crate::TOOL_NAME
    );
    match decision {
        Decision::Converted(fd) => format!("{call} -> {fd}: converted to MPTCP (seccomp)"),
        Decision::FellBack(errno) => {
            format!("{call}: fell back to TCP (MPTCP failed with errno {errno}) (seccomp)")
        }
        Decision::OtherNamespace => {
            format!("{call}: left as TCP (caller is in another network namespace) (seccomp)")
        }
        Decision::NamespaceUnknown(errno) => format!(
            "{call}: left as TCP (cannot read the caller's network namespace: errno {errno}) (seccomp)"
        ),
        Decision::AddFdFailed(errno) => {
            format!(
                "{call}: left as TCP (installing the MPTCP socket failed with errno {errno}) (seccomp)"
            )
        }
        Decision::CallerGone => format!("{call}: caller exited or was interrupted (seccomp)"),
        Decision::Refused(errno) => format!(
            "{call}: refused: MPTCP failed with errno {errno} and MPTCP is required (seccomp)"
        ),
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
    /// In the background supervisor (after [`Supervisor::hand_off`]).
    detached: bool,
    buffer: NotifBuffer,
    own_netns: (u64, u64),
    log: Option<&'a LogSink>,
    require_mptcp: bool,
    refusal_explained: bool,
    report: Option<Report>,
    /// Our filesystem ids; as root we make sockets with the caller's.
    own_ids: FsIds,
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
                self.say(&format!("poll failed ({error}); waiting for the program"));
                child.reap(true);
                break;
            }
            if fds[3].revents != 0 {
                exec_pending = false;
                if let Ok(Some((MSG_EXEC, errno, _))) = receive_message(pair) {
                    exec_error = Some(io::Error::from_raw_os_error(errno));
                }
            }
            if fds[1].revents != 0 {
                for received in signals.pending() {
                    // Terminal signals (Ctrl-C, Ctrl-\, hangup) reach the
                    // whole process group, the child included: forwarding
                    // them would deliver them twice.
                    if received.to_forward() {
                        child.signal(received.signal);
                    }
                }
            }
            if fds[0].revents & libc::POLLIN != 0 {
                self.answer_one();
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
        if exec_pending && let Ok(Some((MSG_EXEC, errno, _))) = receive_message(pair) {
            exec_error = Some(io::Error::from_raw_os_error(errno));
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
            match self.log {
                Some(LogSink::File(file)) => file.as_raw_fd(),
                _ => -1,
            },
        ];
        match background::detach(&keep, || self.serve_detached()) {
            Ok(pid) => {
                if let Some(log) = self.log {
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
                self.say(&format!(
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
        if matches!(self.log, Some(LogSink::Stderr)) {
            self.log = None;
        }
        self.detached = true;
        self.report = None;
        self.serve_until_hangup();
        if let Some(log) = self.log {
            log.write_line(&format!(
                "{}: background supervisor (PID {}): no process uses the filter any more; exiting",
                crate::TOOL_NAME,
                std::process::id()
            ));
        }
    }

    /// Answers notifications until no task uses the filter.
    fn serve_until_hangup(&mut self) {
        loop {
            let mut fds = [poll_entry(self.listener.as_fd())];
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
                self.answer_one();
            } else if fds[0].revents != 0 {
                return;
            }
        }
    }

    /// Receives and answers one notification. Failures concern only that
    /// call (its caller went away, most likely) and are not fatal.
    fn answer_one(&mut self) {
        let listener = self.listener.as_fd();
        let notif = match self.buffer.receive(listener) {
            Ok(notif) => notif,
            // ENOENT: the caller went away before we got to it.
            Err(_) => return,
        };
        let domain = notif.data.args[0] as u32 as i32;
        let ty = notif.data.args[1] as u32 as i32;
        let protocol = notif.data.args[2] as u32 as i32;
        // The notification names the calling thread; the report counts per
        // process. Look it up while the caller waits for our answer.
        let process = self.report.is_some().then(|| process_of_thread(notif.pid));
        let decision = self.decide(listener, notif.id, notif.pid, domain, ty);
        if let Some(log) = self.log {
            log.write_line(&format_decision(notif.pid, domain, ty, protocol, decision));
        }
        if let Decision::Refused(errno) = decision
            && !self.refusal_explained
        {
            self.refusal_explained = true;
            let reason = io::Error::from_raw_os_error(errno);
            self.say(&format!(
                "--require-mptcp: the kernel refused an MPTCP socket ({reason}); \
                 socket() fails, no fallback to TCP"
            ));
        }
        if let (Some(report), Some((pid, program)), Some(counted)) =
            (self.report.as_mut(), process, decision.counted())
        {
            report.count(pid, || program, counted);
        }
    }

    fn decide(
        &self,
        listener: BorrowedFd<'_>,
        id: u64,
        pid: u32,
        domain: i32,
        ty: i32,
    ) -> Decision {
        let respond_continue = |decision: Decision| match ffi::respond_continue(listener, id) {
            Ok(()) => decision,
            Err(_) => Decision::CallerGone,
        };
        // The PID is only meaningful while the notification is pending:
        // read the namespace, then check the caller is still that caller.
        let netns = netns_id(&pid.to_string());
        if !ffi::id_valid(listener, id) {
            return Decision::CallerGone;
        }
        match netns {
            Ok(id) if id == self.own_netns => {}
            Ok(_) => return respond_continue(Decision::OtherNamespace),
            Err(error) => {
                return respond_continue(Decision::NamespaceUnknown(
                    error.raw_os_error().unwrap_or(0),
                ));
            }
        }
        // Our copy is close-on-exec whatever the caller asked; the caller's
        // descriptor gets its own close-on-exec flag through newfd_flags.
        // SOCK_NONBLOCK is a property of the socket itself, shared by both.
        let socket = match self.make_socket(pid, domain, ty) {
            Ok(socket) => socket,
            Err(error) => {
                let errno = error.raw_os_error().unwrap_or(0);
                if self.require_mptcp {
                    return match ffi::respond_error(listener, id, errno) {
                        Ok(()) => Decision::Refused(errno),
                        Err(_) => Decision::CallerGone,
                    };
                }
                return respond_continue(Decision::FellBack(errno));
            }
        };
        let cloexec = ty & libc::SOCK_CLOEXEC != 0;
        match ffi::add_fd_and_send(listener, id, socket.as_fd(), cloexec) {
            Ok(fd) => Decision::Converted(fd),
            Err(error) => match error.raw_os_error() {
                Some(libc::ENOENT) => Decision::CallerGone,
                // EMFILE and the like: let the kernel make the call, so the
                // caller sees the error its own call would have.
                errno => respond_continue(Decision::AddFdFailed(errno.unwrap_or(0))),
            },
        }
    }

    /// The MPTCP socket for calling thread `tid`, made with its filesystem
    /// ids when they are not ours (see [`credentials`]). An error (the
    /// caller is gone, or its ids cannot be taken) makes the caller's own
    /// call go on in the kernel, as for any failure here.
    fn make_socket(&self, tid: u32, domain: i32, ty: i32) -> io::Result<OwnedFd> {
        let make = || fd::socket(domain, ty | libc::SOCK_CLOEXEC, libc::IPPROTO_MPTCP);
        if self.own_ids.uid != 0 {
            // Unprivileged: every caller runs as our user.
            return make();
        }
        let caller = credentials::of_thread(tid)?;
        if caller == self.own_ids {
            return make();
        }
        credentials::with_fs_ids(caller, self.own_ids, make)?
    }

    /// A message for the user, on stderr (errors ignored); in the
    /// background, where stderr is /dev/null, in the log file if any.
    fn say(&self, text: &str) {
        let line = format!("{}: {text}", crate::TOOL_NAME);
        match self.log {
            Some(log) if self.detached => log.write_line(&line),
            _ => {
                let _ = writeln!(io::stderr(), "{line}");
            }
        }
    }
}

/// The process (thread group) a thread belongs to, and its name, from
/// `/proc/TID/status`; the thread itself if it is already gone.
fn process_of_thread(tid: u32) -> (u32, String) {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).unwrap_or_default();
    let field = |name: &str| {
        let line = status.lines().find_map(|line| line.strip_prefix(name))?;
        Some(line.trim().to_string())
    };
    let pid = field("Tgid:")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or(tid);
    (pid, field("Name:").unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_lines() {
        let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        assert_eq!(
            format_decision(42, libc::AF_INET, flags, 0, Decision::Converted(5)),
            "mptcpize-rs[42]: socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) -> 5: converted to MPTCP (seccomp)"
        );
        let all = flags | libc::SOCK_NONBLOCK;
        assert_eq!(
            format_decision(7, libc::AF_INET6, all, 6, Decision::FellBack(92)),
            "mptcpize-rs[7]: socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 6): \
             fell back to TCP (MPTCP failed with errno 92) (seccomp)"
        );
        let line = format_decision(7, libc::AF_INET, 1, 0, Decision::OtherNamespace);
        assert!(
            line.ends_with("another network namespace) (seccomp)"),
            "{line}"
        );
    }
}
