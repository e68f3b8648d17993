//! The connect-time swap is invisible (issue 14): what a program observes of
//! its socket around `connect()` (epoll registrations and events, shared
//! descriptors, SIGIO, options, errors for bad pointers) is the same under
//! `run` as without it, whichever rule decides. `swapprobe` prints what it
//! observes; each case runs bare, under `run` (loopback: swapped to TCP),
//! `run --loopback` (stays MPTCP), `run --loopback --exclude-port PORT`
//! (swapped by a port rule) and the reference `mptcpize run` (never swaps),
//! and every observation but the protocol must match the bare run's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::thread;

use mptcpize_rs_tests::*;

/// An echo server on `host` (loopback): every byte comes back. Runs until
/// the test process ends; each connection is served by its own thread.
fn echo_server(host: &str) -> SocketAddr {
    let listener = TcpListener::bind((host, 0)).expect("bind the echo server");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn swapprobe() -> std::path::PathBuf {
    target_dir().join("debug").join("swapprobe")
}

/// How a case is run, and the protocol its socket must end with.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Bare,
    Run,
    Loopback,
    ExcludePort,
    Reference,
}

/// Every wrapped mode.
const ALL: &[Mode] = &[
    Mode::Run,
    Mode::Loopback,
    Mode::ExcludePort,
    Mode::Reference,
];
/// The modes in which mptcpize-rs swaps the socket to TCP.
const SWAPPING: &[Mode] = &[Mode::Run, Mode::ExcludePort];
/// Every mptcpize-rs mode (where the reference differs from bare).
const OURS: &[Mode] = &[Mode::Run, Mode::Loopback, Mode::ExcludePort];

fn run_case(mode: Mode, case: &str, addr: &SocketAddr) -> String {
    let port = addr.port().to_string();
    let mut cmd = match mode {
        Mode::Bare => Command::new(swapprobe()),
        Mode::Reference => {
            let mut cmd = Command::new(require_program("mptcpize"));
            cmd.arg("run").arg(swapprobe());
            cmd
        }
        _ => {
            let mut cmd = Command::new(launcher());
            cmd.arg("run");
            match mode {
                Mode::Loopback => {
                    cmd.arg("--loopback");
                }
                Mode::ExcludePort => {
                    cmd.args(["--loopback", "--exclude-port", &port]);
                }
                _ => {}
            }
            cmd.arg("--").arg(swapprobe());
            cmd
        }
    };
    clean_env(&mut cmd);
    cmd.args([case, &addr.ip().to_string(), &port]);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    out.stdout.clone()
}

/// The observations, without the protocol line.
fn observations(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("protocol "))
        .collect()
}

fn protocol_of(stdout: &str) -> i32 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("protocol "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no protocol line in:\n{stdout}"))
}

/// Runs `case` bare and in `modes` against an echo server on `host`;
/// checks the observations against the bare run's and the protocol against
/// `want`, which gives the protocol expected in each mode. Returns the bare
/// run's output.
fn same_as_bare(modes: &[Mode], case: &str, host: &str, want: impl Fn(Mode) -> i32) -> String {
    require_mptcp();
    ensure_built();
    let addr = echo_server(host);
    let bare = run_case(Mode::Bare, case, &addr);
    assert_eq!(protocol_of(&bare), TCP, "{case} bare:\n{bare}");
    for &mode in modes {
        let out = run_case(mode, case, &addr);
        assert_eq!(
            observations(&out),
            observations(&bare),
            "{case} to {host}, {mode:?} differs from bare:\n{out}\nbare:\n{bare}"
        );
        assert_eq!(
            protocol_of(&out),
            want(mode),
            "{case} to {host}, {mode:?}:\n{out}"
        );
    }
    bare
}

/// The second opinion where it differs from bare: the reference's output
/// for `case` must show the line `expected` (what an MPTCP socket gives
/// without the shim's help) where bare shows another.
fn reference_differs(case: &str, host: &str, bare: &str, expected: &str) {
    let out = run_case(Mode::Reference, case, &echo_server(host));
    assert!(
        out.lines().any(|l| l == expected) && !bare.lines().any(|l| l == expected),
        "{case}: the reference was expected to show {expected:?}\n{out}\nbare:\n{bare}"
    );
}

/// Swapped to TCP by the loopback default and by a port rule; MPTCP where
/// nothing swaps.
fn swapped(mode: Mode) -> i32 {
    match mode {
        Mode::Bare | Mode::Run | Mode::ExcludePort => TCP,
        Mode::Loopback | Mode::Reference => MPTCP,
    }
}

/// Never swapped: a socket shared before connect() stays MPTCP.
fn kept(mode: Mode) -> i32 {
    match mode {
        Mode::Bare => TCP,
        _ => MPTCP,
    }
}

#[test]
fn epoll_registration_made_before_connect_survives_the_swap() {
    for host in ["127.0.0.1", "::1"] {
        same_as_bare(ALL, "epoll-et", host, swapped);
    }
}

#[test]
fn epoll_oneshot_stays_oneshot_armed_or_fired() {
    same_as_bare(ALL, "epoll-oneshot", "127.0.0.1", swapped);
    same_as_bare(ALL, "epoll-fired", "127.0.0.1", swapped);
}

#[test]
fn epoll_registrations_in_two_instances_survive() {
    same_as_bare(ALL, "epoll-two", "127.0.0.1", swapped);
}

#[test]
fn sockets_shared_before_connect_are_never_swapped() {
    for case in ["dup", "dup2", "dupfd", "scm-rights", "fork"] {
        same_as_bare(ALL, case, "127.0.0.1", kept);
    }
}

/// Without `kcmp` and `process_vm_readv` (denied with EPERM, as in a
/// container's default seccomp profile), epoll registrations are still
/// carried: the shim confirms them from the epoll descriptor's fdinfo, by
/// inode, and reads the connect() address directly.
#[test]
fn epoll_registrations_survive_without_kcmp() {
    for case in [
        "nokcmp:epoll-et",
        "nokcmp:epoll-oneshot",
        "nokcmp:epoll-two",
    ] {
        same_as_bare(SWAPPING, case, "127.0.0.1", swapped);
    }
}

/// Compared where the socket is swapped: whether an MPTCP socket signals
/// its owner when the connection is established varies from run to run
/// (the kernel's MPTCP, seen with the reference too).
#[test]
fn sigio_owner_and_async_survive_the_swap() {
    same_as_bare(SWAPPING, "sigio", "127.0.0.1", swapped);
}

/// Compared where the socket is swapped: a connected MPTCP socket itself
/// reads some options back differently from TCP (on 6.18, TCP_INQ 0 and
/// TCP_NOTSENT_LOWAT -1 after they were set), which is the kernel's, not
/// the shim's, doing.
#[test]
fn options_set_before_connect_read_back_the_same() {
    for host in ["127.0.0.1", "::1"] {
        same_as_bare(SWAPPING, "options", host, swapped);
    }
}

/// haproxy sets TCP_USER_TIMEOUT=0 on its listeners: the value a fresh
/// socket has, so the listener stays MPTCP (the protocol line is the
/// listener's).
/// The reference answers ENOPROTOOPT, as MPTCP does.
#[test]
fn an_option_at_its_default_keeps_a_listener_mptcp() {
    let bare = same_as_bare(OURS, "user-timeout", "127.0.0.1", kept);
    reference_differs("user-timeout", "127.0.0.1", &bare, "set errno 92");
}

/// Bad addresses get the kernel's EFAULT, never a crash in the shim; the
/// socket is still usable (and still swapped by the rules) afterwards.
#[test]
fn bad_pointers_get_efault() {
    same_as_bare(ALL, "bad-pointers", "127.0.0.1", swapped);
    let out = run_case(Mode::Run, "bad-pointers", &echo_server("127.0.0.1"));
    for key in [
        "connect",
        "bind",
        "setsockopt-keepalive",
        "setsockopt-user-timeout",
    ] {
        assert!(
            out.lines()
                .any(|l| l == format!("{key} errno {}", libc::EFAULT)),
            "{key} must fail with EFAULT:\n{out}"
        );
    }
}
