//! The socket options a swap to plain TCP carries: every option MPTCP
//! accepts and reads back (checked on kernel 6.18). The shim's swap
//! (`preload/src/swap.rs`) and the seccomp supervisor's
//! (`launcher/src/engine/seccomp/swap.rs`) carry the same list, so a swap
//! is as invisible with either engine.

use libc::c_int;

/// Options copied to the TCP socket when their value differs from a fresh
/// TCP socket's: every option MPTCP accepts and reads back (checked on
/// kernel 6.18). Also names options in the debug log.
pub const OPTIONS: &[(c_int, c_int, &str)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR, "SO_REUSEADDR"),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT, "SO_REUSEPORT"),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE, "SO_KEEPALIVE"),
    (libc::SOL_SOCKET, libc::SO_RCVBUF, "SO_RCVBUF"),
    (libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF"),
    (libc::SOL_SOCKET, libc::SO_LINGER, "SO_LINGER"),
    (libc::SOL_SOCKET, libc::SO_RCVTIMEO, "SO_RCVTIMEO"),
    (libc::SOL_SOCKET, libc::SO_SNDTIMEO, "SO_SNDTIMEO"),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT, "SO_RCVLOWAT"),
    (libc::SOL_SOCKET, libc::SO_PRIORITY, "SO_PRIORITY"),
    (libc::SOL_SOCKET, libc::SO_MARK, "SO_MARK"),
    (libc::SOL_SOCKET, libc::SO_BINDTODEVICE, "SO_BINDTODEVICE"),
    (libc::SOL_SOCKET, SO_BINDTOIFINDEX, "SO_BINDTOIFINDEX"),
    (libc::SOL_SOCKET, libc::SO_DEBUG, "SO_DEBUG"),
    (libc::SOL_SOCKET, libc::SO_INCOMING_CPU, "SO_INCOMING_CPU"),
    (libc::SOL_SOCKET, libc::SO_BUSY_POLL, "SO_BUSY_POLL"),
    (libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL"),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMP, "SO_TIMESTAMP"),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, "SO_TIMESTAMPNS"),
    (libc::SOL_SOCKET, SO_TIMESTAMP_NEW, "SO_TIMESTAMP_NEW"),
    (libc::SOL_SOCKET, SO_TIMESTAMPNS_NEW, "SO_TIMESTAMPNS_NEW"),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPING, "SO_TIMESTAMPING"),
    (libc::SOL_IP, libc::IP_TOS, "IP_TOS"),
    (libc::SOL_IP, libc::IP_FREEBIND, "IP_FREEBIND"),
    (libc::SOL_IP, libc::IP_TRANSPARENT, "IP_TRANSPARENT"),
    (
        libc::SOL_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        "IP_BIND_ADDRESS_NO_PORT",
    ),
    (libc::SOL_IP, IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE"),
    (libc::SOL_IPV6, libc::IPV6_V6ONLY, "IPV6_V6ONLY"),
    (libc::SOL_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND"),
    (libc::SOL_IPV6, IPV6_TRANSPARENT, "IPV6_TRANSPARENT"),
    (libc::SOL_TCP, libc::TCP_NODELAY, "TCP_NODELAY"),
    (libc::SOL_TCP, libc::TCP_CORK, "TCP_CORK"),
    (libc::SOL_TCP, libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
    (libc::SOL_TCP, libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
    (libc::SOL_TCP, libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
    (libc::SOL_TCP, libc::TCP_CONGESTION, "TCP_CONGESTION"),
    (libc::SOL_TCP, libc::TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT"),
    (libc::SOL_TCP, libc::TCP_FASTOPEN, "TCP_FASTOPEN"),
    (
        libc::SOL_TCP,
        libc::TCP_FASTOPEN_CONNECT,
        "TCP_FASTOPEN_CONNECT",
    ),
    (libc::SOL_TCP, libc::TCP_MAXSEG, "TCP_MAXSEG"),
    (libc::SOL_TCP, libc::TCP_INQ, "TCP_INQ"),
    (libc::SOL_TCP, libc::TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT"),
];

/// Options carried through another entry of [`OPTIONS`]: the forced buffer
/// sizes read back as `SO_RCVBUF`/`SO_SNDBUF` (and are forced again when
/// needed), the 64-bit timeouts as `SO_RCVTIMEO`/`SO_SNDTIMEO`.
pub const ALSO_CARRIED: &[(c_int, c_int, &str)] = &[
    (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, "SO_RCVBUFFORCE"),
    (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, "SO_SNDBUFFORCE"),
    (libc::SOL_SOCKET, SO_RCVTIMEO_NEW, "SO_RCVTIMEO_NEW"),
    (libc::SOL_SOCKET, SO_SNDTIMEO_NEW, "SO_SNDTIMEO_NEW"),
];

// Linux option numbers the libc crate may not name on every target.
const SO_BINDTOIFINDEX: c_int = 62;
const SO_PREFER_BUSY_POLL: c_int = 69;
const SO_TIMESTAMP_NEW: c_int = 63;
const SO_TIMESTAMPNS_NEW: c_int = 64;
const SO_RCVTIMEO_NEW: c_int = 66;
const SO_SNDTIMEO_NEW: c_int = 67;
const IP_LOCAL_PORT_RANGE: c_int = 51;
const IPV6_TRANSPARENT: c_int = 75;
const IPV6_FREEBIND: c_int = 78;
