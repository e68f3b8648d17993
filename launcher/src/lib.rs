//! mptcpize-rs: give unmodified Linux programs Multipath TCP by
//! LD_PRELOADing a shim that opens TCP stream sockets as IPPROTO_MPTCP, or,
//! for programs LD_PRELOAD cannot reach (static, Go), by a seccomp
//! supervisor that does the same from outside ([`seccomp`]).
//!
//! One room per concern (ARCHITECTURE.md is the map): `cli` (the clap
//! grammar), `run` (launching a program), `engine` (the preload shim and the
//! seccomp supervisor), `systemd` (`enable`, `disable`, `status` and unit
//! files), `kernel` (netlink, sock_diag, the path manager, namespaces), and
//! the subcommands `check`, `inspect`, `demo`, `testnet`; `rules`,
//! `terminal` and `terminal_json` (text others chose, as text and in
//! `--json` documents), `failure`,
//! `exit_code` and `version` are shared by several.
//! Messages are returned without the `mptcpize-rs: ` prefix; the binary adds
//! it when printing.

pub mod check;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod exit_code;
pub mod failure;
pub mod inspect;
pub mod kernel;
pub mod rules;
pub mod run;
pub mod systemd;
pub mod terminal;
pub mod terminal_json;
pub mod testnet;
pub mod version;

#[cfg(test)]
mod test_support;

/// Name used to prefix every message.
pub const TOOL_NAME: &str = "mptcpize-rs";
