//! How the `MPTCPIZE_RS_LOG` file is opened, by the shim and by the seccomp
//! engine's supervisor alike: never through a symlink in its last component
//! (ELOOP: a link someone planted would make a privileged program write
//! where they chose), never waiting for a FIFO's reader (O_NONBLOCK: ENXIO
//! instead), never as the controlling terminal; then both keep it only if
//! it is a regular file or a terminal.

use libc::{c_int, mode_t};

/// The `open(2)` flags.
pub const OPEN_FLAGS: c_int = libc::O_WRONLY
    | libc::O_APPEND
    | libc::O_CREAT
    | libc::O_CLOEXEC
    | libc::O_NOFOLLOW
    | libc::O_NONBLOCK
    | libc::O_NOCTTY;

/// The mode a new log file is created with (before the umask).
pub const MODE: mode_t = 0o644;
