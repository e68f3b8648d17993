//! The layout of the `run --report` counter table, version 1: one file
//! shared by the writer (the shim, `report.rs`) and the reader (the
//! launcher includes this file with `#[path]`), so the two cannot drift.
//! Native byte order; every offset is in bytes.
//!
//! Header, at offset 0:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `MPTCPRT1` |
//! | 8 | 4 | capacity: number of slots |
//! | 12 | 4 | next free slot (atomic) |
//! | 16 | 4 | processes that found no free slot (atomic) |
//!
//! Slot `i` starts at `HEADER + i * SLOT`:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | pid |
//! | 8 | 16 | program name (`/proc/self/comm`) |
//! | 24 | 8 | converted to MPTCP |
//! | 32 | 8 | untouched (not TCP) |
//! | 40 | 8 | fell back to TCP |
//! | 48 | 8 | refused (`--require-mptcp`) |
//! | 56 | 8 × 134 | fallbacks and refusals by errno (index = errno; 0 = larger) |
//! | 1128 | 8 | converted sockets swapped back to TCP at connect/listen/setsockopt |

pub const MAGIC: [u8; 8] = *b"MPTCPRT1";
pub const HEADER: usize = 64;
pub const SLOT: usize = 1152;

pub const CAPACITY_AT: usize = 8;
pub const NEXT_SLOT_AT: usize = 12;
pub const UNRECORDED_AT: usize = 16;

pub const PID: usize = 0;
pub const COMM: usize = 8;
pub const COMM_LEN: usize = 16;
pub const CONVERTED: usize = 24;
pub const UNTOUCHED: usize = 32;
pub const FELL_BACK: usize = 40;
pub const REFUSED: usize = 48;
pub const BY_ERRNO: usize = 56;
pub const ERRNO_BUCKETS: usize = 134;
pub const SWAPPED: usize = BY_ERRNO + 8 * ERRNO_BUCKETS;

// The errno buckets and the swap count fit in a slot; slots sit on cache
// lines of their own, so processes counting at once do not share one.
const _: () = assert!(SWAPPED + 8 <= SLOT);
const _: () = assert!(SLOT % 64 == 0 && HEADER % 64 == 0);

/// The bucket of an errno: itself, or 0 for values past the table.
pub fn errno_bucket(errno: i32) -> usize {
    match usize::try_from(errno) {
        Ok(n) if n < ERRNO_BUCKETS => n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_buckets() {
        assert_eq!(errno_bucket(92), 92); // ENOPROTOOPT
        assert_eq!(errno_bucket(133), 133);
        assert_eq!(errno_bucket(134), 0);
        assert_eq!(errno_bucket(-1), 0);
    }
}
