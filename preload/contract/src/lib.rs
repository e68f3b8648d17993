//! The contract between the `mptcpize-rs` launcher and its preload shim:
//! everything both sides must agree on, in one place, so they cannot
//! drift apart.
//!
//! - [`env`]: the environment variables the launcher sets and the shim
//!   reads;
//! - [`rules`]: the connect-time rules' canonical text, its parser and its
//!   matching (the shim parses at load; the launcher builds and validates);
//! - [`report_layout`]: the layout of `run --report`'s shared counter table
//!   (the shim writes it; the launcher reads it);
//! - [`log`]: how the `MPTCPIZE_RS_LOG` file is opened (the shim and the
//!   seccomp supervisor both write it);
//! - [`swap_options`]: the socket options a swap to plain TCP carries (the
//!   shim's swap and the seccomp supervisor's carry the same).
//!
//! `no_std`, no allocation, `libc` only: the shim links it into every
//! process it is loaded into, and its code runs only where the shim calls
//! it (parsing at load, matching at a converted socket's first
//! `connect()`), never on the `socket()` hot path.
#![cfg_attr(not(test), no_std)]

pub mod env;
pub mod log;
pub mod report_layout;
pub mod rules;
pub mod swap_options;
