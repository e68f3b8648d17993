//! The kernel's interfaces the launcher talks to: generic netlink and the
//! MPTCP path manager, sock_diag and `struct mptcp_info`, another process's
//! sockets, and network namespaces. No policy here: subcommands decide.

pub mod mptcp_info;
pub mod mptcp_pm;
pub mod netlink;
pub mod netns;
pub mod process_sockets;
pub mod sock_diag;
