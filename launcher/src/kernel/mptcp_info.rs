//! `struct mptcp_info` (linux/mptcp.h): what the kernel says about one MPTCP
//! connection, through `getsockopt(SOL_MPTCP, MPTCP_INFO)` on a socket of
//! ours (`check`'s self-test) or the `INET_DIAG_INFO` attribute of a
//! sock_diag answer for IPPROTO_MPTCP (`inspect`).
//!
//! The structure grew over kernel releases and the kernel copies only as
//! many bytes as both sides know, so it is decoded from bytes by offset and
//! the later fields are optional. Layout (x86_64 and aarch64 alike; the C
//! compiler's padding is written out):
//!
//! ```text
//! off size field                       since
//!   0  u8  mptcpi_subflows             5.9   (extra subflows: joins only)
//!   1  u8  mptcpi_add_addr_signal
//!   2  u8  mptcpi_add_addr_accepted
//!   3  u8  mptcpi_subflows_max
//!   4  u8  mptcpi_add_addr_signal_max
//!   5  u8  mptcpi_add_addr_accepted_max
//!   6  --  2 bytes padding
//!   8  u32 mptcpi_flags                      (bit 0 FALLBACK, bit 1 REMOTE_KEY_RECEIVED)
//!  12  u32 mptcpi_token
//!  16  u64 mptcpi_write_seq
//!  24  u64 mptcpi_snd_una
//!  32  u64 mptcpi_rcv_nxt
//!  40  u8  mptcpi_local_addr_used      5.12
//!  41  u8  mptcpi_local_addr_max
//!  42  u8  mptcpi_csum_enabled         5.14
//!  43  --  1 byte padding
//!  44  u32 mptcpi_retransmits          6.5
//!  48  u64 mptcpi_bytes_retrans
//!  56  u64 mptcpi_bytes_sent
//!  64  u64 mptcpi_bytes_received
//!  72  u64 mptcpi_bytes_acked
//!  80  u8  mptcpi_subflows_total       6.8   (extra subflows + the initial one)
//!  81  u8  mptcpi_endp_laminar_max     6.18  (reserved before)
//!  82  u8[2] reserved
//!  84  u32 mptcpi_last_data_sent       6.10
//!  88  u32 mptcpi_last_data_recv
//!  92  u32 mptcpi_last_ack_recv
//!  96  (end)
//! ```

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `SOL_MPTCP` (linux/socket.h), the socket option level.
pub const SOL_MPTCP: libc::c_int = 284;
/// `MPTCP_INFO` (linux/mptcp.h), the option name.
pub const MPTCP_INFO: libc::c_int = 1;
/// `MPTCP_INFO_FLAG_FALLBACK`: the connection fell back to plain TCP.
pub const FLAG_FALLBACK: u32 = 1 << 0;
/// `MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED`: the MPTCP handshake completed.
pub const FLAG_REMOTE_KEY_RECEIVED: u32 = 1 << 1;

/// Bytes up to and including `mptcpi_rcv_nxt`: what every kernel sends.
pub const MIN_LEN: usize = 40;
/// The size of the structure this module knows (Linux 6.10 and later).
pub const FULL_LEN: usize = 96;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MptcpInfo {
    /// `mptcpi_subflows`: subflows beyond the initial one.
    pub extra_subflows: u8,
    pub add_addr_signal: u8,
    pub add_addr_accepted: u8,
    pub subflows_max: u8,
    pub add_addr_signal_max: u8,
    pub add_addr_accepted_max: u8,
    pub flags: u32,
    pub token: u32,
    /// `mptcpi_subflows_total` (Linux 6.8+): every subflow, the initial one
    /// included.
    pub subflows_total: Option<u8>,
    /// `mptcpi_bytes_sent` / `mptcpi_bytes_received` (Linux 6.5+).
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
}

impl MptcpInfo {
    /// Decodes the kernel's bytes; `None` if fewer than [`MIN_LEN`].
    pub fn parse(bytes: &[u8]) -> Option<MptcpInfo> {
        if bytes.len() < MIN_LEN {
            return None;
        }
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
        };
        Some(MptcpInfo {
            extra_subflows: bytes[0],
            add_addr_signal: bytes[1],
            add_addr_accepted: bytes[2],
            subflows_max: bytes[3],
            add_addr_signal_max: bytes[4],
            add_addr_accepted_max: bytes[5],
            flags: u32_at(8),
            token: u32_at(12),
            subflows_total: bytes.get(80).copied(),
            bytes_sent: u64_at(56),
            bytes_received: u64_at(64),
        })
    }

    /// The connection fell back to TCP (the peer or a middlebox did not
    /// speak MPTCP).
    pub fn fallback(&self) -> bool {
        self.flags & FLAG_FALLBACK != 0
    }

    /// The peer's key arrived: the MPTCP handshake really completed.
    pub fn remote_key_received(&self) -> bool {
        self.flags & FLAG_REMOTE_KEY_RECEIVED != 0
    }

    /// Subflows of the connection, the initial one included. Kernels before
    /// 6.8 only count the extra ones; the initial one is then assumed.
    pub fn subflows(&self) -> u8 {
        self.subflows_total
            .unwrap_or_else(|| self.extra_subflows.saturating_add(1))
    }
}

/// `getsockopt(fd, SOL_MPTCP, MPTCP_INFO)`. A socket that fell back to TCP
/// answers `EOPNOTSUPP` (the kernel passes the call to the TCP subflow,
/// which does not know the level): see [`is_fallback_error`].
pub fn get(socket: BorrowedFd<'_>) -> io::Result<MptcpInfo> {
    // Larger than any known layout; the kernel writes min(len, its size).
    let mut buffer = [0u8; 2 * FULL_LEN];
    let mut len = buffer.len() as libc::socklen_t;
    // SAFETY: buffer and len describe a writable buffer of len bytes that
    // outlives the call; the kernel writes at most len bytes and stores the
    // count in len.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            SOL_MPTCP,
            MPTCP_INFO,
            buffer.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let written = (len as usize).min(buffer.len());
    MptcpInfo::parse(&buffer[..written]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("MPTCP_INFO returned {written} bytes, fewer than {MIN_LEN}"),
        )
    })
}

/// Whether a [`get`] error means "this connection is plain TCP now".
pub fn is_fallback_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes a Linux 6.18 kernel returns for a fresh connection.
    fn sample(len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; FULL_LEN];
        bytes[0] = 1; // one join
        bytes[3] = 2; // subflows_max
        bytes[5] = 2; // add_addr_accepted_max
        bytes[8..12].copy_from_slice(&FLAG_REMOTE_KEY_RECEIVED.to_ne_bytes());
        bytes[12..16].copy_from_slice(&0xdead_beef_u32.to_ne_bytes());
        bytes[56..64].copy_from_slice(&1234u64.to_ne_bytes());
        bytes[64..72].copy_from_slice(&5678u64.to_ne_bytes());
        bytes[80] = 2;
        bytes.truncate(len);
        bytes
    }

    #[test]
    fn full_layout() {
        let info = MptcpInfo::parse(&sample(FULL_LEN)).unwrap();
        assert_eq!(info.extra_subflows, 1);
        assert_eq!(info.subflows_max, 2);
        assert_eq!(info.add_addr_accepted_max, 2);
        assert_eq!(info.token, 0xdead_beef);
        assert!(info.remote_key_received());
        assert!(!info.fallback());
        assert_eq!(info.subflows_total, Some(2));
        assert_eq!(info.subflows(), 2);
        assert_eq!(info.bytes_sent, Some(1234));
        assert_eq!(info.bytes_received, Some(5678));
    }

    #[test]
    fn older_kernels_send_less() {
        // 5.14: up to mptcpi_csum_enabled (43 bytes, 48 with padding).
        let info = MptcpInfo::parse(&sample(48)).unwrap();
        assert_eq!(info.subflows_total, None);
        assert_eq!(info.bytes_sent, None);
        assert_eq!(info.subflows(), 2, "initial subflow + one join");
        assert!(MptcpInfo::parse(&sample(MIN_LEN)).is_some());
        assert!(MptcpInfo::parse(&sample(MIN_LEN - 1)).is_none());
    }

    #[test]
    fn fallback_flag() {
        let mut bytes = sample(FULL_LEN);
        bytes[8..12].copy_from_slice(&FLAG_FALLBACK.to_ne_bytes());
        let info = MptcpInfo::parse(&bytes).unwrap();
        assert!(info.fallback());
        assert!(!info.remote_key_received());
    }

    #[test]
    fn fallback_errors() {
        assert!(is_fallback_error(&io::Error::from_raw_os_error(
            libc::EOPNOTSUPP
        )));
        assert!(!is_fallback_error(&io::Error::from_raw_os_error(
            libc::EBADF
        )));
    }
}
