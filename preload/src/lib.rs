//! The mptcpize-rs preload shim.
//!
//! Loaded with `LD_PRELOAD`, it defines `socket()` so that TCP stream sockets are
//! opened as Multipath TCP (`IPPROTO_MPTCP`), and falls back to the caller's own
//! protocol whenever MPTCP cannot be created, so a program never breaks.
//!
//! Layout (one file per intercepted call, logic kept apart from FFI):
//! - `socket`: the exported `socket()` detour;
//! - `connect`, `listen`, `setsockopt`: where a converted socket may be
//!   swapped back to plain TCP (`swap`) when the `rules` (loopback,
//!   `--exclude`, ...) or an option MPTCP rejects call for it;
//! - `close`, `dup` (`dup`/`dup2`/`dup3`), `fcntl` (`F_DUPFD`), `sendmsg`
//!   (`SCM_RIGHTS`): keep `fds` (the lock-free set of converted, still
//!   undecided descriptors) right; a socket shared before its decision is
//!   never swapped (`shared`, which also watches `fork()`);
//! - `getsockopt`: reads of options MPTCP rejects answer as plain TCP;
//! - `epoll`: `epoll_ctl`, whose registrations of undecided sockets
//!   `registrations` records so that a swap carries them;
//! - `user_memory`: reading a program's pointers without faulting;
//! - `policy`, `rules`: pure decisions (which sockets to convert, which errors
//!   mean "MPTCP is absent", which destinations stay TCP), unit-tested
//!   without FFI;
//! - `availability`: what this process has learned about MPTCP being absent;
//! - `real`: the next definitions of the wrapped functions (libc's), each
//!   looked up on its first call by `next`, which takes no lock;
//! - `sys`: the shim's own system calls, through libc's `syscall()`;
//! - `config`: settings read once from the environment when the library loads
//!   (none under secure execution: setuid programs get the defaults);
//! - `debug_log`: the optional one-line-per-decision log;
//! - `report`: counters shared by a process tree for `run --report`, in a
//!   sealed memfd the launcher passes on an inherited descriptor.
//!
//! The crate is `no_std` and built with `panic = "abort"`: no allocator, no
//! unwinding, no formatting machinery, so the library stays a few KiB and its
//! hot path is a handful of instructions. Loading it costs every process
//! about what loading the reference's one-function library costs (issue 20):
//! four imports, a constructor that only reads the environment, no lookups
//! until a wrapped call needs one (`build.rs`, `sys`, `next`, `mptcpize_mem`).
#![cfg_attr(not(test), no_std)]
// Unit tests exercise the pure parts; the entry points are not exported in
// the test harness (it must not interpose `socket` on itself).
#![cfg_attr(test, allow(dead_code))]

// The contract with the launcher: settings, rules, report table layout.
use core::ffi::{c_char, c_int};
use mptcpize_contract::{env, report_layout, rules};

// The compiler's memory functions, inside the library (`mem`'s docs say
// why); not in the unit tests, which use the standard library's.
#[cfg(not(test))]
use mptcpize_mem as _;

mod availability;
mod close;
mod config;
mod connect;
mod debug_log;
mod dup;
mod epoll;
mod fcntl;
mod fds;
mod getsockopt;
mod listen;
mod next;
mod policy;
mod real;
mod registrations;
mod report;
mod sendmsg;
mod setsockopt;
mod shared;
mod socket;
mod swap;
mod sys;
mod user_memory;

/// Never unwind into the C program: abort instead. Nothing in the shim is
/// expected to panic; this only makes the guarantee explicit.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::abort()
}

/// Runs once when the dynamic loader maps the library, before the program's
/// `main`: reads the configuration, so the hot paths never touch the
/// environment, watches `fork()`, and finds the next `socket` without a
/// lock (`real::prepare`, which falls back to `dlsym` for every wrapped
/// call where it cannot). Nothing else: this runs in every process, and
/// the other lookups wait for the first call that needs them (issue 20).
///
/// glibc calls `.init_array` functions with `argc`, `argv` and the
/// environment, as Rust's own standard library relies on for
/// `std::env::args`; reading `envp` spares an import of `getenv`.
extern "C" fn on_load(_argc: c_int, _argv: *const *const c_char, envp: *const *const c_char) {
    // SAFETY: glibc passes the process's environment, null-terminated.
    unsafe { config::load(envp) };
    shared::watch_forks();
    real::prepare();
}

#[cfg(not(target_env = "gnu"))]
compile_error!("the shim reads its environment as glibc passes it to constructors (lib.rs)");

/// Registers `on_load` as an ELF constructor, as the `ctor` crate would, in
/// two lines instead of a dependency.
#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = on_load;

/// Precompiled `core` refers to the unwinding personality routine even though
/// this library never unwinds (`panic = "abort"`); optimised builds drop the
/// reference with link-time optimisation, unoptimised ones keep it and would
/// fail to load. Nothing ever calls it. Only in unoptimised builds, so the
/// shipped library exports the wrapped functions alone.
#[cfg(all(not(test), debug_assertions))]
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
