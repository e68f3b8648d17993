//! Helpers shared by the mptcpize-rs integration tests.
//!
//! Everything here runs real programs (the launcher, the shim, system tools)
//! and every wait is bounded in time. Missing prerequisites make the calling
//! test panic with an explanation: a test never passes silently because the
//! environment could not run it.
//!
//! Modules:
//! - [`apps`]: real programs for the compatibility suite (nginx, haproxy,
//!   python3 servers, curl requests compared with the served bytes) and a
//!   namespace's MPTCP counters before and after.
//! - [`workspace`]: build the workspace once per test process and locate the
//!   launcher, the shim, the `sockprobe` helper and the C fixtures.
//! - [`prereq`]: `require_root`, `require_program`, `require_mptcp`.
//! - [`process`]: child guards that kill on drop, bounded waits, captured output.
//! - [`netns`]: namespaces (the launcher library's guard, the two-path
//!   network) and test views of their sockets and counters.
//! - [`mptcp_echo`]: proof that data flows over MPTCP with a second
//!   subflow (or fell back to TCP), from what the kernel says of one
//!   connection and of both ends' counters.
//! - [`fs`]: unique temporary directories and file/byte helpers.
//! - [`reach`]: the probe of which engine reaches which sockets (libc,
//!   raw system calls, io_uring) and a dynamically linked Go program.
//! - [`seccomp`]: static busybox, the Go client fixture, the seccomp
//!   engine's `-d` lines, its background supervisor.
//! - [`systemd`]: a real systemd booted as PID 1 in a throwaway container
//!   (`systemd-nspawn` over an overlay of a cached Debian root filesystem).

pub mod apps;
pub mod fs;
pub mod http;
pub mod json;
pub mod mptcp_echo;
pub mod netns;
pub mod prereq;
pub mod process;
pub mod reach;
pub mod seccomp;
pub mod systemd;
pub mod workspace;

pub use fs::{TempDir, assert_same_bytes, random_bytes, snapshot, write_file, write_file_mode};
pub use http::{BLOB_SIZE, Client, HTTP_PORT, HttpServer, clean_env, fetch, path_str};
pub use mptcp_echo::{MptcpEcho, mptcp_echo};
pub use netns::{
    Netns, NetnsExt, TwoPathNet, joins, netns, two_path_net, wait_for_listen, wait_for_listen_of,
};
pub use prereq::{is_root, require_mptcp, require_program, require_root};
pub use process::{
    ChildGuard, CmdOutput, SETPRIV_NOBODY, my_turn, run_timeout, tail, wait_timeout,
};
pub use seccomp::{
    background_supervisor_pid, build_connprobe, build_gofetch, build_optprobe, process_running,
    seccomp_conversions, seccomp_lines, static_busybox, wait_for_file, wait_process_gone,
};
pub use systemd::{CONTAINER_LAUNCHER, CONTAINER_SHIM, ContainerPaths, SystemdContainer};
pub use workspace::{
    build_fixture, build_other_preload, ensure_built, fixture, is_dynamically_linked, launcher,
    shim, sockprobe, target_dir, workspace_root,
};

use std::time::Duration;

/// Default bound for short commands (launcher invocations, `ip`, `ss`, ...).
pub const SHORT: Duration = Duration::from_secs(30);
/// Bound for transfers and other slower operations.
pub const LONG: Duration = Duration::from_secs(120);

/// Protocol numbers `sockprobe sockets` reports.
pub const MPTCP: i32 = 262;
pub const TCP: i32 = 6;
pub const UDP: i32 = 17;

/// TCP stream sockets `sockprobe sockets` creates (with protocol 0 or TCP).
pub const TCP_CASES: &[&str] = &[
    "tcp4",
    "tcp6",
    "tcp4-explicit",
    "tcp4-flags",
    "tcp6-explicit",
    "tcp6-flags",
];
/// Cases created with SOCK_NONBLOCK | SOCK_CLOEXEC.
pub const FLAG_CASES: &[&str] = &["tcp4-flags", "tcp6-flags"];

/// `mptcpize-rs ARGS...` with a clean environment for the variables under
/// test ([`clean_env`]).
pub fn launch<I, S>(args: I) -> std::process::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = std::process::Command::new(launcher());
    clean_env(&mut cmd);
    cmd.args(args);
    cmd
}

/// `mptcpize-rs ARGS...` inside `ns`, with a clean environment for the
/// variables under test ([`clean_env`]).
pub fn launch_in<I, S>(ns: &Netns, args: I) -> std::process::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = ns.cmd(launcher());
    clean_env(&mut cmd);
    cmd.args(args);
    cmd
}

/// Runs the launcher with ARGS (bounded by [`SHORT`]) and captures its output.
pub fn mptcpize<I, S>(args: I) -> CmdOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_timeout(&mut launch(args), SHORT)
}

/// Parse `sockprobe sockets` output into `(name, fields)` pairs, where
/// `fields` are the whitespace separated words after the name.
pub fn parse_probe(stdout: &str) -> Vec<(String, Vec<String>)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?.to_string();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

/// The protocol number `sockprobe sockets` reported for socket `name`.
/// Panics (showing the whole output) if the socket is missing or failed.
pub fn probe_protocol(stdout: &str, name: &str) -> i32 {
    let lines = parse_probe(stdout);
    let Some((_, fields)) = lines.iter().find(|(n, _)| n == name) else {
        panic!("sockprobe printed no line for {name:?}; output:\n{stdout}");
    };
    match fields.first().map(|f| f.parse::<i32>()) {
        Some(Ok(p)) => p,
        _ => panic!("socket {name:?} was not created correctly: {fields:?}; output:\n{stdout}"),
    }
}

/// The `key=value` flag `key` that `sockprobe sockets` printed for `name`.
pub fn probe_flag(stdout: &str, name: &str, key: &str) -> String {
    let lines = parse_probe(stdout);
    let Some((_, fields)) = lines.iter().find(|(n, _)| n == name) else {
        panic!("sockprobe printed no line for {name:?}; output:\n{stdout}");
    };
    let prefix = format!("{key}=");
    fields
        .iter()
        .find_map(|f| f.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key}= for {name:?}; output:\n{stdout}"))
        .to_string()
}

/// Lines written by the shim in debug mode (`mptcpize-rs[PID]: ...`).
pub fn shim_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("mptcpize-rs["))
        .collect()
}

/// The PIDs that appear in shim debug lines (`mptcpize-rs[PID]`).
pub fn shim_line_pids(text: &str) -> std::collections::BTreeSet<u32> {
    shim_lines(text)
        .iter()
        .filter_map(|l| {
            let rest = &l[l.find("mptcpize-rs[")? + "mptcpize-rs[".len()..];
            rest[..rest.find(']')?].parse().ok()
        })
        .collect()
}

/// Environment variables that would send HTTP clients through a proxy.
pub const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ftp_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "FTP_PROXY",
];
