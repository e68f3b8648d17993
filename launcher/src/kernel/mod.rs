//! The kernel's interfaces the launcher talks to: generic netlink and the
//! MPTCP path manager, sock_diag and `struct mptcp_info`, another process's
//! sockets, network namespaces, and the descriptors (sockets, pidfds) several
//! rooms make. No policy here: subcommands decide.

pub mod fd;
pub mod mptcp_info;
pub mod mptcp_pm;
pub mod netlink;
pub mod netns;
pub mod process_sockets;
pub mod sock_diag;
