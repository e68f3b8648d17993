//! The signals `run` passes on to the program, and the dispositions it
//! changes, in one place for both ways it waits for a program: as a
//! foreground child ([`super::foreground`], which takes them with
//! `sigtimedwait`) and under the seccomp supervisor
//! ([`crate::engine::seccomp`], which reads them from a signalfd in its
//! `poll` loop).
//!
//! Both block the forwarded signals instead of installing handlers: a
//! blocked signal waits in the queue until `run` takes it, so none is lost
//! between two waits and no code runs in signal context. A signal the
//! terminal sent (Ctrl-C, Ctrl-\, a hangup) already reached the program
//! through its process group: it is taken but not sent again. The program
//! starts with the mask `run` was given ([`SignalMask::restore`] in the
//! child, before exec).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// SIGPIPE was ignored when mptcpize-rs started (systemd starts services
/// so, `IgnoreSIGPIPE=yes` being its default). mptcpize-rs ignores it for
/// itself; the program must start with what mptcpize-rs was given.
static SIGPIPE_WAS_IGNORED: AtomicBool = AtomicBool::new(false);

/// Ignores SIGPIPE for mptcpize-rs (a write to a closed pipe then fails
/// with EPIPE instead of killing it) and remembers what it was, for
/// [`restore_inherited_sigpipe`]. Called first thing in `main`.
pub fn ignore_sigpipe_remembering() {
    // SAFETY: changing SIGPIPE's disposition has no preconditions.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    SIGPIPE_WAS_IGNORED.store(previous == libc::SIG_IGN, Ordering::Relaxed);
}

/// SIGPIPE as mptcpize-rs was given it (ignored, or the default), for the
/// program, before exec. Async-signal-safe (an atomic load and one system
/// call): usable between fork and exec.
pub fn restore_inherited_sigpipe() {
    let handler = match SIGPIPE_WAS_IGNORED.load(Ordering::Relaxed) {
        true => libc::SIG_IGN,
        false => libc::SIG_DFL,
    };
    set_disposition(libc::SIGPIPE, handler);
}

/// Signals passed on to the program (like timeout(1) and env-wrappers do).
pub const FORWARDED_SIGNALS: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// One forwarded signal taken from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signal: i32,
    /// The kernel sent it (`SI_KERNEL`: the terminal, to the whole process
    /// group, the program included): it is not to be passed on again.
    pub from_kernel: bool,
}

impl Received {
    /// Whether to send it to the program: only what a process sent us
    /// (kill, sigqueue) and the program did not get itself.
    pub fn to_forward(self) -> bool {
        !self.from_kernel
    }
}

/// A signal mask, saved to be restored (in the child, before exec, and
/// when the guard that changed it ends).
#[derive(Clone, Copy)]
pub struct SignalMask(libc::sigset_t);

impl SignalMask {
    /// Makes this the calling thread's mask. Async-signal-safe (one system
    /// call on our own data): usable between fork and exec.
    pub fn restore(&self) {
        // SAFETY: pthread_sigmask reads the set we own; no old set wanted.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// The forwarded signals, blocked while the guard lives; the previous mask
/// is restored when it ends.
pub struct ForwardedSignals {
    set: libc::sigset_t,
    previous: SignalMask,
}

impl ForwardedSignals {
    pub fn block() -> io::Result<ForwardedSignals> {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset fill it and
        // pthread_sigmask reads it and writes the old mask into a local.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in FORWARDED_SIGNALS {
                libc::sigaddset(&mut set, signal);
            }
            let mut previous: libc::sigset_t = std::mem::zeroed();
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(ForwardedSignals {
                set,
                previous: SignalMask(previous),
            })
        }
    }

    /// The mask as it was before [`ForwardedSignals::block`]: the
    /// program's, set in the child before exec.
    pub fn previous_mask(&self) -> SignalMask {
        self.previous
    }

    /// A signalfd that reads the forwarded signals (non-blocking,
    /// close-on-exec); see [`read_signalfd`].
    pub fn signalfd(&self) -> io::Result<OwnedFd> {
        // SAFETY: signalfd reads our set and returns a new descriptor.
        let fd = unsafe { libc::signalfd(-1, &self.set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: signalfd just returned this new descriptor; we own it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// A pending forwarded signal, waited for at most `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Received> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos().into(),
        };
        // SAFETY: siginfo_t is plain data; sigtimedwait reads our set and
        // the timeout and fills `info` when it returns a signal.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signal = libc::sigtimedwait(&self.set, &mut info, &timeout);
            (signal > 0).then_some(Received {
                signal,
                from_kernel: info.si_code == libc::SI_KERNEL,
            })
        }
    }

    /// Takes every forwarded signal still pending, without acting on it:
    /// unblocking would otherwise deliver it to us, and kill us.
    pub fn discard_pending(&self) {
        while self.wait(Duration::ZERO).is_some() {}
    }
}

impl Drop for ForwardedSignals {
    fn drop(&mut self) {
        self.previous.restore();
    }
}

/// The forwarded signals waiting in `signalfd` (from
/// [`ForwardedSignals::signalfd`]), without waiting.
pub fn read_signalfd(signalfd: BorrowedFd<'_>) -> Vec<Received> {
    let mut signals = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = size_of::<libc::signalfd_siginfo>();
        // SAFETY: reads at most `size` bytes into `info`.
        let rc = unsafe {
            libc::read(
                signalfd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if rc != size as isize {
            return signals;
        }
        signals.push(Received {
            signal: info.ssi_signo as i32,
            from_kernel: info.ssi_code == libc::SI_KERNEL,
        });
    }
}

/// A signal's disposition set to its default while the guard lives, and
/// restored when it ends.
pub struct DefaultDisposition {
    signal: i32,
    previous: libc::sigaction,
}

impl DefaultDisposition {
    pub fn set(signal: i32) -> DefaultDisposition {
        DefaultDisposition {
            signal,
            previous: set_disposition(signal, libc::SIG_DFL),
        }
    }

    /// Puts the previous disposition back without ending the guard (in the
    /// child, before exec). Async-signal-safe.
    pub fn restore(&self) {
        // SAFETY: sigaction reads the saved disposition; no old one wanted.
        unsafe { libc::sigaction(self.signal, &self.previous, std::ptr::null_mut()) };
    }
}

impl Drop for DefaultDisposition {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Sets `signal` to its default disposition. Async-signal-safe.
pub fn reset_to_default(signal: i32) {
    set_disposition(signal, libc::SIG_DFL);
}

/// Ignores every signal whose default would end or stop the process,
/// except the faults a bug raises (SIGSEGV, SIGBUS, ...): for a supervisor
/// in the background or beside a service, whose death would turn every
/// later TCP `socket()` of the processes it serves into ENOSYS. What is
/// sent to the whole process group or service (a stop's SIGTERM,
/// `systemctl kill -s SIGRTMIN+1`, a terminal's SIGTSTP) is meant for the
/// program. SIGKILL still ends it. Also discards any pending instance.
pub fn ignore_all_but_faults() {
    for signal in 1..=libc::SIGRTMAX() {
        if !KEPT_BY_SUPERVISORS.contains(&signal) {
            // Fails harmlessly for the real-time signals the C library
            // keeps for itself.
            set_disposition(signal, libc::SIG_IGN);
        }
    }
}

/// What [`ignore_all_but_faults`] leaves as it is: what cannot be caught,
/// the faults of a bug (ignoring them would loop on the faulting
/// instruction), and SIGCHLD and SIGCONT (ignored or harmless by default).
const KEPT_BY_SUPERVISORS: [i32; 11] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
    libc::SIGCHLD,
    libc::SIGCONT,
];

/// Unblocks `signal` in the calling thread. Async-signal-safe.
pub fn unblock(signal: i32) {
    // SAFETY: sigset_t is plain data, filled by sigemptyset/sigaddset and
    // read by pthread_sigmask; all locals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Sets `signal`'s handler to `handler` (SIG_DFL or SIG_IGN), with no flags
/// and an empty mask; returns the previous disposition. Async-signal-safe.
fn set_disposition(signal: i32, handler: libc::sighandler_t) -> libc::sigaction {
    // SAFETY: sigaction is plain data (zero: no flags, empty mask);
    // sigaction(2) reads the new one and writes the old one, both locals.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        let mut previous: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, &action, &mut previous);
        previous
    }
}
