//! The demo's two ends, run as `mptcpize-rs demo-peer receive|send` inside
//! the namespaces (under `mptcpize-rs run` for the MPTCP transfer, so the
//! shim converts their sockets exactly as it would any other program's).
//!
//! The sender writes a deterministic byte pattern; the receiver checks every
//! byte against it, so data lost or corrupted on the way cannot go unnoticed.
//! Both report on stdout in one-line `key=value` records ([`PeerLine`]) that
//! the orchestrator parses.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

/// The pattern repeats every 251 bytes: a prime, so it never lines up with
/// the power-of-two sizes of buffers and segments, and a shifted, repeated or
/// dropped block shows up as mismatches.
pub const PERIOD: usize = 251;

/// Largest write and read, also the verifier's comparison unit.
pub const CHUNK: usize = 128 * 1024;

/// How often the receiver reports its byte count.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How long the sender waits, after its last byte, for the receiver to close
/// (so every byte is delivered before the sender reports and exits).
pub const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Byte `i` of the stream.
pub fn pattern_byte(i: u64) -> u8 {
    (i % PERIOD as u64) as u8
}

/// The pattern, long enough that any stream offset's next [`CHUNK`] bytes
/// are one contiguous slice: writing and checking are then plain slice
/// operations (memcpy/memcmp speed even in a debug build).
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    pub fn new() -> Pattern {
        Pattern {
            bytes: (0..(PERIOD + CHUNK) as u64).map(pattern_byte).collect(),
        }
    }

    /// The `len` (at most [`CHUNK`]) bytes that start at stream `offset`.
    pub fn at(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.bytes[start..start + len.min(CHUNK)]
    }

    /// How many bytes of `data`, received at stream `offset`, differ from
    /// the pattern.
    pub fn count_mismatches(&self, offset: u64, data: &[u8]) -> u64 {
        let mut bad = 0;
        let mut position = offset;
        for piece in data.chunks(CHUNK) {
            let expected = self.at(position, piece.len());
            if piece != expected {
                bad += piece.iter().zip(expected).filter(|(a, b)| a != b).count() as u64;
            }
            position += piece.len() as u64;
        }
        bad
    }
}

impl Default for Pattern {
    fn default() -> Self {
        Pattern::new()
    }
}

/// One line a peer prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerLine {
    /// The receiver is listening: the sender may connect.
    Listening { port: u16 },
    /// The receiver accepted the connection; its `t_ms` counts from here.
    Accepted,
    /// Bytes received (and checked) so far, `t_ms` after the accept.
    Progress { t_ms: u64, bytes: u64 },
    /// The receiver's result: bytes received, how many of them were wrong,
    /// and whether the transfer ended properly (the sender's FIN).
    Done { bytes: u64, bad: u64, eof: bool },
    /// The sender's result: bytes the connection accepted from it.
    Sent { bytes: u64 },
}

impl fmt::Display for PeerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerLine::Listening { port } => write!(f, "listening port={port}"),
            PeerLine::Accepted => f.write_str("accepted"),
            PeerLine::Progress { t_ms, bytes } => write!(f, "t_ms={t_ms} bytes={bytes}"),
            PeerLine::Done { bytes, bad, eof } => {
                write!(f, "done bytes={bytes} bad={bad} eof={eof}")
            }
            PeerLine::Sent { bytes } => write!(f, "sent bytes={bytes}"),
        }
    }
}

impl PeerLine {
    /// Parses a line printed by [`fmt::Display`]; `None` for anything else.
    pub fn parse(line: &str) -> Option<PeerLine> {
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let fields: Vec<&str> = words.collect();
        let field = |key: &str| -> Option<&str> {
            fields
                .iter()
                .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        };
        let number = |key: &str| -> Option<u64> { field(key)?.parse().ok() };
        match first {
            "listening" => Some(PeerLine::Listening {
                port: field("port")?.parse().ok()?,
            }),
            "accepted" => Some(PeerLine::Accepted),
            "done" => Some(PeerLine::Done {
                bytes: number("bytes")?,
                bad: number("bad")?,
                eof: field("eof")?.parse().ok()?,
            }),
            "sent" => Some(PeerLine::Sent {
                bytes: number("bytes")?,
            }),
            _ => {
                // Progress lines start with their first field.
                let t_ms = first.strip_prefix("t_ms=")?.parse().ok()?;
                Some(PeerLine::Progress {
                    t_ms,
                    bytes: number("bytes")?,
                })
            }
        }
    }
}

/// Prints one record. Write errors end the peer: the orchestrator that
/// reads them is gone, and nobody else is listening.
fn report(line: PeerLine) -> io::Result<()> {
    writeln!(io::stdout(), "{line}")
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// Receives one connection on `port` and checks it against the pattern.
/// Gives up waiting for the connection after `max_seconds`, and ends the
/// transfer `max_seconds` after the accept if the sender has not finished
/// by then (a stalled TCP connection never does).
pub fn receive(port: u16, max_seconds: u64) -> io::Result<()> {
    let limit = Duration::from_secs(max_seconds);
    // The wildcard, dual stack: a listener bound to path 1's address would
    // refuse MPTCP's second subflow, which arrives at path 2's address.
    // 0.0.0.0 is the fallback for hosts with IPv6 turned off.
    let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
        .or_else(|_| TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)))?;
    report(PeerLine::Listening { port })?;

    // Non-blocking accept so the wait is bounded.
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(error) if is_timeout(&error) && started.elapsed() < limit => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(error) if is_timeout(&error) => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "no connection arrived in time",
                ));
            }
            Err(error) => return Err(error),
        }
    };
    // The listener stays open until the end: MPTCP's second subflow (an
    // MP_JOIN) is a new SYN to this port, refused once nobody listens.
    stream.set_nonblocking(false)?;
    // Reads time out so progress is reported even while nothing arrives.
    stream.set_read_timeout(Some(PROGRESS_EVERY))?;
    report(PeerLine::Accepted)?;

    let accepted = Instant::now();
    let pattern = Pattern::new();
    let mut buffer = vec![0u8; CHUNK];
    let (mut bytes, mut bad, mut eof) = (0u64, 0u64, false);
    let mut next_report = PROGRESS_EVERY;
    while accepted.elapsed() < limit {
        match stream.read(&mut buffer) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                bad += pattern.count_mismatches(bytes, &buffer[..n]);
                bytes += n as u64;
            }
            Err(error) if is_timeout(&error) => {}
            Err(error) => {
                let _ = writeln!(io::stderr(), "receive: {error}");
                break;
            }
        }
        let elapsed = accepted.elapsed();
        if elapsed >= next_report {
            let t_ms = elapsed.as_millis() as u64;
            report(PeerLine::Progress { t_ms, bytes })?;
            next_report = elapsed + PROGRESS_EVERY;
        }
    }
    let t_ms = accepted.elapsed().as_millis() as u64;
    report(PeerLine::Progress { t_ms, bytes })?;
    report(PeerLine::Done { bytes, bad, eof })?;
    // Closing the stream tells the sender that everything arrived.
    drop((stream, listener));
    Ok(())
}

/// Connects to `to` and writes the pattern for `seconds`, then closes its
/// side and waits (at most [`CLOSE_WAIT`]) for the receiver to close too.
/// `send_buffer` caps the socket's send buffer (see [`limit_send_buffer`]).
pub fn send(to: SocketAddr, seconds: u64, send_buffer: Option<u32>) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
    if let Some(bytes) = send_buffer {
        limit_send_buffer(&stream, bytes)?;
    }
    // A stalled connection would block a write forever once the send buffer
    // is full; with a timeout the loop gets to check its deadline.
    stream.set_write_timeout(Some(Duration::from_millis(100)))?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let pattern = Pattern::new();
    let mut sent = 0u64;
    while Instant::now() < deadline {
        match stream.write(pattern.at(sent, CHUNK)) {
            Ok(n) => sent += n as u64,
            Err(error) if is_timeout(&error) => {}
            Err(error) => {
                let _ = writeln!(io::stderr(), "send: {error}");
                break;
            }
        }
    }
    // The FIN goes out after the data still buffered; the receiver closes
    // once it has read it all, so a prompt close means full delivery.
    let _ = stream.shutdown(Shutdown::Write);
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let waiting = Instant::now();
    let mut sink = [0u8; 4096];
    while waiting.elapsed() < CLOSE_WAIT {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if is_timeout(&error) => {}
            Err(_) => break,
        }
    }
    report(PeerLine::Sent { bytes: sent })
}

/// Sets SO_SNDBUF, which also stops the kernel from growing the buffer by
/// itself (up to 4 MB): on a slow path what is buffered when the sender
/// stops would otherwise take many seconds to arrive. The kernel doubles the
/// value for its bookkeeping. SO_SNDBUFFORCE is SO_SNDBUF without the
/// `net.core.wmem_max` cap, for root (which the demo's peers are).
fn limit_send_buffer(stream: &TcpStream, bytes: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let mut result = Ok(());
    for option in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
        // SAFETY: the descriptor is open (owned by `stream`) and the option
        // value points to a live c_int of the length given.
        let status = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if status == 0 {
            return Ok(());
        }
        result = Err(io::Error::last_os_error());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_the_byte_index_modulo_251() {
        assert_eq!(pattern_byte(0), 0);
        assert_eq!(pattern_byte(250), 250);
        assert_eq!(pattern_byte(251), 0);
        assert_eq!(pattern_byte(1000), (1000 % 251) as u8);
        let pattern = Pattern::new();
        for offset in [0u64, 1, 250, 251, 252, 1 << 40] {
            let slice = pattern.at(offset, 600);
            assert_eq!(slice.len(), 600);
            for (i, byte) in slice.iter().enumerate() {
                assert_eq!(
                    *byte,
                    pattern_byte(offset + i as u64),
                    "offset {offset}+{i}"
                );
            }
        }
        assert_eq!(pattern.at(7, CHUNK).len(), CHUNK);
    }

    #[test]
    fn verifier_accepts_the_pattern_at_any_offset_and_size() {
        let pattern = Pattern::new();
        let stream: Vec<u8> = (0..3 * CHUNK as u64 + 77).map(pattern_byte).collect();
        assert_eq!(pattern.count_mismatches(0, &stream), 0);
        // Split as reads might split it.
        let mut offset = 0;
        for size in [1, 250, 251, CHUNK - 1, CHUNK + 3, 5000] {
            let piece = &stream[offset..offset + size];
            assert_eq!(pattern.count_mismatches(offset as u64, piece), 0);
            offset += size;
        }
        assert_eq!(pattern.count_mismatches(0, &[]), 0);
    }

    #[test]
    fn verifier_counts_corrupted_lost_and_repeated_bytes() {
        let pattern = Pattern::new();
        let mut data: Vec<u8> = (0..10_000u64).map(pattern_byte).collect();
        data[5] ^= 1;
        data[9_999] = data[9_999].wrapping_add(1);
        assert_eq!(pattern.count_mismatches(0, &data), 2);

        // A lost byte shifts everything after it.
        let good: Vec<u8> = (0..1_000u64).map(pattern_byte).collect();
        let mut lost = good.clone();
        lost.remove(100);
        assert_eq!(pattern.count_mismatches(0, &lost), 899);

        // So does data at the wrong offset (a repeated block).
        assert_eq!(pattern.count_mismatches(1, &good[..251]), 251);
    }

    #[test]
    fn lines_round_trip() {
        for line in [
            PeerLine::Listening { port: 5201 },
            PeerLine::Accepted,
            PeerLine::Progress {
                t_ms: 100,
                bytes: 1_250_000,
            },
            PeerLine::Done {
                bytes: 12,
                bad: 0,
                eof: true,
            },
            PeerLine::Done {
                bytes: 0,
                bad: 3,
                eof: false,
            },
            PeerLine::Sent { bytes: u64::MAX },
        ] {
            assert_eq!(PeerLine::parse(&line.to_string()), Some(line), "{line}");
        }
    }

    #[test]
    fn line_formats() {
        let progress = PeerLine::Progress {
            t_ms: 300,
            bytes: 42,
        };
        assert_eq!(progress.to_string(), "t_ms=300 bytes=42");
        assert_eq!(
            PeerLine::parse("done bytes=5 bad=0 eof=false"),
            Some(PeerLine::Done {
                bytes: 5,
                bad: 0,
                eof: false
            })
        );
    }

    #[test]
    fn other_lines_are_ignored() {
        for line in [
            "",
            "hello",
            "t_ms=x bytes=1",
            "t_ms=1",
            "done bytes=1 bad=0",
            "done bytes=1 bad=0 eof=maybe",
            "sent",
            "sent bytes=-1",
            "listening port=70000",
            "mptcpize-rs[12]: socket(...) -> 3: converted to MPTCP",
        ] {
            assert_eq!(PeerLine::parse(line), None, "{line:?}");
        }
    }
}
