//! mptcpize-rs: give unmodified Linux programs Multipath TCP by
//! LD_PRELOADing a shim that opens TCP stream sockets as IPPROTO_MPTCP, or,
//! for programs LD_PRELOAD cannot reach (static, Go), by a seccomp
//! supervisor that does the same from outside ([`seccomp`]).
//!
//! One module per subcommand (`run`, `enable`, `disable`, `status`, `demo`,
//! `check`, `inspect`); the others are building blocks they share.
//! Messages are returned without the `mptcpize-rs: ` prefix; the binary adds
//! it when printing.

pub mod check;
pub mod demo;
pub mod disable;
pub mod dropin;
pub mod elf;
pub mod enable;
pub mod engine;
pub mod exit_code;
pub mod failure;
pub mod foreground;
pub mod in_root;
pub mod inspect;
pub mod json;
pub mod mptcp_info;
pub mod mptcp_pm;
pub mod netlink;
pub mod netns;
pub mod output_file;
pub mod preload_env;
pub mod process_sockets;
pub mod program;
pub mod report;
pub mod rules;
pub mod run;
pub mod seccomp;
pub mod shim;
pub mod sock_diag;
pub mod status;
pub mod systemd;
pub mod terminal;
pub mod testnet;
pub mod unit_env;
pub mod unit_name;
pub mod version;

#[cfg(test)]
mod test_support;

/// Name used to prefix every message.
pub const TOOL_NAME: &str = "mptcpize-rs";
