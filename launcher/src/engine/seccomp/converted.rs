//! The sockets the supervisor made, so that a connect-time rule swaps only
//! those: a socket the program created as `IPPROTO_MPTCP` itself, or one
//! it got from elsewhere, must stay as the program made it.
//!
//! A socket is known by its `SO_COOKIE`, a 64-bit number the kernel gives
//! each socket once and never reuses while it runs (an inode number or a
//! descriptor number can come back for another socket), with the thread
//! that asked for it: a swap happens only in the process that made it
//! ([`super::swap`] compares their thread groups). Entries go when their
//! socket's first rule decision is made, or, for sockets closed without
//! `connect()` or `listen()`, when [`CAPACITY`] newer ones push them out:
//! such an old socket then simply stays MPTCP. Kept whenever the filter
//! traps more than `socket()`: the rules' `connect()`/`listen()`, and the
//! options MPTCP rejects ([`super::sockopt`]), which only a converted
//! socket has judged; an option that changes nothing leaves it remembered.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Sockets remembered at most; the oldest go first.
pub const CAPACITY: usize = 4096;

/// Cookies of the sockets the supervisor made, with the process that asked.
#[derive(Debug, Default)]
pub struct Converted {
    /// Cookie → the calling process's ID (in our PID namespace): kept
    /// rather than the thread's, which may be gone by the `connect()`.
    creators: HashMap<u64, u32>,
    /// Cookies in the order they came, some already taken.
    order: VecDeque<u64>,
}

impl Converted {
    /// Remembers a socket made for process `pid`.
    pub fn remember(&mut self, cookie: u64, pid: u32) {
        while self.creators.len() >= CAPACITY {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.creators.remove(&oldest);
                }
                None => break,
            }
        }
        self.creators.insert(cookie, pid);
        self.order.push_back(cookie);
        // Taken cookies stay in `order` until they reach its front: keep it
        // from growing past twice the live ones.
        if self.order.len() > 2 * CAPACITY {
            let creators = &self.creators;
            self.order.retain(|cookie| creators.contains_key(cookie));
        }
    }

    /// The process a socket was made for, forgetting it: a socket's rules are
    /// decided once (at its first `connect()` or `listen()`), as with the
    /// shim. `None`: not made by the supervisor (or made long ago).
    pub fn take(&mut self, cookie: u64) -> Option<u32> {
        self.creators.remove(&cookie)
    }

    /// The thread a socket was made for, still remembered.
    pub fn creator(&self, cookie: u64) -> Option<u32> {
        self.creators.get(&cookie).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.creators.len()
    }
}

/// The socket's `SO_COOKIE` (Linux 4.6+; given on first request).
pub fn cookie(socket: BorrowedFd<'_>) -> io::Result<u64> {
    let mut cookie = 0u64;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the u64.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn taken_once() {
        let mut converted = Converted::default();
        converted.remember(7, 100);
        converted.remember(8, 101);
        assert_eq!(converted.take(7), Some(100));
        assert_eq!(converted.take(7), None);
        assert_eq!(converted.take(9), None);
        assert_eq!(converted.len(), 1);
    }

    #[test]
    fn the_oldest_go_first_and_memory_stays_bounded() {
        let mut converted = Converted::default();
        for cookie in 0..(3 * CAPACITY as u64) {
            converted.remember(cookie, 1);
            // Half are decided at once, as connect() would.
            if cookie % 2 == 0 {
                assert_eq!(converted.take(cookie), Some(1));
            }
            assert!(converted.len() <= CAPACITY);
            assert!(converted.order.len() <= 2 * CAPACITY + 1);
        }
        assert_eq!(converted.take(1), None, "pushed out by newer ones");
        let newest = 3 * CAPACITY as u64 - 1;
        assert_eq!(converted.take(newest), Some(1));
    }

    #[test]
    fn cookies_differ_per_socket_and_stay() {
        let a = crate::kernel::fd::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let b = crate::kernel::fd::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let first = cookie(a.as_fd()).unwrap();
        assert_ne!(first, 0);
        assert_eq!(cookie(a.as_fd()).unwrap(), first);
        assert_ne!(cookie(b.as_fd()).unwrap(), first);
    }
}
