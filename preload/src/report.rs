//! Counters for `mptcpize-rs run --report`, summed over a whole process tree.
//!
//! The launcher creates the table as a memfd (no path: no other user can
//! reach it, nothing is left behind), sized and sealed against shrinking
//! and growing, and leaves it open on a high descriptor that every process
//! of the tree inherits; `MPTCPIZE_RS_REPORT=FD:INODE` names it. Every
//! process that loads the shim checks that descriptor really is such a
//! table (`verify`: a sealed memfd of ours with the expected inode, size
//! and header; anything else, such as a file or pipe the program has since
//! put on that number, is left alone), maps it shared, claims a slot of
//! its own and counts its decisions there with relaxed atomic adds: no
//! lock, no lost counts with threads, and nothing to flush, so counts
//! survive `exec`, `_exit` and signals. A forked child claims a fresh slot
//! (`shared`'s fork handler); an exec'd image claims one when the shim loads again.
//!
//! The capacity is read from the header once, bounded by the sealed size,
//! and kept here: whatever is later written into the shared header, no slot
//! past the mapping is ever touched, and the mapping cannot lose its pages
//! (no SIGBUS). A program that closes the descriptor (closefrom) only loses
//! the counts of the programs it later execs.
//!
//! The table's layout is in `report_layout.rs`, shared with the launcher.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::policy::Outcome;
use crate::report_layout::*;

/// The mapped table, null when there is no report.
static TABLE: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// Its number of slots, as verified at attach (never re-read from the
/// shared header).
static CAPACITY: AtomicUsize = AtomicUsize::new(0);
/// This process's slot in it, null when it has none.
static MY_SLOT: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// Maps the table named by `value` (`FD:INODE`, from the environment) and
/// claims a slot. Called once at load, before any thread exists.
pub fn attach(value: &[u8]) {
    let Some((fd, inode)) = parse_value(value) else {
        return;
    };
    let Some(capacity) = verify(fd, inode) else {
        return;
    };
    let size = HEADER + capacity * SLOT;
    // SAFETY: a shared read-write mapping of the whole (sealed, so fixed)
    // size. The descriptor stays open: the programs this one execs inherit
    // it.
    let table = unsafe {
        crate::sys::mmap(
            core::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if table == libc::MAP_FAILED {
        return;
    }
    CAPACITY.store(capacity, Ordering::Relaxed);
    TABLE.store(table.cast(), Ordering::Relaxed);
    claim_slot();
}

/// The descriptor and inode in `FD:INODE` (pure). Descriptors 0 to 2 are
/// never a table.
pub fn parse_value(value: &[u8]) -> Option<(libc::c_int, u64)> {
    let colon = value.iter().position(|&b| b == b':')?;
    let fd = decimal(&value[..colon])?;
    let inode = decimal(&value[colon + 1..])?;
    let fd = libc::c_int::try_from(fd).ok()?;
    (fd > 2).then_some((fd, inode))
}

/// Plain decimal digits, at least one, no overflow.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// What `verify` learns about a descriptor, gathered apart from the
/// decision so that the decision is unit-tested.
pub struct Facts {
    pub mode: u32,
    pub inode: u64,
    pub owner: u32,
    pub size: i64,
    /// F_GET_SEALS, or -1 (not sealable: not a memfd).
    pub seals: libc::c_int,
    /// The first HEADER bytes, if they could be read.
    pub header: Option<[u8; HEADER]>,
}

/// The table's capacity when the facts describe our table (pure): a
/// regular file nobody else may open, the inode the launcher named, owned
/// by this process's effective user, sealed against shrinking, growing and
/// further sealing, with our magic and exactly the size its capacity
/// needs.
pub fn accept(facts: &Facts, inode: u64, euid: u32) -> Option<usize> {
    let sealed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    let ok = facts.mode & libc::S_IFMT == libc::S_IFREG
        && facts.mode & 0o077 == 0
        && facts.inode == inode
        && facts.owner == euid
        && facts.seals >= 0
        && facts.seals & sealed == sealed;
    let header = facts.header.as_ref().filter(|_| ok)?;
    if header[..8] != MAGIC {
        return None;
    }
    let capacity = u32::from_ne_bytes(header[CAPACITY_AT..CAPACITY_AT + 4].try_into().ok()?);
    let capacity = usize::try_from(capacity).ok()?;
    let size = table_size(capacity)?;
    (usize::try_from(facts.size).ok()? == size).then_some(capacity)
}

/// Whether descriptor `fd` is the table the launcher made (see `accept`);
/// its capacity if so. Reads, never writes, and never maps what it refuses.
fn verify(fd: libc::c_int, inode: u64) -> Option<usize> {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { crate::sys::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None; // a pipe, socket or device: do not even read it
    }
    // Fails harmlessly if not sealable.
    let seals = crate::sys::fcntl(fd, libc::F_GET_SEALS, 0);
    let mut header = [0u8; HEADER];
    // SAFETY: reads at most HEADER bytes into our buffer.
    let read = unsafe { crate::sys::pread(fd, header.as_mut_ptr().cast(), HEADER, 0) };
    let facts = Facts {
        mode: st.st_mode,
        inode: st.st_ino,
        owner: st.st_uid,
        size: st.st_size,
        seals,
        header: (read == HEADER as isize).then_some(header),
    };
    accept(&facts, inode, crate::sys::geteuid())
}

/// In a forked child (`shared::after_fork_in_child`): a slot of its own.
pub fn claim_slot_in_child() {
    claim_slot();
}

/// Takes the next free slot for this process (or counts it as unrecorded).
fn claim_slot() {
    let table = TABLE.load(Ordering::Relaxed);
    if table.is_null() {
        return;
    }
    // SAFETY: `table` is the validated mapping; header fields are aligned.
    let index = unsafe { u32_at(table, NEXT_SLOT_AT) }.fetch_add(1, Ordering::Relaxed) as usize;
    // Our own capacity, not the header's: the mapping holds exactly it.
    if index >= CAPACITY.load(Ordering::Relaxed) {
        // SAFETY: as above.
        unsafe { u32_at(table, UNRECORDED_AT) }.fetch_add(1, Ordering::Relaxed);
        MY_SLOT.store(core::ptr::null_mut(), Ordering::Relaxed);
        return;
    }
    // SAFETY: index < capacity, so the slot lies inside the mapping.
    let slot = unsafe { table.add(HEADER + index * SLOT) };
    // SAFETY: the slot is ours alone.
    unsafe { u32_at(slot, PID) }.store(crate::sys::getpid() as u32, Ordering::Relaxed);
    // SAFETY: the 16-byte name field lies inside our slot.
    read_comm(unsafe { core::slice::from_raw_parts_mut(slot.add(COMM), COMM_LEN) });
    MY_SLOT.store(slot, Ordering::Relaxed);
}

/// Counts one decision. The hot-path cost without a report: one load.
#[inline(always)]
pub fn count(outcome: Outcome) {
    let slot = MY_SLOT.load(Ordering::Relaxed);
    if !slot.is_null() {
        count_into(slot, outcome);
    }
}

/// Out of line, so that runs without a report carry none of it.
#[inline(never)]
fn count_into(slot: *mut u8, outcome: Outcome) {
    let (field, errno) = match outcome {
        Outcome::Converted => (CONVERTED, None),
        Outcome::Untouched => (UNTOUCHED, None),
        Outcome::FellBack { failure, .. } | Outcome::KnownAbsent { failure } => {
            (FELL_BACK, Some(failure))
        }
        Outcome::Refused { failure } => (REFUSED, Some(failure)),
    };
    // SAFETY: `slot` is this process's slot in the mapping; offsets aligned.
    unsafe { u64_at(slot, field) }.fetch_add(1, Ordering::Relaxed);
    if let Some(errno) = errno {
        let bucket = errno_bucket(errno);
        // SAFETY: bucket < ERRNO_BUCKETS, inside the slot.
        unsafe { u64_at(slot, BY_ERRNO + 8 * bucket) }.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a converted socket swapped back to plain TCP (not a hot path).
pub fn count_swap() {
    let slot = MY_SLOT.load(Ordering::Relaxed);
    if !slot.is_null() {
        // SAFETY: `slot` is this process's slot in the mapping; aligned.
        unsafe { u64_at(slot, SWAPPED) }.fetch_add(1, Ordering::Relaxed);
    }
}

/// The program name from `/proc/self/comm`, without its newline.
fn read_comm(into: &mut [u8]) {
    // SAFETY: open/read/close with a NUL-terminated path and our buffer.
    unsafe {
        let fd = crate::sys::open(
            c"/proc/self/comm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
            0,
        );
        if fd < 0 {
            return;
        }
        let n = crate::sys::read(fd, into.as_mut_ptr().cast(), into.len());
        crate::sys::close(fd);
        if n > 0 && into[n as usize - 1] == b'\n' {
            into[n as usize - 1] = 0;
        }
    }
}

/// # Safety
/// `base + offset` must lie in the mapping, aligned for a `u64`.
unsafe fn u64_at(base: *mut u8, offset: usize) -> &'static AtomicU64 {
    // SAFETY: the caller's promise; the mapping lives as long as the process.
    unsafe { &*base.add(offset).cast::<AtomicU64>() }
}

/// # Safety
/// `base + offset` must lie in the mapping, aligned for a `u32`.
unsafe fn u32_at(base: *mut u8, offset: usize) -> &'static AtomicU32 {
    // SAFETY: as for `u64_at`.
    unsafe { &*base.add(offset).cast::<AtomicU32>() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value(b"960:12345"), Some((960, 12345)));
        assert_eq!(parse_value(b"3:0"), Some((3, 0)));
        for bad in [
            &b""[..],
            b"960",
            b":1",
            b"960:",
            b"2:1",
            b"-1:5",
            b"+960:5",
            b"960:5:6",
            b"960 :5",
            b"4294967296:1",
            b"960:18446744073709551616",
            b"/tmp/mptcpize-rs-report-1/table",
        ] {
            assert_eq!(parse_value(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Random descriptor values and descriptor facts: no panic, and a
    /// table is accepted only when every condition holds (the property
    /// `accept` promises), the capacity bounded by the real size.
    #[test]
    fn random_values_and_facts() {
        let mut state: u64 = 0x7265_706f_7274_7331;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        const ALPHABET: &[u8] = b"0123456789:-+ /x";
        for _ in 0..5000 {
            let len = (next() % 24) as usize;
            let value: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            if let Some((fd, _)) = parse_value(&value) {
                assert!(fd > 2, "{:?}", String::from_utf8_lossy(&value));
            }
            let mut facts = table((next() % 5) as u32);
            match next() % 6 {
                0 => facts.mode ^= 1 << (next() % 16),
                1 => facts.seals ^= 1 << (next() % 5),
                2 => facts.size = facts.size.wrapping_add((next() % 3) as i64 - 1),
                3 => {
                    let header = facts.header.as_mut().unwrap();
                    header[(next() % 16) as usize] = next() as u8;
                }
                4 => facts.owner = (next() % 2) as u32 * 1000,
                _ => {}
            }
            if let Some(capacity) = accept(&facts, 77, 1000) {
                let size = usize::try_from(facts.size).unwrap();
                assert!(capacity >= 1 && HEADER + capacity * SLOT == size);
                assert_eq!(facts.mode & libc::S_IFMT, libc::S_IFREG);
                assert_eq!(facts.mode & 0o077, 0);
                assert_eq!(facts.owner, 1000);
                assert_eq!(facts.seals & SEALS, SEALS);
            }
        }
    }

    /// A change to a good table's facts.
    type Change<'a> = &'a dyn Fn(&mut Facts);

    const SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

    /// The facts of a table the launcher made with `capacity` slots.
    fn table(capacity: u32) -> Facts {
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&MAGIC);
        header[CAPACITY_AT..CAPACITY_AT + 4].copy_from_slice(&capacity.to_ne_bytes());
        Facts {
            mode: libc::S_IFREG | 0o600,
            inode: 77,
            owner: 1000,
            size: (HEADER + capacity as usize * SLOT) as i64,
            seals: SEALS,
            header: Some(header),
        }
    }

    #[test]
    fn accepts_our_sealed_table() {
        assert_eq!(accept(&table(4096), 77, 1000), Some(4096));
        let mut more_seals = table(2);
        more_seals.seals |= libc::F_SEAL_EXEC;
        assert_eq!(accept(&more_seals, 77, 1000), Some(2));
    }

    #[test]
    fn refuses_anything_else() {
        let refused = |change: &dyn Fn(&mut Facts), inode: u64, euid: u32| {
            let mut facts = table(16);
            change(&mut facts);
            accept(&facts, inode, euid)
        };
        assert_eq!(refused(&|_| {}, 78, 1000), None, "another inode");
        assert_eq!(refused(&|_| {}, 77, 0), None, "another user's table");
        let cases: [(&str, Change); 10] = [
            ("a pipe", &|f| f.mode = libc::S_IFIFO | 0o600),
            ("readable by others", &|f| f.mode |= 0o004),
            ("writable by the group", &|f| f.mode |= 0o020),
            ("not sealable", &|f| f.seals = -1),
            ("may still shrink", &|f| {
                f.seals = SEALS & !libc::F_SEAL_SHRINK
            }),
            ("may still grow", &|f| f.seals = SEALS & !libc::F_SEAL_GROW),
            ("seals may change", &|f| {
                f.seals = SEALS & !libc::F_SEAL_SEAL
            }),
            ("unreadable", &|f| f.header = None),
            ("larger than its capacity", &|f| f.size += SLOT as i64),
            ("smaller than its capacity", &|f| f.size -= 1),
        ];
        for (what, change) in cases {
            assert_eq!(refused(change, 77, 1000), None, "{what}");
        }
        let mut bad_magic = table(16);
        bad_magic.header.as_mut().unwrap()[0] ^= 1;
        assert_eq!(accept(&bad_magic, 77, 1000), None, "magic");
        let huge = table(u32::MAX);
        assert_eq!(accept(&huge, 77, 1000), None, "capacity past the limit");
        let empty = table(0);
        assert_eq!(accept(&empty, 77, 1000), None, "no slot at all");
    }
}
