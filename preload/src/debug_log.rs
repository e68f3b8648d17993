//! The debug log: one line per `socket()` decision, such as
//! `mptcpize-rs[4242]: socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) -> 3: converted to MPTCP`.
//!
//! Each line is built in a stack buffer and written with a single `write(2)`, so
//! lines from threads and processes never interleave and nothing allocates.
//! It must never corrupt a program's data: standard error is used only while
//! fd 2 is open and not a socket (a socket there is likely a peer or journald
//! stream the program owns); the `MPTCPIZE_RS_LOG` file is kept on a high
//! descriptor and re-identified (device and inode) before every write, in case
//! the program closed it and reused the number. That file is opened without
//! following a symlink and without blocking, and must be a regular file or a
//! terminal (`open_file`); one that cannot be used is said once on stderr.

use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use libc::c_int;

use crate::policy::Outcome;

/// The log file's descriptor, -1 when logging to standard error.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
static LOG_DEV: AtomicU64 = AtomicU64::new(0);
static LOG_INO: AtomicU64 = AtomicU64::new(0);

/// Lowest descriptor the log file is moved to, out of the range programs
/// usually assume is theirs.
const LOG_FD_FLOOR: c_int = 900;

/// Why the `MPTCPIZE_RS_LOG` file is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRefusal {
    /// open(2) failed with this errno (ELOOP: the last component is a
    /// symlink; ENXIO: a FIFO nobody reads or a socket).
    Open(c_int),
    /// It opened, but is neither a regular file nor a terminal (a FIFO
    /// with a reader, a device...): writing there could block or reach
    /// something that is not a log.
    NotFileOrTerminal,
}

/// Opens the log file named by `path` (a C string). Called once at load.
///
/// Never follows a symlink in the last component (a link someone planted
/// would make a privileged program write where they chose), never blocks
/// (O_NONBLOCK: a FIFO without a reader fails with ENXIO instead of
/// waiting for one), never becomes the controlling terminal, and keeps
/// only a regular file or a terminal.
pub fn open_file(path: &core::ffi::CStr) -> Result<(), LogRefusal> {
    use mptcpize_contract::log::{MODE, OPEN_FLAGS};
    // SAFETY: `path` is NUL-terminated.
    let mut fd = unsafe { crate::sys::open(path.as_ptr(), OPEN_FLAGS, MODE) };
    if fd < 0 {
        // SAFETY: __errno_location() returns this thread's errno.
        return Err(LogRefusal::Open(unsafe { *libc::__errno_location() }));
    }
    if !is_file_or_terminal(fd) {
        crate::sys::close(fd);
        return Err(LogRefusal::NotFileOrTerminal);
    }
    let high = crate::sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, LOG_FD_FLOOR);
    if high >= 0 {
        crate::sys::close(fd);
        fd = high;
    }
    let Some((dev, ino)) = identity(fd) else {
        crate::sys::close(fd);
        return Err(LogRefusal::NotFileOrTerminal);
    };
    LOG_DEV.store(dev, Ordering::Relaxed);
    LOG_INO.store(ino, Ordering::Relaxed);
    LOG_FD.store(fd, Ordering::Relaxed);
    Ok(())
}

/// Whether `fd` is a regular file or a terminal.
fn is_file_or_terminal(fd: c_int) -> bool {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { crate::sys::fstat(fd, st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat succeeded, so `st` is initialised.
    match unsafe { st.assume_init() }.st_mode & libc::S_IFMT {
        libc::S_IFREG => true,
        libc::S_IFCHR => crate::sys::isatty(fd),
        _ => false,
    }
}

/// Says, on stderr under the usual rules, why the log file is not used:
/// once per process (each exec'd program says it again).
#[cold]
#[inline(never)]
pub fn explain_log_refusal(refusal: LogRefusal) {
    let mut line = Line::new();
    format_log_refusal(&mut line, refusal);
    line.write_to_notice();
}

/// The notice for a refused log (pure, unit-tested).
pub fn format_log_refusal(line: &mut Line, refusal: LogRefusal) {
    line.text("mptcpize-rs: cannot log to ");
    line.text(crate::env::LOG.name());
    line.text(": ");
    match refusal {
        LogRefusal::Open(libc::ELOOP) => line.text("it is a symbolic link"),
        LogRefusal::Open(libc::ENXIO) => {
            line.text("it is a FIFO without a reader, a socket or an absent device")
        }
        LogRefusal::Open(errno) => {
            line.text("open failed with errno ");
            line.int(errno);
        }
        LogRefusal::NotFileOrTerminal => line.text("it is not a regular file or a terminal"),
    }
    line.text("; not logging there\n");
}

/// Writes the line for one decision. Keeps `errno` as the program left it.
// Out of line: debug mode is rare, and inlined its line buffer would give
// every socket() call a large stack frame.
#[cold]
#[inline(never)]
pub fn decision(domain: c_int, ty: c_int, protocol: c_int, fd: c_int, outcome: Outcome) {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *errno };
    if let Some(target) = target() {
        let mut line = Line::new();
        let pid = crate::sys::getpid();
        format_decision(&mut line, pid, domain, ty, protocol, fd, saved, outcome);
        // SAFETY: writes `len` initialised bytes from our buffer.
        unsafe { crate::sys::write(target, line.buf.as_ptr().cast(), line.len) };
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
}

/// Writes the line for a swap decision, e.g.
/// `mptcpize-rs[42]: connect(3): swapped to TCP: loopback destination`.
/// Keeps `errno` as the program left it.
#[cold]
#[inline(never)]
pub fn swap(
    fd: c_int,
    call: &str,
    option: Option<(c_int, c_int)>,
    why: &str,
    result: Result<(), crate::swap::Failure>,
) {
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *errno };
    if let Some(target) = target() {
        let mut line = Line::new();
        format_swap(
            &mut line,
            crate::sys::getpid(),
            fd,
            call,
            option,
            why,
            result,
        );
        // SAFETY: writes `len` initialised bytes from our buffer.
        unsafe { crate::sys::write(target, line.buf.as_ptr().cast(), line.len) };
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
}

/// Formats one swap line (pure, unit-tested).
pub fn format_swap(
    line: &mut Line,
    pid: c_int,
    fd: c_int,
    call: &str,
    option: Option<(c_int, c_int)>,
    why: &str,
    result: Result<(), crate::swap::Failure>,
) {
    use crate::swap::Failure;
    line.text("mptcpize-rs[");
    line.int(pid);
    line.text("]: ");
    line.text(call);
    line.text("(");
    line.int(fd);
    if let Some((level, name)) = option {
        line.text(", ");
        match crate::swap::option_name(level, name) {
            Some(text) => line.text(text),
            None => {
                line.text("level ");
                line.int(level);
                line.text(" option ");
                line.int(name);
            }
        }
    }
    line.text("): ");
    match result {
        Ok(()) => line.text("swapped to TCP: "),
        Err(Failure::NotSwappable) => line.text("stays MPTCP (already connected or listening): "),
        Err(Failure::Errno(errno)) => {
            line.text("stays MPTCP (swap failed with errno ");
            line.int(errno);
            line.text("): ");
        }
        Err(Failure::Rejected(errno)) => {
            line.text("stays MPTCP (TCP fails with errno ");
            line.int(errno);
            line.text(" too): ");
        }
        Err(Failure::Unchanged) => line.text("stays MPTCP (the option changes nothing): "),
        Err(Failure::Kept) => line.text("stays MPTCP from now on: "),
        Err(Failure::Uncarried(what)) => {
            line.text("stays MPTCP (cannot carry ");
            line.text(what);
            line.text("): ");
        }
    }
    line.text(why);
    line.text("\n");
}

/// Writes `text` where debug lines go (stderr, unless it is closed or a
/// socket, or the log file), whether or not debug mode is on: for the one
/// notice `--require-mptcp` owes the user.
pub fn notice(text: &str) {
    if let Some(target) = target() {
        // SAFETY: writes `text.len()` initialised bytes.
        unsafe { crate::sys::write(target, text.as_ptr().cast(), text.len()) };
    }
}

/// Explains, once per process, why a socket failed under
/// `--require-mptcp` instead of falling back to TCP.
#[cold]
#[inline(never)]
pub fn explain_refusal_once(errno: c_int) {
    static EXPLAINED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if EXPLAINED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut line = Line::new();
    line.text("mptcpize-rs: --require-mptcp: the kernel refused an MPTCP socket (errno ");
    line.int(errno);
    line.text(match errno {
        libc::ENOPROTOOPT => {
            "): MPTCP is disabled here; enable it with sysctl -w net.mptcp.enabled=1"
        }
        libc::EPROTONOSUPPORT | libc::EINVAL => {
            "): this kernel has no MPTCP (Linux 5.6+ with CONFIG_MPTCP)"
        }
        _ => ")",
    });
    line.text("; socket() fails, no fallback to TCP\n");
    line.write_to_notice();
}

/// Where a line may be written now, if anywhere.
fn target() -> Option<c_int> {
    let fd = LOG_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let expected = (
            LOG_DEV.load(Ordering::Relaxed),
            LOG_INO.load(Ordering::Relaxed),
        );
        return (identity(fd) == Some(expected)).then_some(fd);
    }
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { crate::sys::fstat(libc::STDERR_FILENO, st.as_mut_ptr()) } != 0 {
        return None; // closed
    }
    // SAFETY: fstat succeeded, so `st` is initialised.
    let mode = unsafe { st.assume_init() }.st_mode;
    (mode & libc::S_IFMT != libc::S_IFSOCK).then_some(libc::STDERR_FILENO)
}

/// Device and inode of an open descriptor.
fn identity(fd: c_int) -> Option<(u64, u64)> {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { crate::sys::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
}

/// Longest line written; longer text is cut.
const LINE_MAX: usize = 256;

/// A fixed-size line buffer; text past its end is dropped.
pub struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    pub fn new() -> Self {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    // Out of line, here and in `int`: called from every formatter, inlined
    // they made the library a third larger (issue 20: its pages are mapped
    // in every process).
    #[inline(never)]
    pub fn text(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    #[inline(never)]
    pub fn int(&mut self, value: c_int) {
        if value < 0 {
            self.text("-");
        }
        let mut digits = [0u8; 10];
        let mut n = value.unsigned_abs();
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // The digits are ASCII, so this cannot fail.
        self.text(core::str::from_utf8(&digits[i..]).unwrap_or("?"));
    }

    fn write_to_notice(&self) {
        // The buffer holds only the ASCII written by `text` and `int`.
        notice(core::str::from_utf8(&self.buf[..self.len]).unwrap_or(""));
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    #[cfg(test)]
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap()
    }
}

/// Formats one decision line (pure, so it is unit-tested).
#[allow(clippy::too_many_arguments)] // one line's fields, all plain integers
pub fn format_decision(
    line: &mut Line,
    pid: c_int,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    fd: c_int,
    errno: c_int,
    outcome: Outcome,
) {
    line.text("mptcpize-rs[");
    line.int(pid);
    line.text("]: socket(");
    match domain {
        libc::AF_INET => line.text("AF_INET"),
        libc::AF_INET6 => line.text("AF_INET6"),
        libc::AF_UNIX => line.text("AF_UNIX"),
        libc::AF_NETLINK => line.text("AF_NETLINK"),
        other => line.int(other),
    }
    line.text(", ");
    match ty & 0xf {
        libc::SOCK_STREAM => line.text("SOCK_STREAM"),
        libc::SOCK_DGRAM => line.text("SOCK_DGRAM"),
        libc::SOCK_RAW => line.text("SOCK_RAW"),
        libc::SOCK_SEQPACKET => line.text("SOCK_SEQPACKET"),
        other => line.int(other),
    }
    if ty & libc::SOCK_NONBLOCK != 0 {
        line.text("|SOCK_NONBLOCK");
    }
    if ty & libc::SOCK_CLOEXEC != 0 {
        line.text("|SOCK_CLOEXEC");
    }
    line.text(", ");
    line.int(protocol);
    line.text(") -> ");
    line.int(fd);
    if fd < 0 {
        line.text(" (errno ");
        line.int(errno);
        line.text(")");
    }
    match outcome {
        Outcome::Untouched => line.text(": untouched"),
        Outcome::Converted => line.text(": converted to MPTCP"),
        Outcome::FellBack {
            failure,
            remembered,
        } => {
            line.text(": fell back to TCP (MPTCP failed with errno ");
            line.int(failure);
            if remembered {
                line.text("; MPTCP unavailable, not tried again in this process");
            }
            line.text(")");
        }
        Outcome::KnownAbsent { failure } => {
            line.text(": fell back to TCP (MPTCP unavailable here, errno ");
            line.int(failure);
            line.text(")");
        }
        Outcome::Refused { failure } => {
            line.text(": refused: MPTCP failed with errno ");
            line.int(failure);
            line.text(" and MPTCP is required");
        }
    }
    line.text("\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(domain: c_int, ty: c_int, protocol: c_int, fd: c_int, outcome: Outcome) -> String {
        let mut line = Line::new();
        format_decision(&mut line, 4242, domain, ty, protocol, fd, 24, outcome);
        line.as_str().to_string()
    }

    #[test]
    fn converted_line() {
        let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        assert_eq!(
            format(libc::AF_INET, ty, 0, 3, Outcome::Converted),
            "mptcpize-rs[4242]: socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) -> 3: converted to MPTCP\n"
        );
    }

    #[test]
    fn fallback_lines() {
        let outcome = Outcome::FellBack {
            failure: libc::ENOPROTOOPT,
            remembered: true,
        };
        assert_eq!(
            format(libc::AF_INET6, libc::SOCK_STREAM, 6, 5, outcome),
            "mptcpize-rs[4242]: socket(AF_INET6, SOCK_STREAM, 6) -> 5: fell back to TCP \
             (MPTCP failed with errno 92; MPTCP unavailable, not tried again in this process)\n"
        );
        let outcome = Outcome::FellBack {
            failure: libc::EMFILE,
            remembered: false,
        };
        assert_eq!(
            format(libc::AF_INET, libc::SOCK_STREAM, 0, -1, outcome),
            "mptcpize-rs[4242]: socket(AF_INET, SOCK_STREAM, 0) -> -1 (errno 24): fell back to TCP \
             (MPTCP failed with errno 24)\n"
        );
    }

    #[test]
    fn known_absent_and_refused_lines() {
        let known = Outcome::KnownAbsent {
            failure: libc::ENOPROTOOPT,
        };
        assert_eq!(
            format(libc::AF_INET, libc::SOCK_STREAM, 0, 4, known),
            "mptcpize-rs[4242]: socket(AF_INET, SOCK_STREAM, 0) -> 4: fell back to TCP \
             (MPTCP unavailable here, errno 92)\n"
        );
        let refused = Outcome::Refused {
            failure: libc::ENOPROTOOPT,
        };
        assert_eq!(
            format(libc::AF_INET6, libc::SOCK_STREAM, 0, -1, refused),
            "mptcpize-rs[4242]: socket(AF_INET6, SOCK_STREAM, 0) -> -1 (errno 24): refused: \
             MPTCP failed with errno 92 and MPTCP is required\n"
        );
    }

    #[test]
    fn untouched_line_with_unknown_family() {
        assert_eq!(
            format(
                99,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
                17,
                7,
                Outcome::Untouched
            ),
            "mptcpize-rs[4242]: socket(99, SOCK_DGRAM|SOCK_NONBLOCK, 17) -> 7: untouched\n"
        );
    }

    #[test]
    fn swap_lines() {
        let mut line = Line::new();
        format_swap(
            &mut line,
            7,
            3,
            "connect",
            None,
            "loopback destination",
            Ok(()),
        );
        assert_eq!(
            line.as_str(),
            "mptcpize-rs[7]: connect(3): swapped to TCP: loopback destination\n"
        );
        let mut line = Line::new();
        let option = Some((libc::SOL_TCP, libc::TCP_USER_TIMEOUT));
        format_swap(
            &mut line,
            7,
            4,
            "setsockopt",
            option,
            "MPTCP rejects the option",
            Ok(()),
        );
        assert_eq!(
            line.as_str(),
            "mptcpize-rs[7]: setsockopt(4, TCP_USER_TIMEOUT): swapped to TCP: MPTCP rejects the option\n"
        );
        let mut line = Line::new();
        let failure = Err(crate::swap::Failure::Rejected(libc::EINVAL));
        format_swap(&mut line, 7, 4, "setsockopt", Some((6, 999)), "x", failure);
        assert_eq!(
            line.as_str(),
            "mptcpize-rs[7]: setsockopt(4, level 6 option 999): stays MPTCP (TCP fails with errno 22 too): x\n"
        );
    }

    #[test]
    fn lines_for_sockets_that_stay_mptcp() {
        use crate::swap::Failure;
        let cases: [(Failure, &str); 3] = [
            (
                Failure::Unchanged,
                "stays MPTCP (the option changes nothing): why",
            ),
            (Failure::Kept, "stays MPTCP from now on: why"),
            (
                Failure::Uncarried("the F_SETOWN owner"),
                "stays MPTCP (cannot carry the F_SETOWN owner): why",
            ),
        ];
        for (failure, text) in cases {
            let mut line = Line::new();
            format_swap(&mut line, 7, 4, "dup", None, "why", Err(failure));
            assert_eq!(line.as_str(), format!("mptcpize-rs[7]: dup(4): {text}\n"));
        }
    }

    #[test]
    fn log_refusal_notices() {
        let cases = [
            (LogRefusal::Open(libc::ELOOP), "it is a symbolic link"),
            (
                LogRefusal::Open(libc::ENXIO),
                "it is a FIFO without a reader, a socket or an absent device",
            ),
            (LogRefusal::Open(libc::EACCES), "open failed with errno 13"),
            (
                LogRefusal::NotFileOrTerminal,
                "it is not a regular file or a terminal",
            ),
        ];
        for (refusal, why) in cases {
            let mut line = Line::new();
            format_log_refusal(&mut line, refusal);
            assert_eq!(
                line.as_str(),
                format!("mptcpize-rs: cannot log to MPTCPIZE_RS_LOG: {why}; not logging there\n")
            );
        }
    }

    #[test]
    fn long_lines_are_cut_not_overflowed() {
        let mut line = Line::new();
        for _ in 0..100 {
            line.text("0123456789");
        }
        assert_eq!(line.len, LINE_MAX);
        line.int(c_int::MIN);
        assert_eq!(line.len, LINE_MAX);
    }
}
