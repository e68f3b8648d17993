//! The environment variables between the launcher and the shim. The shim
//! reads them once at load, never under secure execution (`AT_SECURE`);
//! what each means is documented in the README's table.

use core::ffi::CStr;

/// The name of one variable, as the shim's `getenv` needs it (a C string)
/// and as the launcher sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var(&'static CStr);

impl Var {
    /// The NUL-terminated name, for `getenv`.
    pub const fn c_name(self) -> &'static CStr {
        self.0
    }

    /// The name.
    pub const fn name(self) -> &'static str {
        match self.0.to_str() {
            Ok(name) => name,
            // Every name below is ASCII: this never happens.
            Err(_) => "",
        }
    }
}

/// What every name below starts with (the shim looks further only at
/// entries that do).
pub const PREFIX: &[u8] = b"MPTCPIZE_RS_";

/// `1`: one debug line per `socket()` decision (`run -d`).
pub const DEBUG: Var = Var(c"MPTCPIZE_RS_DEBUG");
/// `FILE`: the debug lines go to FILE (appending) instead of stderr.
pub const LOG: Var = Var(c"MPTCPIZE_RS_LOG");
/// `1`: never fall back to TCP (`run --require-mptcp`).
pub const REQUIRE: Var = Var(c"MPTCPIZE_RS_REQUIRE");
/// `FD:INODE`: the `run --report` counter table ([`crate::report_layout`]).
pub const REPORT: Var = Var(c"MPTCPIZE_RS_REPORT");
/// The canonical rules text ([`crate::rules`]).
pub const RULES: Var = Var(c"MPTCPIZE_RS_RULES");
/// Read by the launcher only: the shim to preload, instead of the one it
/// finds beside itself or installed.
pub const PRELOAD: Var = Var(c"MPTCPIZE_RS_PRELOAD");

/// Every variable above (the tests clear them all from the host's
/// environment).
pub const ALL: [Var; 6] = [DEBUG, LOG, REQUIRE, REPORT, RULES, PRELOAD];

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::RULES.name(), "MPTCPIZE_RS_RULES");
        assert_eq!(super::LOG.c_name(), c"MPTCPIZE_RS_LOG");
        for var in super::ALL {
            assert!(var.name().as_bytes().starts_with(super::PREFIX), "{var:?}");
        }
    }
}
