//! Answering one notification: for `socket()`, decide, make the MPTCP
//! socket with the caller's identity, install it in the caller, and tell
//! (log line, `--require-mptcp` message, report count); a `connect()` or
//! `listen()` (trapped only when a rule can make it TCP) goes to
//! [`super::swap`]. What the supervisor knows between notifications lives
//! here; [`super::supervisor`] only decides when to call it.
//!
//! A failure concerns only that call (its caller went away, most likely):
//! the caller's own `socket()` then goes on in the kernel, so the program
//! sees what it would have seen without us.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use super::credentials::{self, FsIds};
use super::decision::{Decision, format_decision, format_rule};
use super::ffi::{self, NotifBuffer};
use super::log::LogSink;
use super::lookup::Lookup;
use super::sockopt;
use super::swap::{self, ConnectRules};
use crate::kernel::fd;
use crate::run::report::{self, Report};

/// Device and inode of `/proc/PID/ns/net`: equal means same namespace.
pub type NetnsId = (u64, u64);

/// The state of answering: settings, and what has been said and counted.
pub struct Responder<'a> {
    /// In the background supervisor (after the hand-off).
    pub detached: bool,
    buffer: NotifBuffer,
    /// `None` when /proc is not our PID namespace's: every call then goes
    /// on in the kernel, as from another network namespace.
    own_netns: Option<NetnsId>,
    pub log: Option<&'a LogSink>,
    require_mptcp: bool,
    refusal_explained: bool,
    /// Counts per process for `run --report` (None: not counting).
    pub report: Option<Report>,
    /// Our filesystem ids; as root we make sockets with the caller's.
    own_ids: FsIds,
    /// The connection rules, and the sockets they may swap.
    rules: ConnectRules,
    lookup: Lookup,
}

impl<'a> Responder<'a> {
    pub fn new(
        notif_size: u16,
        own_netns: Option<NetnsId>,
        log: Option<&'a LogSink>,
        require_mptcp: bool,
        report: bool,
        rules: ConnectRules,
    ) -> Responder<'a> {
        Responder {
            rules,
            detached: false,
            buffer: NotifBuffer::new(notif_size),
            own_netns,
            log,
            require_mptcp,
            refusal_explained: false,
            report: report.then(Report::default),
            own_ids: credentials::own(),
            lookup: Lookup::default(),
        }
    }

    /// Receives and answers one notification. Failures concern only that
    /// call (its caller went away, most likely) and are not fatal.
    pub fn answer_one(&mut self, listener: BorrowedFd<'_>) {
        let notif = match self.buffer.receive(listener) {
            Ok(notif) => notif,
            // ENOENT: the caller went away before we got to it.
            Err(_) => return,
        };
        if let Some(call) = self.rules.call(notif.data.nr) {
            self.answer_rule(listener, &notif, call);
            return;
        }
        if let Some(call) = self.rules.option_call(notif.data.nr) {
            self.answer_option(listener, &notif, call);
            return;
        }
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

    /// A `connect()` or `listen()`: the rules decide, and the socket may be
    /// swapped to TCP ([`swap`]); told like the shim's swaps.
    fn answer_rule(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        call: swap::Call,
    ) {
        let outcome = self.rules.answer(listener, notif, call);
        if let Some(log) = self.log
            && let Some(line) = format_rule(notif.pid, call, outcome)
        {
            log.write_line(&line);
        }
        if let (Some(report), swap::Outcome::Swapped { .. }) = (self.report.as_mut(), outcome) {
            let (pid, program) = process_of_thread(notif.pid);
            report.count(pid, || program, report::Decision::Swapped);
        }
    }

    /// A `setsockopt()`/`getsockopt()` of an option MPTCP rejects: judged
    /// as the shim judges it ([`sockopt`]); told like the shim's.
    fn answer_option(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        call: sockopt::OptionCall,
    ) {
        let outcome = self
            .rules
            .answer_option(listener, notif, call, self.require_mptcp);
        if let Some(log) = self.log
            && let Some(line) = sockopt::format_option(notif.pid, call, outcome)
        {
            log.write_line(&line);
        }
        let swapped = matches!(
            outcome,
            sockopt::OptionOutcome::Judged {
                judgement: mptcpize_contract::swap_options::Judgement::Changes,
                swap: Ok(()),
                ..
            }
        );
        if let (Some(report), true) = (self.report.as_mut(), swapped) {
            let (pid, program) = process_of_thread(notif.pid);
            report.count(pid, || program, report::Decision::Swapped);
        }
    }

    fn decide(
        &mut self,
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
        // A privileged supervisor takes the caller's ids ([`credentials`]);
        // an unprivileged one's callers all run as its user. The thread ID
        // is only meaningful while the notification is pending; if the
        // caller went away and its ID was given to another thread, what is
        // learned here is another's, but only the answer by notification
        // ID below acts on the caller, and it then fails (ENOENT): the
        // socket made is dropped, no other process is touched.
        let caller = self.lookup.of_thread(pid, self.own_ids.uid == 0);
        let (ids, process) = match caller {
            Ok(caller) if Some(caller.netns) == self.own_netns => (caller.ids, caller.process),
            Ok(_) => return respond_continue(Decision::OtherNamespace),
            Err(error) => {
                return respond_continue(Decision::NamespaceUnknown(
                    error.raw_os_error().unwrap_or(0),
                ));
            }
        };
        // Our copy is close-on-exec whatever the caller asked; the caller's
        // descriptor gets its own close-on-exec flag through newfd_flags.
        // SOCK_NONBLOCK is a property of the socket itself, shared by both.
        let socket = match self.make_socket(ids, domain, ty) {
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
        // Known before the caller has it: a rule may swap it later.
        self.rules.remember(socket.as_fd(), pid, process);
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

    /// The MPTCP socket for a caller with filesystem ids `ids` (`None`:
    /// ours), made with them when they are not ours (see [`credentials`]).
    /// An error (its ids cannot be taken) makes the caller's own call go
    /// on in the kernel, as for any failure here.
    fn make_socket(&self, ids: Option<FsIds>, domain: i32, ty: i32) -> io::Result<OwnedFd> {
        let make = || fd::socket(domain, ty | libc::SOCK_CLOEXEC, libc::IPPROTO_MPTCP);
        match ids {
            Some(ids) if ids != self.own_ids => credentials::with_fs_ids(ids, self.own_ids, make)?,
            _ => make(),
        }
    }

    /// A message for the user, on stderr (errors ignored); in the
    /// background, where stderr is /dev/null, in the log file if any.
    pub fn say(&self, text: &str) {
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

/// The network namespace of process `pid` (or `self`).
pub fn netns_id(pid: &str) -> io::Result<NetnsId> {
    let meta = std::fs::metadata(format!("/proc/{pid}/ns/net"))?;
    Ok((meta.dev(), meta.ino()))
}
