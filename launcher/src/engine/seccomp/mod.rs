//! The seccomp engine: MPTCP for programs LD_PRELOAD cannot reach
//! (statically linked programs, Go programs), without root.
//!
//! # How it works
//!
//! `run` forks. The child sets `no_new_privs`, installs a seccomp filter
//! ([`filter`]) with a notification listener, hands the listener to the
//! parent over a socket pair (`SCM_RIGHTS`) and execs the program. The
//! filter sends only `socket(AF_INET|AF_INET6, SOCK_STREAM[|flags],
//! 0|IPPROTO_TCP)` to the parent; every other system call runs in the kernel
//! at full speed. The parent, the supervisor ([`supervisor`]), answers each
//! such call: it creates the socket itself with `IPPROTO_MPTCP` and the same
//! type flags, and installs it in the caller with
//! `SECCOMP_IOCTL_NOTIF_ADDFD` + `SECCOMP_ADDFD_FLAG_SEND`, which also makes
//! the caller's `socket()` return that descriptor (`SOCK_CLOEXEC` becomes
//! the new descriptor's `O_CLOEXEC`). If MPTCP cannot be created (disabled
//! with `net.mptcp.enabled=0`, not built in) or the caller is in another
//! network namespace, it answers "continue": the kernel makes the caller's
//! own TCP socket, so the program sees what it would have seen without us.
//!
//! The connection rules (`--loopback`, `--exclude`, `--include`, their
//! port forms, `--no-listen`) apply as with the shim, decided where the
//! shim decides them: when a rule can make a connection TCP the filter
//! also sends inet `connect()` calls, and `listen()` when one can make a
//! listener TCP; [`swap`] reads the destination, asks the contract's rules,
//! and swaps a socket it made to plain TCP in place (`ADDFD` with
//! `SECCOMP_ADDFD_FLAG_SETFD`, then "continue"), only where the swap is
//! invisible to the program (the shim's conditions); otherwise the
//! connection stays MPTCP.
//!
//! Options MPTCP rejects are judged as the shim judges them: the filter
//! also sends `setsockopt()`/`getsockopt()` naming exactly the contract's
//! rejected (level, name) pairs, and [`sockopt`] answers them for a socket
//! the supervisor converted: TCP's errno, success for an option that
//! changes nothing, the swap then "continue" for a real change, and a
//! fresh TCP socket's value (written into the caller's buffers) for a read.
//!
//! `run` returns when the program ends, with its status; when the program
//! died of a signal it kills itself with the same signal (core dumps off),
//! so the caller sees the same death. It forwards SIGINT, SIGTERM, SIGHUP,
//! SIGQUIT, SIGUSR1 and SIGUSR2 sent to it (with kill) to the program; the
//! same signals from the terminal already reach the program through its
//! process group and are not sent twice.
//!
//! The filter is inherited by every process the program starts and cannot
//! be removed, and once nobody reads the listener the kernel fails their
//! TCP `socket()` calls with ENOSYS. So a supervisor stays until no process
//! uses the filter any more (the listener reports `POLLHUP`). When the
//! program has ended and processes it started remain (a daemon, `cmd &`),
//! `run` forks a detached background supervisor that serves them until the
//! last one exits ([`background`]) and returns at once. The common case,
//! nothing left behind, is seen right after the program is reaped: no
//! fork, no delay. `run --report` counts up to the program's end; with
//! `-d`, the background supervisor logs only to a `MPTCPIZE_RS_LOG` file.
//!
//! # Files
//!
//! One job each: [`supervisor`] (the loop and its lifetime), `spawn` (the
//! fork, the child's side until exec, the listener hand-over), `scm_rights`
//! (the messages on the socket pair), `child` (forwarded signals, reaping),
//! `respond` (answering one notification), `decision` (its log line and
//! report count), [`swap`] (the rules at `connect()`/`listen()` and the
//! swap to TCP), `sockopt` (options MPTCP rejects), `converted` (the
//! sockets the supervisor made), `caller` (a caller's memory, read and
//! written, and descriptor table), `log` (where lines go), [`background`] (after the
//! program), [`credentials`] (the caller's identity), [`filter`] (the BPF
//! program) and [`ffi`] (the seccomp system calls and ioctls). Signals and
//! the program's exit status are shared with the preload engine:
//! [`crate::run::signals`], [`crate::exit_code`].
//!
//! # Support detection
//!
//! Without side effects, before anything is started ([`availability`]):
//! `SECCOMP_GET_ACTION_AVAIL` for `SECCOMP_RET_USER_NOTIF` (Linux 5.0+) and
//! `SECCOMP_GET_NOTIF_SIZES`. `SECCOMP_ADDFD_FLAG_SEND` (Linux 5.14+) has no
//! such query; the child probes it after installing the filter and before
//! exec, with an ADDFD for a notification id that does not exist (kernels
//! that know the flag answer ENOENT, older ones EINVAL). If that fails the
//! child exits without running the program, and `run` falls back to
//! LD_PRELOAD (engine `auto`) or stops with a message (engine `seccomp`).
//! This is exact on kernels with backported features, where a version
//! number check would not be.
//!
//! # Limits
//!
//! - A program that installs its own seccomp notification listener: a task
//!   can have only one listener in its filter chain, so that fails with
//!   EBUSY (container runtimes and sandboxing supervisors do this).
//! - A program, or a child of it, that moves to another network namespace:
//!   its sockets stay TCP (the supervisor can only create sockets in its own
//!   namespace).
//! - `no_new_privs`: set-user-ID, set-group-ID and file-capability programs
//!   started under the filter run without gaining those privileges (`auto`
//!   therefore never picks this engine for a set-ID program).
//! - A program that is being ptrace-d (debuggers, strace) works, but a
//!   tracer that rewrites system calls can bypass or confuse the filter.
//! - Only the native ABI is trapped: x32 and 32-bit (i386, `socketcall`)
//!   programs on x86_64 keep TCP.
//! - Sockets created through io_uring (`IORING_OP_SOCKET`) are made in the
//!   kernel without a system call the filter sees: they stay TCP.
//!   `run --no-io-uring` puts [`filter::io_uring_refusal`] in front of the
//!   filter: `io_uring_setup` fails with ENOSYS, and a program that falls
//!   back uses `socket()` (and loses io_uring for the rest of its I/O).
//! - Each converted socket costs two context switches to the supervisor
//!   (tens of microseconds, see the README's benchmark); other calls cost a
//!   few BPF instructions. Under rules that can make a connection TCP (the
//!   default loopback rule included), every inet `connect()` costs one
//!   round trip too (UDP ones as well: the filter cannot tell the socket's
//!   type), a swap some more (BENCHMARKS.md); `--loopback` alone traps no
//!   `connect()`. A `setsockopt()`/`getsockopt()` of an option MPTCP
//!   rejects costs one round trip (on any socket: the filter cannot tell
//!   its protocol); other option calls stop nowhere. The supervisor reads
//!   each converted socket's `SO_COOKIE` (one more system call of its own
//!   per `socket()`) to know it later.
//! - A swap needs ptrace access to the caller (`process_vm_readv`,
//!   `pidfd_getfd`). Yama's `ptrace_scope` 1 allows it to the foreground
//!   supervisor (the program's parent) and, through `PR_SET_PTRACER`, to the
//!   `--keep-pid` one for the program's own process (not for processes it
//!   starts: Yama does not pass the exception on), not to a background supervisor of a non-root run
//!   (the program's parent has exited): there, and under `ptrace_scope` 2
//!   or 3 without root, sockets the rules make TCP stay MPTCP (told with
//!   `-d`).
//! - What a swap cannot see from outside keeps the socket MPTCP only where
//!   it is seen: a copy of the descriptor sent to an unrelated process
//!   (`SCM_RIGHTS`) or taken with `pidfd_getfd`, a copy in a process that
//!   left the program's tree, or an epoll instance only another process
//!   holds, keep the old MPTCP socket after a swap (the shim sees the
//!   first of these, not the others).
//! - If the supervisor is killed with SIGKILL (once in the background or
//!   beside the program it ignores every other signal but a bug's faults),
//!   the processes under the filter get
//!   ENOSYS from every later TCP `socket()` call.
//! - The MPTCP socket is created by the supervisor: it is charged to the
//!   supervisor's memory cgroup (the program's, unless the program moved).
//!   It carries the caller's filesystem user and group ([`credentials`]):
//!   a root supervisor takes them for the call; an unprivileged one runs as
//!   its callers' user anyway. Where a root supervisor cannot take them, the
//!   kernel makes the caller's own TCP socket.

pub mod background;
mod caller;
mod child;
mod converted;
pub mod credentials;
mod decision;
pub mod ffi;
pub mod filter;
mod in_place;
mod log;
mod lookup;
mod respond;
mod scm_rights;
mod sockopt;
mod spawn;
pub mod supervisor;
pub mod swap;

pub use in_place::exec_in_place;
pub use log::LogSink;
pub use supervisor::{SuperviseError, Supervised, Target, supervise};

/// Whether the engine can work on this system, checked without side
/// effects. The error says why not, for the user.
pub fn availability() -> Result<(), String> {
    if filter::native().is_none() {
        return Err("it supports x86_64 and aarch64 only".into());
    }
    if let Err(error) = ffi::user_notif_action_available() {
        return Err(match error.raw_os_error() {
            Some(libc::EOPNOTSUPP) => {
                "the kernel lacks seccomp user notification (Linux 5.0+)".into()
            }
            _ => format!("seccomp filters are not available ({error})"),
        });
    }
    ffi::notif_sizes()
        .map(drop)
        .map_err(|error| format!("seccomp user notification is not available ({error})"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn available_on_the_development_kernel() {
        // Linux 6.18 here; the test documents what the engine needs.
        if let Err(reason) = super::availability() {
            panic!("seccomp engine unavailable: {reason}");
        }
    }
}
