//! The hand-off to a background supervisor, for programs that leave
//! processes behind (daemons, `cmd &`).
//!
//! The filter cannot be removed from a process, and once nobody can read
//! the listener the kernel answers every trapped `socket()` with ENOSYS. So
//! when the program itself has ended but other processes still use the
//! filter, `run` cannot simply stop supervising, and it must not wait for
//! them either (a daemon may run for months, and its starter waits for
//! `run` to return). It forks: the child becomes the background supervisor,
//! detached like a daemon, and keeps answering; the parent returns the
//! program's status. The child needs nothing from the parent after the
//! fork (it has its own copy of the listener) and ends when the listener
//! reports `POLLHUP`: no process uses the filter any more.
//!
//! Detached means:
//! - its own session (`setsid`): no controlling terminal, so a hangup of
//!   the terminal or of the caller's session does not reach it;
//! - every signal that would end or stop it ignored, but the faults of a
//!   bug: the signals `run` forwards (SIGHUP, SIGINT, SIGTERM, ...) and
//!   whatever is sent to a whole service or process group are meant for
//!   the program, and ending the supervisor early would only turn its
//!   processes' `socket()` calls into ENOSYS (SIGKILL still works);
//! - standard input, output and error on `/dev/null`, and every other
//!   inherited descriptor closed except those it needs: a caller reading
//!   `run`'s output through a pipe sees end of file when `run` exits;
//! - its working directory `/`, so it keeps no file system busy.

use std::io;
use std::os::fd::RawFd;

use crate::run::signals;

/// Forks the background supervisor. In the parent, returns its PID. In the
/// child, detaches (see the module's documentation), runs `serve` and
/// exits; it never returns from here. `keep` are the descriptors `serve`
/// uses (the listener, a log file); all others are closed in the child.
///
/// Must be called while the process is single-threaded: the child runs
/// ordinary Rust code (it allocates), which is only sound after a fork when
/// no other thread could have held a lock.
pub fn detach(keep: &[RawFd], serve: impl FnOnce()) -> io::Result<libc::pid_t> {
    // SAFETY: single-threaded (the caller's contract), so the child's copy
    // of the memory (allocator included) is consistent.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    detach_self(keep, false);
    serve();
    // Nothing to flush or drop: the caller's stack (descriptors already
    // closed above among them) belongs to the foreground.
    // SAFETY: _exit ends the process; no destructor runs.
    unsafe { libc::_exit(0) }
}

/// In the child: the steps listed in the module's documentation. Each is
/// best effort; a failure leaves that one aspect as inherited.
/// `keep_stderr`: standard error stays as it is (the log goes there).
pub(super) fn detach_self(keep: &[RawFd], keep_stderr: bool) {
    // SAFETY: setsid takes no arguments; the child of a fork is never a
    // process group leader, so it succeeds.
    unsafe { libc::setsid() };
    // Ignoring also discards any already pending (blocked) instance.
    signals::ignore_all_but_faults();
    // SAFETY: open of a NUL-terminated literal path.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    let last_standard = if keep_stderr { 1 } else { 2 };
    for fd in 0..=last_standard {
        // SAFETY: dup2 onto the standard descriptors (dup2 clears
        // close-on-exec on the copy); or, without /dev/null, close them.
        unsafe {
            if null >= 0 {
                libc::dup2(null, fd);
            } else {
                libc::close(fd);
            }
        }
    }
    // The descriptor /dev/null was opened on is closed below (above 2,
    // and not in `keep`).
    for (first, last) in ranges_to_close(keep) {
        // SAFETY: close_range closes descriptors in the range; nothing of
        // ours refers to them any more (the objects that own them in the
        // foreground's copy of the stack are never used or dropped here).
        unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    }
    // SAFETY: chdir to a NUL-terminated literal path.
    unsafe { libc::chdir(c"/".as_ptr()) };
}

/// The ranges of descriptors above the standard three that are not in
/// `keep`, as inclusive (first, last) pairs for `close_range` (pure).
fn ranges_to_close(keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut kept: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    let mut ranges = Vec::new();
    let mut first = 3u32;
    for fd in kept {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = fd + 1;
    }
    ranges.push((first, u32::MAX));
    ranges
}

#[cfg(test)]
mod tests {
    use super::ranges_to_close;

    #[test]
    fn everything_above_two_but_what_is_kept_is_closed() {
        assert_eq!(ranges_to_close(&[]), [(3, u32::MAX)]);
        assert_eq!(ranges_to_close(&[3]), [(4, u32::MAX)]);
        assert_eq!(ranges_to_close(&[5]), [(3, 4), (6, u32::MAX)]);
        assert_eq!(
            ranges_to_close(&[9, 4, 5, 9]),
            [(3, 3), (6, 8), (10, u32::MAX)]
        );
        // The standard descriptors are handled apart; -1 means "none".
        assert_eq!(ranges_to_close(&[1, -1, 7]), [(3, 6), (8, u32::MAX)]);
    }
}
