//! Counters for `mptcpize-rs run --report`, summed over a whole process tree.
//!
//! The launcher creates a table file and names it in `MPTCPIZE_RS_REPORT`.
//! Every process that loads the shim maps it shared, claims a slot of its
//! own and counts its decisions there with relaxed atomic adds: no lock, no
//! lost counts with threads, and nothing to flush, so counts survive `exec`,
//! `_exit` and signals. A forked child claims a fresh slot (`pthread_atfork`);
//! an exec'd image claims one when the shim loads again.
//!
//! The table's layout is in `report_layout.rs`, shared with the launcher.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::policy::Outcome;
use crate::report_layout::*;

/// The mapped table, null when there is no report.
static TABLE: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// This process's slot in it, null when it has none.
static MY_SLOT: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// Maps the table named by `path` and claims a slot. Called once at load.
pub fn attach(path: *const libc::c_char) {
    // SAFETY: `path` is a NUL-terminated string from getenv.
    let fd = unsafe { libc::open(path, libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` on success.
    let size = match unsafe { libc::fstat(fd, st.as_mut_ptr()) } {
        // SAFETY: fstat succeeded, so `st` is initialised.
        0 => unsafe { st.assume_init() }.st_size as usize,
        _ => 0,
    };
    let table = if size >= HEADER {
        // SAFETY: a shared read-write mapping of the whole file; the
        // descriptor can be closed afterwards, the mapping stays.
        unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        }
    } else {
        libc::MAP_FAILED
    };
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fd) };
    if table == libc::MAP_FAILED {
        return;
    }
    let table = table.cast::<u8>();
    // SAFETY: the mapping holds at least the header; offsets are aligned.
    let valid = unsafe { u64_at(table, 0) }.load(Ordering::Relaxed) == u64::from_ne_bytes(MAGIC)
        && HEADER + capacity(table) * SLOT <= size;
    if !valid {
        // SAFETY: unmapping what we just mapped.
        unsafe { libc::munmap(table.cast(), size) };
        return;
    }
    TABLE.store(table, Ordering::Relaxed);
    claim_slot();
    // SAFETY: registers a plain function for the child side of fork().
    unsafe { libc::pthread_atfork(None, None, Some(claim_slot_in_child)) };
}

extern "C" fn claim_slot_in_child() {
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
    if index >= capacity(table) {
        // SAFETY: as above.
        unsafe { u32_at(table, UNRECORDED_AT) }.fetch_add(1, Ordering::Relaxed);
        MY_SLOT.store(core::ptr::null_mut(), Ordering::Relaxed);
        return;
    }
    // SAFETY: index < capacity, so the slot lies inside the mapping.
    let slot = unsafe { table.add(HEADER + index * SLOT) };
    // SAFETY: getpid has no preconditions; the slot is ours alone.
    unsafe { u32_at(slot, PID) }.store(unsafe { libc::getpid() } as u32, Ordering::Relaxed);
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

fn capacity(table: *mut u8) -> usize {
    // SAFETY: the header is inside the mapping and the field aligned.
    unsafe { u32_at(table, CAPACITY_AT) }.load(Ordering::Relaxed) as usize
}

/// The program name from `/proc/self/comm`, without its newline.
fn read_comm(into: &mut [u8]) {
    // SAFETY: open/read/close with a NUL-terminated path and our buffer.
    unsafe {
        let fd = libc::open(
            c"/proc/self/comm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return;
        }
        let n = libc::read(fd, into.as_mut_ptr().cast(), into.len());
        libc::close(fd);
        if n > 0 && into[n as usize - 1] == b'\n' {
            into[n as usize - 1] = 0;
        }
    }
}

/// SAFETY (both): `base + offset` must lie in the mapping, suitably aligned.
unsafe fn u64_at(base: *mut u8, offset: usize) -> &'static AtomicU64 {
    unsafe { &*base.add(offset).cast::<AtomicU64>() }
}

unsafe fn u32_at(base: *mut u8, offset: usize) -> &'static AtomicU32 {
    unsafe { &*base.add(offset).cast::<AtomicU32>() }
}
