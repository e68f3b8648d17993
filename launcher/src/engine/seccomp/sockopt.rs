//! Options MPTCP rejects, under the seccomp engine: the filter sends
//! `setsockopt()`/`getsockopt()` of exactly the contract's `REJECTED`
//! (level, name) pairs here, and a socket the supervisor converted is
//! answered as the shim answers it (`preload/src/setsockopt.rs`,
//! `getsockopt.rs`), so the program sees what plain TCP would say.
//!
//! ```text
//! setsockopt(fd, level, name, value, len) ─>  read value (process_vm_readv)
//!                                             copy fd: one we made, undecided?
//!                                             set it on a fresh TCP socket:
//!   returns TCP's errno                <───     TCP rejects it too
//!   returns 0, never runs              <───     unchanged (TCP_USER_TIMEOUT=0)
//!   runs on the TCP socket             <───     a real change: swap (swap.rs),
//!   (or on MPTCP: MPTCP's error)                 if invisible; continue
//! getsockopt(fd, level, name, value, len) ─>  copy fd: one we made, MPTCP?
//!   returns TCP's value and length     <───   a fresh TCP socket's, written
//!                                             with process_vm_writev
//! ```
//!
//! Anything else (a socket the program made as MPTCP itself or got from
//! elsewhere, another protocol, a connected or listening socket for
//! `setsockopt`, a value longer than [`MAX_VALUE`]) goes on in the kernel
//! untouched. The judgement is the contract's `judge`, the shim's.
//!
//! The getsockopt answer writes the caller's memory, as the kernel would,
//! once `SECCOMP_IOCTL_NOTIF_ID_VALID` says the caller still waits: the
//! buffers are the caller's own, for this very call. What remains is the
//! window between that check and the write, in which a signal could end the
//! wait (with `EINTR` under a handler without `SA_RESTART`; a restarted
//! call asks again): such a program would find its buffer written though
//! its call failed, with the value it asked for.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use mptcpize_contract::swap_options::{self, Judgement};

use super::caller;
use super::decision::kept_text;
use super::ffi;
use super::swap::{self, ConnectRules, Kept, Unfetched};

/// The longest option value judged (`struct tcp_md5sig` is 216 bytes);
/// a longer one is left to the kernel.
pub const MAX_VALUE: usize = 256;

/// Which option call a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionCall {
    Set,
    Get,
}

impl OptionCall {
    pub fn name(self) -> &'static str {
        match self {
            OptionCall::Set => "setsockopt",
            OptionCall::Get => "getsockopt",
        }
    }
}

/// What was done with one option call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionOutcome {
    /// Not ours to judge: the call went on in the kernel.
    Untouched,
    /// Judged on a fresh TCP socket (the socket stays MPTCP unless the
    /// judgement is `Changes` and it was swapped).
    Judged {
        fd: RawFd,
        option: (i32, i32),
        judgement: Judgement,
        /// For `Changes`: swapped (`Ok`), or why it stays MPTCP.
        swap: Result<(), Kept>,
    },
    /// `getsockopt` answered with a fresh TCP socket's value.
    Read { fd: RawFd, option: (i32, i32) },
    /// The caller went away.
    CallerGone,
}

/// What the supervisor answers for a judged `setsockopt()` (pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The call fails with this errno, without running.
    Error(i32),
    /// The call returns 0, without running.
    Success,
    /// The call runs in the kernel (on the TCP socket after a swap, or on
    /// MPTCP, which gives its own error).
    Continue,
}

/// The answer for `judgement` (pure): TCP's error, success for an option
/// that changes nothing, else let the kernel run the call.
pub fn answer_for(judgement: Judgement) -> Answer {
    match judgement {
        Judgement::Rejected(errno) => Answer::Error(errno),
        Judgement::Unchanged => Answer::Success,
        Judgement::Changes => Answer::Continue,
    }
}

impl ConnectRules {
    /// Which option call system call `nr` is, when the filter traps them.
    pub fn option_call(&self, nr: i32) -> Option<OptionCall> {
        let nr = nr as u32;
        if !self.traps().options {
            None
        } else if nr == self.arch.nr_setsockopt {
            Some(OptionCall::Set)
        } else if nr == self.arch.nr_getsockopt {
            Some(OptionCall::Get)
        } else {
            None
        }
    }

    /// Answers one `setsockopt()` or `getsockopt()` notification.
    /// `require_mptcp`: a real change never swaps (MPTCP's error stands).
    pub fn answer_option(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        call: OptionCall,
        require_mptcp: bool,
    ) -> OptionOutcome {
        let outcome = match call {
            OptionCall::Set => self.set(listener, notif, require_mptcp),
            OptionCall::Get => self.get(listener, notif),
        };
        let (outcome, answer) = match outcome {
            Ok(pair) => pair,
            Err(()) => return OptionOutcome::CallerGone,
        };
        let sent = match answer {
            Answer::Error(errno) => ffi::respond_error(listener, notif.id, errno),
            Answer::Success => ffi::respond_success(listener, notif.id),
            Answer::Continue => ffi::respond_continue(listener, notif.id),
        };
        match sent {
            Ok(()) => outcome,
            // Interrupted after a swap: a restarted call finds plain TCP.
            Err(_) if is_swap(outcome) => outcome,
            Err(_) => OptionOutcome::CallerGone,
        }
    }

    /// The caller's converted socket on `fd` (remembered still), or what
    /// to answer instead: `Ok(None)` continue untouched, `Err` gone.
    fn converted_socket(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        fd: RawFd,
    ) -> Result<Option<swap::Fetched>, ()> {
        match self.fetch(listener, notif.id, notif.pid, fd, false) {
            Ok(fetched) => Ok(fetched),
            Err(Unfetched::CallerGone) => Err(()),
            // Without ptrace access the supervisor cannot tell: as before.
            Err(Unfetched::Denied(_)) => Ok(None),
        }
    }

    fn set(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
        require_mptcp: bool,
    ) -> Result<(OptionOutcome, Answer), ()> {
        let untouched = Ok((OptionOutcome::Untouched, Answer::Continue));
        let args = notif.data.args;
        let fd = args[0] as u32 as RawFd;
        let option = (args[1] as u32 as i32, args[2] as u32 as i32);
        let len = args[4] as u32 as usize;
        if len > MAX_VALUE {
            return untouched;
        }
        // Read before ID_VALID (in fetch): the bytes are the caller's only
        // if it still waits afterwards. Unreadable: TCP judges a null
        // pointer, which gives the kernel's own EFAULT (or EINVAL).
        let mut value = [0u8; MAX_VALUE];
        let readable = match caller::read_memory(notif.pid, args[3], &mut value[..len]) {
            Ok(read) => read == len,
            Err(_) => len == 0,
        };
        let Some(fetched) = self.converted_socket(listener, notif, fd)? else {
            return untouched;
        };
        // Connected or listening: the kernel's answer stands, as with the shim.
        let Some(domain) = swap::undecided(fetched.socket.as_fd()) else {
            return untouched;
        };
        let Ok(tcp) = swap::fresh_tcp(domain) else {
            return untouched;
        };
        let judgement = judge_on(tcp.as_fd(), option, readable.then_some(&value[..len]), len);
        let answer = answer_for(judgement);
        let swap = match judgement {
            Judgement::Changes if require_mptcp => Err(Kept::Uncarried("--require-mptcp")),
            Judgement::Changes => {
                // Decided once, as a rule at connect() is.
                self.converted.take(fetched.cookie);
                match self.swap(listener, notif.id, notif.pid, fd, fetched) {
                    Err(Kept::Errno(libc::ENOENT)) => return Err(()),
                    result => result,
                }
            }
            _ => Ok(()),
        };
        let outcome = OptionOutcome::Judged {
            fd,
            option,
            judgement,
            swap,
        };
        Ok((outcome, answer))
    }

    fn get(
        &mut self,
        listener: BorrowedFd<'_>,
        notif: &ffi::seccomp_notif,
    ) -> Result<(OptionOutcome, Answer), ()> {
        let untouched = Ok((OptionOutcome::Untouched, Answer::Continue));
        let args = notif.data.args;
        let fd = args[0] as u32 as RawFd;
        let option = (args[1] as u32 as i32, args[2] as u32 as i32);
        let mut asked = [0u8; 4];
        let asked = match caller::read_memory(notif.pid, args[4], &mut asked) {
            Ok(4) => Some(u32::from_ne_bytes(asked)),
            _ => None,
        };
        let Some(fetched) = self.converted_socket(listener, notif, fd)? else {
            return untouched;
        };
        // Any MPTCP socket of ours, in any state: MPTCP never took a value.
        let Some(domain) = mptcp_domain(fetched.socket.as_fd()) else {
            return untouched;
        };
        let Ok(tcp) = swap::fresh_tcp(domain) else {
            return untouched;
        };
        let read = OptionOutcome::Read { fd, option };
        let Some(asked) = asked else {
            return Ok((read, Answer::Error(libc::EFAULT)));
        };
        let (value, len) = match read_on(tcp.as_fd(), option, asked) {
            Ok(pair) => pair,
            Err(errno) => return Ok((read, Answer::Error(errno))),
        };
        // The caller must still wait for its own buffers to be written.
        if !ffi::id_valid(listener, notif.id) {
            return Err(());
        }
        let wrote = caller::write_memory(notif.pid, args[3], &value[..len as usize])
            .is_ok_and(|n| n == len as usize)
            && caller::write_memory(notif.pid, args[4], &len.to_ne_bytes()).is_ok_and(|n| n == 4);
        match wrote {
            true => Ok((read, Answer::Success)),
            false => Ok((read, Answer::Error(libc::EFAULT))),
        }
    }
}

fn is_swap(outcome: OptionOutcome) -> bool {
    matches!(
        outcome,
        OptionOutcome::Judged {
            judgement: Judgement::Changes,
            swap: Ok(()),
            ..
        }
    )
}

/// Sets `option` on the fresh TCP socket `tcp` with `value` (`None`: an
/// unreadable pointer, passed as null so the kernel says what it says for
/// one) and judges it with the contract, as the shim does.
fn judge_on(
    tcp: BorrowedFd<'_>,
    option: (i32, i32),
    value: Option<&[u8]>,
    len: usize,
) -> Judgement {
    let (level, name) = option;
    let before = swap::get_option(tcp, level, name);
    let pointer = value.map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: setsockopt reads at most `len` bytes: `value` has `len`
    // bytes, or the pointer is null and the kernel fails with EFAULT.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            level,
            name,
            pointer.cast(),
            len as libc::socklen_t,
        )
    };
    let set = if rc == 0 { Ok(()) } else { Err(ffi::errno()) };
    let after = swap::get_option(tcp, level, name);
    let slice = |read: &Option<swap::OptionValue>| read.as_ref().map(|(buf, n)| buf[..*n].to_vec());
    swap_options::judge(set, slice(&before).as_deref(), slice(&after).as_deref())
}

/// A fresh TCP socket's value of `option`, asked with the caller's length
/// `asked` (the kernel judges it: a negative one is its EINVAL).
fn read_on(
    tcp: BorrowedFd<'_>,
    option: (i32, i32),
    asked: u32,
) -> Result<([u8; MAX_VALUE], u32), i32> {
    let mut value = [0u8; MAX_VALUE];
    let mut len: libc::socklen_t = match asked as i32 {
        negative if negative < 0 => asked,
        length => (length as u32).min(MAX_VALUE as u32),
    };
    // SAFETY: getsockopt writes at most `len` (at most MAX_VALUE) bytes into
    // `value`; a negative length is refused before any write.
    let rc = unsafe {
        libc::getsockopt(
            tcp.as_raw_fd(),
            option.0,
            option.1,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(ffi::errno());
    }
    Ok((value, len.min(MAX_VALUE as u32)))
}

/// The family of `socket` if it is an inet MPTCP socket.
fn mptcp_domain(socket: BorrowedFd<'_>) -> Option<i32> {
    let domain = swap::int_option(socket, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    let protocol = swap::int_option(socket, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
    (inet && protocol == libc::IPPROTO_MPTCP).then_some(domain)
}

/// The `-d` line for one option call, as the shim words it; `None`: nothing
/// to tell.
pub fn format_option(pid: u32, call: OptionCall, outcome: OptionOutcome) -> Option<String> {
    let (fd, (level, name), result, why) = match outcome {
        OptionOutcome::Judged {
            fd,
            option,
            judgement,
            swap,
        } => {
            let (result, why) = match (judgement, swap) {
                (Judgement::Rejected(errno), _) => (
                    format!("stays MPTCP (TCP fails with errno {errno} too)"),
                    "MPTCP and TCP both reject the option",
                ),
                (Judgement::Unchanged, _) => (
                    "stays MPTCP (the option changes nothing)".to_string(),
                    "MPTCP rejects the option, but it changes nothing",
                ),
                (Judgement::Changes, Ok(())) => {
                    ("swapped to TCP".to_string(), "MPTCP rejects the option")
                }
                (Judgement::Changes, Err(because)) => {
                    (kept_text(because), "MPTCP rejects the option")
                }
            };
            (fd, option, result, why)
        }
        OptionOutcome::Read { fd, option } => (
            fd,
            option,
            "answered as TCP".to_string(),
            "MPTCP rejects the option",
        ),
        OptionOutcome::Untouched | OptionOutcome::CallerGone => return None,
    };
    let text = swap_options::REJECTED
        .iter()
        .find(|option| option.is(level, name))
        .map_or_else(
            || format!("level {level} option {name}"),
            |option| option.text().to_string(),
        );
    Some(format!(
        "{}[{pid}]: {}({fd}, {text}): {result}: {why} (seccomp)",
        crate::TOOL_NAME,
        call.name(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            answer_for(Judgement::Rejected(libc::EINVAL)),
            Answer::Error(libc::EINVAL)
        );
        assert_eq!(answer_for(Judgement::Unchanged), Answer::Success);
        assert_eq!(answer_for(Judgement::Changes), Answer::Continue);
    }

    /// The judgement on a real TCP socket, as the shim's: 0 is the
    /// default, 5000 a change, a short value TCP's EINVAL, a bad pointer
    /// its EFAULT.
    #[test]
    fn judged_on_a_fresh_tcp_socket() {
        let tcp = || {
            crate::kernel::fd::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP).unwrap()
        };
        let timeout = (libc::SOL_TCP, libc::TCP_USER_TIMEOUT);
        let zero = 0i32.to_ne_bytes();
        let five = 5000i32.to_ne_bytes();
        assert_eq!(
            judge_on(tcp().as_fd(), timeout, Some(&zero), 4),
            Judgement::Unchanged
        );
        assert_eq!(
            judge_on(tcp().as_fd(), timeout, Some(&five), 4),
            Judgement::Changes
        );
        assert_eq!(
            judge_on(tcp().as_fd(), timeout, Some(&zero[..2]), 2),
            Judgement::Rejected(libc::EINVAL)
        );
        assert_eq!(
            judge_on(tcp().as_fd(), timeout, None, 4),
            Judgement::Rejected(libc::EFAULT)
        );
        let (value, len) = read_on(tcp().as_fd(), timeout, 4).unwrap();
        assert_eq!((len, &value[..4]), (4, &zero[..]));
        assert_eq!(
            read_on(tcp().as_fd(), timeout, -1i32 as u32),
            Err(libc::EINVAL)
        );
    }

    #[test]
    fn lines() {
        let judged = |judgement, swap| OptionOutcome::Judged {
            fd: 3,
            option: (libc::SOL_TCP, libc::TCP_USER_TIMEOUT),
            judgement,
            swap,
        };
        assert_eq!(
            format_option(7, OptionCall::Set, judged(Judgement::Changes, Ok(()))).unwrap(),
            "mptcpize-rs[7]: setsockopt(3, TCP_USER_TIMEOUT): swapped to TCP: \
             MPTCP rejects the option (seccomp)"
        );
        assert_eq!(
            format_option(7, OptionCall::Set, judged(Judgement::Unchanged, Ok(()))).unwrap(),
            "mptcpize-rs[7]: setsockopt(3, TCP_USER_TIMEOUT): stays MPTCP (the option \
             changes nothing): MPTCP rejects the option, but it changes nothing (seccomp)"
        );
        assert_eq!(
            format_option(7, OptionCall::Set, OptionOutcome::Untouched),
            None
        );
    }
}
