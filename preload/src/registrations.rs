//! Epoll registrations of converted, undecided sockets, so that a swap can
//! make them again on the TCP socket it puts in place.
//!
//! Event loops (nginx upstreams, libuv, Boost.Asio, Java NIO, Python
//! `selectors`) add a socket to epoll before `connect()`. Epoll ties the
//! registration to the socket itself, so a swap would silently drop it. The
//! `epoll_ctl` detour records ADD/MOD/DEL of tracked descriptors here; at
//! swap time each recorded registration is checked with the kernel
//! (`kcmp(KCMP_EPOLL_TFD)`: is this very socket still registered under this
//! number in that epoll instance? Where a seccomp profile denies `kcmp`,
//! the epoll descriptor's `/proc/self/fdinfo` answers, matched by the
//! socket's inode), an `EPOLLONESHOT` one has its current (possibly
//! disarmed) events read from that fdinfo, and after the swap each is added
//! again with the same events and data word.
//!
//! A fixed table of [`CAPACITY`] entries, claimed with compare-and-swap:
//! lock-free and async-signal-safe. When it is full, or the kernel cannot
//! confirm a registration, the socket is not swapped (`Failure::Kept`).
//! Programs that never register an undecided socket never touch it: the
//! detour's cost for them is one load.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use libc::c_int;

use crate::real;

/// Registrations the table holds at most, across all undecided sockets.
const CAPACITY: usize = 64;
/// Registrations one socket can carry through a swap.
pub const PER_SOCKET: usize = 8;

const EMPTY: u64 = u64::MAX;

struct Entry {
    /// `fd << 32 | epfd`, or `EMPTY`.
    key: AtomicU64,
    events: AtomicU32,
    data: AtomicU64,
}

static TABLE: [Entry; CAPACITY] = [const {
    Entry {
        key: AtomicU64::new(EMPTY),
        events: AtomicU32::new(0),
        data: AtomicU64::new(0),
    }
}; CAPACITY];

/// Entries in use: when 0, `forget` has nothing to scan.
static USED: AtomicUsize = AtomicUsize::new(0);

fn key(fd: c_int, epfd: c_int) -> u64 {
    (u64::from(fd as u32) << 32) | u64::from(epfd as u32)
}

fn find(key: u64) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.key.load(Ordering::Acquire) == key)
}

/// Records a successful `epoll_ctl(epfd, op, fd, event)` on a tracked `fd`.
/// False when the registration cannot be recorded (the table is full): the
/// caller must then keep the socket from being swapped.
pub fn record(epfd: c_int, op: c_int, fd: c_int, events: u32, data: u64) -> bool {
    let key = key(fd, epfd);
    if op == libc::EPOLL_CTL_DEL {
        if let Some(entry) = find(key) {
            release(entry, key);
        }
        return true;
    }
    let entry = match find(key) {
        Some(entry) => entry,
        None => match TABLE.iter().find(|e| {
            e.key
                .compare_exchange(EMPTY, key, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }) {
            Some(entry) => {
                USED.fetch_add(1, Ordering::Relaxed);
                entry
            }
            None => return false,
        },
    };
    entry.events.store(events, Ordering::Relaxed);
    entry.data.store(data, Ordering::Release);
    true
}

fn release(entry: &Entry, key: u64) {
    if entry
        .key
        .compare_exchange(key, EMPTY, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        USED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drops every registration recorded for `fd` (decided, closed, shared).
pub fn forget(fd: c_int) {
    if USED.load(Ordering::Relaxed) == 0 {
        return;
    }
    for entry in &TABLE {
        let key = entry.key.load(Ordering::Acquire);
        if key != EMPTY && (key >> 32) as u32 == fd as u32 {
            release(entry, key);
        }
    }
}

/// Drops everything (after `fork()`).
pub fn forget_all() {
    for entry in &TABLE {
        entry.key.store(EMPTY, Ordering::Relaxed);
    }
    USED.store(0, Ordering::Relaxed);
}

/// One registration to make again: epoll descriptor, events, data word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    pub epfd: c_int,
    pub events: u32,
    pub data: u64,
}

/// The registrations of `fd` that the kernel confirms, ready to be made
/// again after a swap.
#[derive(Default)]
pub struct Carried {
    list: [Registration; PER_SOCKET],
    len: usize,
}

impl Carried {
    pub fn as_slice(&self) -> &[Registration] {
        &self.list[..self.len]
    }
}

/// Collects `fd`'s live registrations. `Err` names why they cannot be
/// carried (no swap then).
pub fn collect(fd: c_int) -> Result<Carried, &'static str> {
    let mut carried = Carried::default();
    if USED.load(Ordering::Relaxed) == 0 {
        return Ok(carried);
    }
    let pid = crate::sys::getpid();
    for entry in &TABLE {
        let key = entry.key.load(Ordering::Acquire);
        if key == EMPTY || (key >> 32) as u32 != fd as u32 {
            continue;
        }
        let epfd = key as u32 as c_int;
        let recorded = (
            entry.events.load(Ordering::Relaxed),
            entry.data.load(Ordering::Acquire),
        );
        let (events, data) = match still_registered(pid, epfd, fd) {
            Ok(false) => continue,
            // It may have fired and be disarmed: the kernel knows.
            Ok(true) if recorded.0 & libc::EPOLLONESHOT as u32 != 0 => match in_fdinfo(epfd, fd) {
                Some(Some(now)) => now,
                _ => return Err("a one-shot epoll registration"),
            },
            Ok(true) => recorded,
            // No kcmp here (a container's seccomp profile, a kernel without
            // it): the epoll descriptor's fdinfo tells the same, by inode.
            Err(why) => match in_fdinfo(epfd, fd) {
                None => return Err(why),
                Some(None) => continue,
                Some(Some(now)) => now,
            },
        };
        let slot = carried
            .list
            .get_mut(carried.len)
            .ok_or("more epoll registrations than the shim carries")?;
        *slot = Registration { epfd, events, data };
        carried.len += 1;
    }
    Ok(carried)
}

/// Makes the registrations again on `fd` (now the TCP socket). The number
/// of them the kernel refused (0 unless memory or `max_user_watches` ran
/// out).
pub fn restore(fd: c_int, carried: &Carried) -> usize {
    let mut refused = 0;
    for r in carried.as_slice() {
        let mut event = libc::epoll_event {
            events: r.events,
            u64: r.data,
        };
        if real::epoll_ctl(r.epfd, libc::EPOLL_CTL_ADD, fd, &mut event) != 0 {
            refused += 1;
        }
    }
    refused
}

/// `kcmp` type: compare a file with the target of an epoll registration.
const KCMP_EPOLL_TFD: c_int = 7;

#[repr(C)]
struct KcmpEpollSlot {
    efd: u32,
    tfd: u32,
    toff: u32,
}

/// Whether the socket on `fd` is still registered in `epfd` under `fd`.
/// `Err` when the kernel cannot tell (no `kcmp`, or a seccomp filter).
fn still_registered(pid: libc::pid_t, epfd: c_int, fd: c_int) -> Result<bool, &'static str> {
    let slot = KcmpEpollSlot {
        efd: epfd as u32,
        tfd: fd as u32,
        toff: 0,
    };
    // SAFETY: kcmp reads `slot` (a valid struct on our stack) and nothing else.
    let rc = unsafe { crate::sys::kcmp(pid, pid, KCMP_EPOLL_TFD, fd, (&raw const slot).addr()) };
    if rc == 0 {
        return Ok(true);
    }
    if rc > 0 {
        return Ok(false);
    }
    // SAFETY: __errno_location() returns this thread's errno, always valid.
    match unsafe { *libc::__errno_location() } {
        // Closed, not an epoll descriptor, or not registered there.
        libc::EBADF | libc::EINVAL | libc::ENOENT => Ok(false),
        _ => Err("an epoll registration the kernel cannot confirm (kcmp)"),
    }
}

/// The events and data word `epfd` holds now for the socket on `fd`, from
/// `/proc/self/fdinfo/EPFD` (the entry with that number and the socket's
/// inode); `Some(None)` when it holds none, `None` when that cannot be
/// read.
fn in_fdinfo(epfd: c_int, fd: c_int) -> Option<Option<(u32, u64)>> {
    let ino = inode(fd)?;
    let mut path = crate::debug_log::Line::new();
    path.text("/proc/self/fdinfo/");
    path.int(epfd);
    path.text("\0");
    // SAFETY: `path` is NUL-terminated; /proc/self is the process's own.
    let file = unsafe {
        crate::sys::open(
            path.as_bytes().as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
            0,
        )
    };
    if file < 0 {
        return None;
    }
    let found = scan_lines(file, |line| {
        registration_in_line(line, fd)
            .filter(|&(_, _, of)| of == ino)
            .map(|(events, data, _)| (events, data))
    });
    real::close(file);
    found.ok()
}

/// The inode number of the file on `fd`.
fn inode(fd: c_int) -> Option<u64> {
    let mut stat = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `struct stat` into our buffer.
    let rc = unsafe { crate::sys::fstat(fd, stat.as_mut_ptr()) };
    // SAFETY: fstat succeeded, so the buffer is initialised.
    (rc == 0).then(|| unsafe { stat.assume_init() }.st_ino)
}

/// Calls `f` on each line read from `file` until it returns `Some`;
/// `Ok(None)` when no line did, `Err(())` when reading failed.
fn scan_lines<T>(file: c_int, mut f: impl FnMut(&[u8]) -> Option<T>) -> Result<Option<T>, ()> {
    let mut buf = [0u8; 4096];
    let mut filled = 0;
    loop {
        // SAFETY: reads into the unfilled tail of our buffer.
        let n = unsafe {
            crate::sys::read(file, buf[filled..].as_mut_ptr().cast(), buf.len() - filled)
        };
        if n < 0 {
            return Err(());
        }
        let at_end = n == 0;
        filled += n.max(0) as usize;
        let mut start = 0;
        while let Some(end) = buf[start..filled].iter().position(|&b| b == b'\n') {
            if let Some(found) = f(&buf[start..start + end]) {
                return Ok(Some(found));
            }
            start += end + 1;
        }
        if at_end {
            return Ok(f(&buf[start..filled]));
        }
        // Keep the partial line; a line longer than the buffer is dropped.
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            filled = 0;
        }
    }
}

/// Parses one fdinfo line of an epoll descriptor,
/// `tfd:        5 events:       19 data:                5  pos:0 ino:1b3e sdev:9`,
/// and returns its events, data and target inode when it is about `fd`.
pub fn registration_in_line(line: &[u8], fd: c_int) -> Option<(u32, u64, u64)> {
    let mut words = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty());
    let mut field = |name: &[u8], radix: u32| -> Option<u64> {
        if words.next()? != name {
            return None;
        }
        let text = core::str::from_utf8(words.next()?).ok()?;
        u64::from_str_radix(text, radix).ok()
    };
    let tfd = field(b"tfd:", 10)?;
    let events = field(b"events:", 16)?;
    let data = field(b"data:", 16)?;
    let ino = words.find_map(|w| w.strip_prefix(b"ino:"))?;
    let ino = u64::from_str_radix(core::str::from_utf8(ino).ok()?, 16).ok()?;
    (tfd == u64::from(fd as u32)).then_some((events as u32, data, ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_lines() {
        let line = b"tfd:        5 events: 40000000 data:             1234  pos:0 ino:4964 sdev:9";
        assert_eq!(
            registration_in_line(line, 5),
            Some((0x4000_0000, 0x1234, 0x4964))
        );
        assert_eq!(registration_in_line(line, 6), None);
        assert_eq!(registration_in_line(b"pos:\t0", 5), None);
        assert_eq!(registration_in_line(b"tfd: 5 events: zz data: 1", 5), None);
        assert_eq!(registration_in_line(b"", 5), None);
    }

    /// One test: the table is shared, and parallel tests would race on it.
    #[test]
    fn record_modify_delete_forget_and_fill() {
        // Descriptor numbers far from any other test's.
        assert!(record(900, libc::EPOLL_CTL_ADD, 901, 1, 7));
        assert!(record(902, libc::EPOLL_CTL_ADD, 901, 4, 8));
        assert!(record(900, libc::EPOLL_CTL_MOD, 901, 5, 9));
        let entries = |fd: c_int| {
            TABLE
                .iter()
                .filter(|e| (e.key.load(Ordering::Relaxed) >> 32) as u32 == fd as u32)
                .filter(|e| e.key.load(Ordering::Relaxed) != EMPTY)
                .map(|e| {
                    (
                        e.key.load(Ordering::Relaxed) as u32,
                        e.events.load(Ordering::Relaxed),
                        e.data.load(Ordering::Relaxed),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut got = entries(901);
        got.sort();
        assert_eq!(got, [(900, 5, 9), (902, 4, 8)]);
        assert!(record(900, libc::EPOLL_CTL_DEL, 901, 0, 0));
        assert_eq!(entries(901), [(902, 4, 8)]);
        forget(901);
        assert!(entries(901).is_empty());

        let fd = 950;
        let mut recorded = 0;
        while record(1000 + recorded, libc::EPOLL_CTL_ADD, fd, 1, 0) {
            recorded += 1;
            assert!(recorded as usize <= CAPACITY);
        }
        assert!(recorded > 0);
        forget(fd);
        assert!(record(1000, libc::EPOLL_CTL_ADD, fd, 1, 0));
        forget(fd);
    }
}
