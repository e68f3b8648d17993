//! What the supervisor did with one `socket()` call, and how that is told:
//! a decision line in the shim's words (so logs read the same with either
//! engine) and a count for `run --report`. Pure, unit-tested.

use std::os::fd::RawFd;

use super::swap::{Call, Kept, Outcome};
use crate::run::report;

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
    pub fn counted(self) -> Option<report::Decision> {
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

/// Formats the line for a `connect()` or `listen()` the rules made plain
/// TCP, in the shim's words (pure). `None`: nothing to tell (the call went
/// on untouched, or its caller went away).
/// Why a socket stays MPTCP, as the log says it (the shim's words).
pub fn kept_text(because: Kept) -> String {
    match because {
        Kept::NotSwappable => "stays MPTCP (already connected or listening)".to_string(),
        Kept::Unreadable(errno) => {
            format!("stays MPTCP (the supervisor may not examine the caller: errno {errno})")
        }
        Kept::Errno(errno) => format!("stays MPTCP (swap failed with errno {errno})"),
        Kept::Uncarried(what) => format!("stays MPTCP (cannot carry {what})"),
    }
}

pub fn format_rule(pid: u32, call: Call, outcome: Outcome) -> Option<String> {
    let (fd, why, result) = match outcome {
        Outcome::Swapped { fd, why } => (fd, why, "swapped to TCP".to_string()),
        Outcome::Kept { fd, why, because } => (fd, why, kept_text(because)),
        Outcome::Untouched | Outcome::CallerGone => return None,
    };
    Some(format!(
        "{}[{pid}]: {}({fd}): {result}: {} (seccomp)",
        crate::TOOL_NAME,
        call.name(),
        why.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcpize_contract::rules::Why;

    #[test]
    fn rule_lines() {
        let swapped = Outcome::Swapped {
            fd: 3,
            why: Why::Loopback,
        };
        assert_eq!(
            format_rule(9, Call::Connect, swapped).unwrap(),
            "mptcpize-rs[9]: connect(3): swapped to TCP: loopback destination (seccomp)"
        );
        let kept = Outcome::Kept {
            fd: 4,
            why: Why::NoListen,
            because: Kept::Uncarried("a second descriptor on the socket"),
        };
        assert_eq!(
            format_rule(9, Call::Listen, kept).unwrap(),
            "mptcpize-rs[9]: listen(4): stays MPTCP (cannot carry a second descriptor on \
             the socket): --no-listen (seccomp)"
        );
        assert_eq!(format_rule(9, Call::Connect, Outcome::Untouched), None);
        assert_eq!(format_rule(9, Call::Connect, Outcome::CallerGone), None);
    }

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
