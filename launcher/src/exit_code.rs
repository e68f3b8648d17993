//! Exit statuses of the launcher itself, following env(1) and timeout(1)
//! so scripts can tell the wrapper's failures from the program's.

/// Bad command line (clap's own usage-error status).
pub const USAGE: u8 = 2;
/// The launcher failed before it could exec the program.
pub const LAUNCHER_FAILED: u8 = 125;
/// The program was found but could not be executed.
pub const CANNOT_EXECUTE: u8 = 126;
/// The program was not found.
pub const NOT_FOUND: u8 = 127;
