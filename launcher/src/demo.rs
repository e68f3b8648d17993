//! `mptcpize-rs demo`: multipath at work, in under 20 seconds.
//!
//! Builds the two-path network ([`TwoPathNet`]), runs the same transfer
//! twice, first as plain TCP and then under `mptcpize-rs run`, takes path 1
//! down half way through each, and prints what happened side by side. Both
//! ends of the transfer are this very binary (`demo-peer`, see [`peer`]), so
//! nothing but iproute2 is needed, and the MPTCP run converts them with the
//! project's own shim, the way it would convert any program.
//!
//! Everything created is removed again on success, on error and on Ctrl-C:
//! the peers and the network are guards with destructors, every wait polls
//! for [`interrupt::received`], and the process never panics out of here
//! (the workspace builds with `panic = "abort"`, which would skip them).

pub mod interrupt;
pub mod peer;
pub mod report;

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::failure::Failure;
use crate::kernel::netns::{self, Netns};
use crate::run::program::{self, Resolution};
use crate::testnet::TwoPathNet;
use peer::PeerLine;
use report::{Sample, Setup, Transfer};

/// Names the namespaces: `mpz-demo-cli-<pid>-<n>`, `mpz-demo-srv-<pid>-<n>`.
pub const NAMESPACE_PREFIX: &str = "mpz-demo";

/// What the user asked for (`--rate`, `--seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Rate of each path in Mbit/s.
    pub rate_mbit: u32,
    /// Length of each transfer; path 1 goes down half way.
    pub seconds: u64,
}

/// Ports of the two transfers: a fresh one each, so nothing of the stalled
/// TCP connection can get in the way of the MPTCP one.
const TCP_PORT: u16 = 5001;
const MPTCP_PORT: u16 = 5002;

/// Extra time the receiver gives the sender to deliver what is still
/// buffered when it stops writing (the sender waits as long for the close).
const DRAIN_SECONDS: u64 = peer::CLOSE_WAIT.as_secs();

/// Slack on top of the expected duration of each wait before giving up.
const SLACK: Duration = Duration::from_secs(5);

/// Granularity of every wait: how quickly Ctrl-C is noticed.
const POLL: Duration = Duration::from_millis(50);

/// Runs the demo. Prints the introduction, progress and table on stdout.
pub fn demo(options: &DemoOptions) -> Result<(), Failure> {
    check_prerequisites()?;
    interrupt::install();
    let result = run_demo(options);
    if result.is_err() && LINE_OPEN.load(Ordering::Relaxed) {
        // Finish "Plain TCP transfer... " before the error on stderr.
        say(if interrupt::received().is_some() {
            "interrupted.\n"
        } else {
            "failed.\n"
        });
    }
    // The guards have removed everything by now; this catches a namespace
    // whose `ip netns add` was cut short by Ctrl-C before it had a guard.
    remove_leftovers();
    match (result, interrupt::received()) {
        (Err(_), Some(signal)) => Err(Failure {
            exit_code: 128u8.saturating_add(signal as u8),
            message: "interrupted; the demo's namespaces and processes are removed".into(),
        }),
        (result, _) => result,
    }
}

/// Root, iproute2, a kernel with MPTCP and the shim: checked up front so
/// each missing piece gets its own plain message.
fn check_prerequisites() -> Result<(), Failure> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::new(
            "the demo builds network namespaces and needs root: sudo mptcpize-rs demo",
        ));
    }
    let path_var = std::env::var_os("PATH");
    let missing = missing_programs(&["ip", "tc"], path_var.as_deref());
    if !missing.is_empty() {
        return Err(Failure::new(format!(
            "the demo needs `ip` and `tc` from iproute2 and cannot find {}; \
             install the iproute2 package (e.g. apt-get install iproute2)",
            missing.join(" and ")
        )));
    }
    if !Path::new("/proc/sys/net/mptcp").exists() {
        return Err(Failure::new(
            "this kernel has no Multipath TCP (no /proc/sys/net/mptcp); \
             the demo needs Linux >= 5.6 built with CONFIG_MPTCP",
        ));
    }
    // `run` would fail the same way, but only after the plain TCP run.
    crate::engine::preload::shim::locate().map_err(|error| Failure::new(error.to_string()))?;
    Ok(())
}

/// The programs of `names` that a PATH search does not find.
pub fn missing_programs<'a>(names: &[&'a str], path_var: Option<&OsStr>) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|name| {
            !matches!(
                program::resolve(OsStr::new(name), path_var),
                Resolution::Found(_)
            )
        })
        .collect()
}

fn run_demo(options: &DemoOptions) -> Result<(), Failure> {
    let setup = Setup {
        rate_mbit: options.rate_mbit,
        seconds: options.seconds,
    };
    let exe = std::env::current_exe()
        .map_err(|error| Failure::new(format!("cannot find my own executable: {error}")))?;
    say(&format!("{}\n", report::introduction(&setup)));

    say("Building the network... ");
    let net = TwoPathNet::create(NAMESPACE_PREFIX, setup.rate_mbit)
        .map_err(|error| Failure::new(format!("cannot build the two-path network: {error}")))?;
    check_interrupt()?;
    say("done.\n");

    say("Plain TCP transfer... ");
    let tcp = transfer(&net, &exe, Mode::Tcp, &setup)?;
    say("done.\nMPTCP transfer (mptcpize-rs run)... ");
    let mptcp = transfer(&net, &exe, Mode::Mptcp, &setup)?;
    say("done.\n\n");
    drop(net);

    say(&report::table(&setup, &tcp, &mptcp));
    say("\n");
    let problems = report::mptcp_problems(&mptcp);
    if problems.is_empty() {
        say(&report::conclusion(&tcp));
        return Ok(());
    }
    Err(Failure::new(format!(
        "multipath did not work as it should: {}.\n\
         Hints: the kernel needs MPTCP with path management (Linux >= 5.10; \
         `sysctl net.mptcp.enabled` must be 1), the demo sets \
         `ip mptcp limits set subflow 2 add_addr_accepted 2` and a signal endpoint \
         in its namespaces; `dmesg` may say more. `mptcpize-rs run -d PROG` shows \
         whether the shim converts a program's sockets.",
        problems.join("; ")
    )))
}

/// Whether stdout ends in the middle of a line ("Plain TCP transfer... ").
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// Writes to stdout, ignoring errors: a closed stdout must not stop the
/// demo before it has cleaned up.
fn say(text: &str) {
    LINE_OPEN.store(!text.ends_with('\n'), Ordering::Relaxed);
    let mut stdout = io::stdout();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn check_interrupt() -> Result<(), Failure> {
    match interrupt::received() {
        Some(_) => Err(Failure::new("interrupted")),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tcp,
    Mptcp,
}

/// One transfer from client to server with path 1 failing half way.
fn transfer(net: &TwoPathNet, exe: &Path, mode: Mode, setup: &Setup) -> Result<Transfer, Failure> {
    let port = match mode {
        Mode::Tcp => TCP_PORT,
        Mode::Mptcp => MPTCP_PORT,
    };
    // The previous transfer left path 1 down.
    set_path_up(net, true)?;
    let joins_before = joins(net)?;

    let receive = [
        "receive".to_string(),
        "--port".to_string(),
        port.to_string(),
        "--max-seconds".to_string(),
        (setup.seconds + DRAIN_SECONDS).to_string(),
    ];
    let mut receiver = Peer::spawn(&net.server, exe, mode, &receive)?;
    let lines = receiver.lines()?;
    wait_for_line(&lines, &mut receiver, SLACK, |line| {
        matches!(line, PeerLine::Listening { .. })
    })?;

    let server = net.paths[0].server_addr;
    let mut send = vec![
        "send".to_string(),
        "--to".to_string(),
        format!("{server}:{port}"),
        "--seconds".to_string(),
        setup.seconds.to_string(),
    ];
    if let Some(bytes) = send_buffer(setup.rate_mbit) {
        send.extend(["--send-buffer".to_string(), bytes.to_string()]);
    }
    let mut sender = Peer::spawn(&net.client, exe, mode, &send)?;
    wait_for_line(&lines, &mut receiver, SLACK, |line| {
        matches!(line, PeerLine::Accepted)
    })?;
    // The receiver's clock starts at the accept; so does this one.
    let accepted = Instant::now();

    let failure_at = accepted + Duration::from_millis(report::failure_ms(setup.seconds));
    let deadline = accepted + Duration::from_secs(setup.seconds + DRAIN_SECONDS) + SLACK;
    let mut failure_ms = None;
    let mut samples = Vec::new();
    let (received, bad, eof) = loop {
        check_interrupt()?;
        let now = Instant::now();
        if failure_ms.is_none() && now >= failure_at {
            set_path_up(net, false)?;
            failure_ms = Some(accepted.elapsed().as_millis() as u64);
        }
        if now >= deadline {
            return Err(receiver.failure("did not finish in time"));
        }
        // Wake up in time for the failure, to place it precisely.
        let pause = match failure_ms {
            None => POLL.min(failure_at.saturating_duration_since(now)),
            Some(_) => POLL,
        };
        match lines.recv_timeout(pause) {
            Ok(PeerLine::Progress { t_ms, bytes }) => samples.push(Sample { t_ms, bytes }),
            Ok(PeerLine::Done { bytes, bad, eof }) => break (bytes, bad, eof),
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(receiver.failure("stopped without a result"));
            }
        }
    };
    let sent = sender.wait_for_sent(deadline + peer::CLOSE_WAIT)?;
    let subflows = 1 + joins(net)?.saturating_sub(joins_before);
    set_path_up(net, true)?;
    Ok(Transfer {
        samples,
        failure_ms: failure_ms.unwrap_or(report::failure_ms(setup.seconds)),
        end_ms: setup.seconds * 1_000,
        sent,
        received,
        bad,
        eof,
        subflows,
    })
}

/// The sender's send buffer for paths of `rate_mbit`: `None` (the kernel's
/// own sizing) from 32 Mbit/s up, where its 4 MB ceiling drains within a
/// second on one path. Below, half a second of one path's traffic: without
/// a cap a transfer over 1 Mbit/s paths would still be draining its buffer
/// many seconds after the sender stopped, past the receiver's deadline.
pub fn send_buffer(rate_mbit: u32) -> Option<u32> {
    // The kernel doubles the value: a quarter second asked for.
    (rate_mbit < 32).then(|| (rate_mbit * 31_250).max(16_384))
}

/// Subflows the client has added to its connections so far: each second
/// subflow is a join (MP_JOIN) whose SYN/ACK the client received.
fn joins(net: &TwoPathNet) -> Result<u64, Failure> {
    let counters = TwoPathNet::mptcp_counters(&net.client)
        .map_err(|error| Failure::new(format!("cannot read the MPTCP counters: {error}")))?;
    Ok(counters.get("MPJoinSynAckRx").copied().unwrap_or(0))
}

/// Takes path 1 down or up; up waits until both ends report the link up,
/// so the next transfer does not start on a path still coming back.
fn set_path_up(net: &TwoPathNet, up: bool) -> Result<(), Failure> {
    let what = if up { "up" } else { "down" };
    net.set_path_up(0, up)
        .map_err(|error| Failure::new(format!("cannot take path 1 {what}: {error}")))?;
    if !up {
        return Ok(());
    }
    let state = format!("/sys/class/net/{}/operstate", net.paths[0].interface);
    let is_up = |host: &Netns| host.read(&state).is_ok_and(|text| text.trim() == "up");
    let deadline = Instant::now() + SLACK;
    while !(is_up(&net.client) && is_up(&net.server)) {
        check_interrupt()?;
        if Instant::now() >= deadline {
            return Err(Failure::new("path 1 did not come back up"));
        }
        thread::sleep(POLL);
    }
    Ok(())
}

/// A `demo-peer` running in a namespace; killed when dropped.
struct Peer {
    child: Child,
    role: &'static str,
}

impl Peer {
    /// Starts `mptcpize-rs demo-peer ARGS` in `host`; for MPTCP through
    /// `mptcpize-rs run`, which finds the shim next to the executable.
    fn spawn(host: &Netns, exe: &Path, mode: Mode, args: &[String]) -> Result<Peer, Failure> {
        let mut command = host.command(exe);
        if mode == Mode::Mptcp {
            command.arg("run").arg(exe);
        }
        command
            .arg("demo-peer")
            .args(args)
            // Plain TCP must be plain, whatever this process was started with.
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let role = if args[0] == "send" {
            "sender"
        } else {
            "receiver"
        };
        let child = command
            .spawn()
            .map_err(|error| Failure::new(format!("cannot start the {role}: {error}")))?;
        Ok(Peer { child, role })
    }

    /// The peer's records, parsed, as they arrive (read by a thread, which
    /// ends when the peer's stdout closes).
    fn lines(&mut self) -> Result<Receiver<PeerLine>, Failure> {
        let stdout: ChildStdout = self
            .child
            .stdout
            .take()
            .ok_or_else(|| Failure::new("the receiver's output is not readable"))?;
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(parsed) = PeerLine::parse(&line) {
                    if sender.send(parsed).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// Waits until the sender has exited and returns its byte count.
    fn wait_for_sent(&mut self, deadline: Instant) -> Result<u64, Failure> {
        loop {
            check_interrupt()?;
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) => return Err(self.failure("did not finish in time")),
                Err(error) => {
                    return Err(Failure::new(format!("waiting for the sender: {error}")));
                }
            }
        }
        // It has exited, so its (short) output is complete.
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            let _ = pipe.read_to_string(&mut stdout);
        }
        let sent = stdout.lines().find_map(|line| match PeerLine::parse(line) {
            Some(PeerLine::Sent { bytes }) => Some(bytes),
            _ => None,
        });
        sent.ok_or_else(|| self.failure("stopped without a result"))
    }

    /// An error naming the peer and quoting what it printed on stderr
    /// (after stopping it, so reading cannot block).
    fn failure(&mut self, what: &str) -> Failure {
        self.stop();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let stderr = stderr.trim();
        if stderr.is_empty() {
            Failure::new(format!("the {} {what}", self.role))
        } else {
            Failure::new(format!("the {} {what}: {stderr}", self.role))
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits (at most `limit`) for a record of the peer that `wanted` accepts,
/// skipping others.
fn wait_for_line(
    lines: &Receiver<PeerLine>,
    peer: &mut Peer,
    limit: Duration,
    wanted: impl Fn(&PeerLine) -> bool,
) -> Result<(), Failure> {
    let deadline = Instant::now() + limit;
    loop {
        check_interrupt()?;
        if Instant::now() >= deadline {
            return Err(peer.failure("did not get going in time"));
        }
        match lines.recv_timeout(POLL) {
            Ok(line) if wanted(&line) => return Ok(()),
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(peer.failure("stopped early")),
        }
    }
}

/// Deletes namespaces of this process that have no guard any more.
fn remove_leftovers() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let list = String::from_utf8_lossy(&output.stdout);
    for name in own_namespaces(&list, NAMESPACE_PREFIX, std::process::id()) {
        let _ = netns::ip(["netns", "delete", &name]);
    }
}

/// The namespaces in `ip netns list` output that the demo with `pid`
/// created (see [`TwoPathNet::create`] and [`Netns::create`] for the names).
pub fn own_namespaces(list: &str, prefix: &str, pid: u32) -> Vec<String> {
    let owned = [
        format!("{prefix}-cli-{pid}-"),
        format!("{prefix}-srv-{pid}-"),
    ];
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| owned.iter().any(|start| name.starts_with(start.as_str())))
        .map(str::to_string)
        .collect()
}

/// `demo-peer` arguments, as the hidden subcommand receives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerRole {
    Receive {
        port: u16,
        max_seconds: u64,
    },
    Send {
        to: std::net::SocketAddr,
        seconds: u64,
        send_buffer: Option<u32>,
    },
}

/// Entry point of `mptcpize-rs demo-peer`.
pub fn run_peer(role: &PeerRole) -> Result<(), Failure> {
    let result = match *role {
        PeerRole::Receive { port, max_seconds } => peer::receive(port, max_seconds),
        PeerRole::Send {
            to,
            seconds,
            send_buffer,
        } => peer::send(to, seconds, send_buffer),
    };
    result.map_err(|error| Failure::new(format!("demo-peer: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;

    #[test]
    fn finds_its_own_namespaces_only() {
        let list = "mpz-demo-srv-42-1 (id: 3)\n\
                    mpz-demo-cli-42-0 (id: 2)\n\
                    mpz-demo-cli-421-0\n\
                    mpz-srv-42-1\n\
                    other\n\
                    \n";
        assert_eq!(
            own_namespaces(list, NAMESPACE_PREFIX, 42),
            vec![
                "mpz-demo-srv-42-1".to_string(),
                "mpz-demo-cli-42-0".to_string()
            ]
        );
        assert!(own_namespaces("", NAMESPACE_PREFIX, 42).is_empty());
    }

    #[test]
    fn missing_programs_are_named() {
        let scratch = ScratchDir::new("demo-path");
        scratch.file("bin/ip", b"#!/bin/sh\n", 0o755);
        let path_var = scratch.path().join("bin").into_os_string();
        assert_eq!(missing_programs(&["ip", "tc"], Some(&path_var)), vec!["tc"]);
        scratch.file("bin/tc", b"#!/bin/sh\n", 0o755);
        assert!(missing_programs(&["ip", "tc"], Some(&path_var)).is_empty());
    }

    #[test]
    fn send_buffer_only_for_slow_paths() {
        assert_eq!(send_buffer(1), Some(31_250));
        assert_eq!(send_buffer(31), Some(968_750));
        assert_eq!(send_buffer(32), None);
        assert_eq!(send_buffer(100), None);
        assert_eq!(send_buffer(1000), None);
    }

    #[test]
    fn errors_exit_with_1() {
        let error = Failure::new("x");
        assert_eq!(error.exit_code, 1);
        assert_eq!(error.to_string(), "x");
    }
}
