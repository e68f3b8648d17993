//! The layout of the `run --report` counter table, version 1, shared by
//! the writer (the shim's `report.rs`) and the reader (the launcher's
//! `run/report.rs`), so the two cannot drift.
//! Native byte order; every offset is in bytes.
//!
//! The table lives in a memfd the launcher creates (`memfd_create`, mode
//! 0600), sizes to exactly `table_size(capacity)` and seals with
//! `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`; it passes it on an
//! inherited descriptor (not close-on-exec, moved to 960 or above when
//! the descriptor limit allows) and names it in `MPTCPIZE_RS_REPORT=FD:INODE`, both in decimal.
//! The shim uses the descriptor only if it is a regular file with that
//! inode, owned by its effective user, not accessible to group or others,
//! carrying those seals, starting with the magic, with 1 to `MAX_CAPACITY`
//! slots and exactly the size they need. The capacity it keeps is the one
//! it read then; the field is not read again.
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
/// Most slots a table may have (the launcher makes 4096).
pub const MAX_CAPACITY: usize = 1 << 16;

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

/// The size in bytes of a table of `capacity` slots, if it is one the shim
/// accepts (1 to `MAX_CAPACITY` slots).
pub fn table_size(capacity: usize) -> Option<usize> {
    (1..=MAX_CAPACITY)
        .contains(&capacity)
        .then(|| HEADER + capacity * SLOT)
}

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

    #[test]
    fn table_sizes() {
        assert_eq!(table_size(0), None);
        assert_eq!(table_size(1), Some(HEADER + SLOT));
        assert_eq!(table_size(4096), Some(64 + 4096 * 1152));
        assert_eq!(table_size(MAX_CAPACITY + 1), None);
    }
}
