//! `mptcpize-rs check [--json]`: can MPTCP work in this network namespace,
//! and if not, what to change.
//!
//! Three steps, kept apart so the judging can be tested without a kernel:
//! [`gather`] collects [`Facts`] (sysctls, the path manager's limits and
//! endpoints over generic netlink, a live MPTCP connection over loopback,
//! which engines `run` can use), [`findings`] judges them (a pure function)
//! and [`render_text`] / [`render_json`] print both.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use crate::failure::Failure;
use crate::json::Json;
use crate::mptcp_info::{self, MptcpInfo};
use crate::mptcp_pm::{self, Endpoint, FLAG_SIGNAL, FLAG_SUBFLOW, Limits};
use crate::{seccomp, shim};

pub const IPPROTO_MPTCP: libc::c_int = 262;

/// Exit status when MPTCP cannot work here.
pub const CANNOT_WORK: u8 = 1;

/// Bound on each blocking step of the self-test (connect, accept, read,
/// write).
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The command that turns MPTCP on.
pub const ENABLE_COMMAND: &str = "sysctl -w net.mptcp.enabled=1";
/// The commands that let connections use more than one path.
pub const LIMITS_COMMAND: &str = "ip mptcp limits set subflow 2 add_addr_accepted 2";
pub const ENDPOINT_COMMAND: &str = "ip mptcp endpoint add ADDRESS dev IFACE subflow";

/// Can an IPPROTO_MPTCP socket be created?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketSupport {
    Yes,
    /// `ENOPROTOOPT`: built in, but `net.mptcp.enabled` is 0.
    Disabled,
    /// `EPROTONOSUPPORT` (or `EINVAL` before 5.6): the kernel has no MPTCP.
    NotBuiltIn,
    /// Anything else (a security policy, resource limits): the error.
    Error(String),
}

/// The path manager (`net.mptcp.path_manager`, or `net.mptcp.pm_type`
/// on kernels before 6.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathManager {
    /// `kernel` or `userspace` (or whatever a future kernel names).
    pub name: String,
    /// The sysctl it was read from.
    pub sysctl: &'static str,
    /// `net.mptcp.available_path_managers`, when the kernel has it.
    pub available: Option<Vec<String>>,
}

/// `net.mptcp.scheduler` (Linux 6.6+).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduler {
    pub name: String,
    pub available: Option<Vec<String>>,
}

/// The outcome of the loopback connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// Connected, exchanged data, and both ends are still MPTCP.
    Mptcp {
        address: SocketAddr,
        client: MptcpInfo,
        server: MptcpInfo,
    },
    /// Connected and exchanged data, but as plain TCP (which end saw it).
    Fallback { side: &'static str },
    /// It could not be completed: why.
    Failed(String),
    /// Not attempted (MPTCP sockets cannot be created): why.
    Skipped(String),
}

/// Which engines `mptcpize-rs run` can use here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engines {
    /// The shim `run` would preload, or why there is none.
    pub preload: Result<PathBuf, String>,
    /// Whether the seccomp engine can work, or why not.
    pub seccomp: Result<(), String>,
}

/// Everything `check` looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `/proc/sys/net/mptcp` exists.
    pub sysctls_present: bool,
    pub socket: SocketSupport,
    /// `net.mptcp.enabled`; `None` when it cannot be read.
    pub enabled: Option<bool>,
    pub path_manager: Option<PathManager>,
    pub scheduler: Option<Scheduler>,
    pub limits: Result<Limits, String>,
    pub endpoints: Result<Vec<Endpoint>, String>,
    pub self_test: SelfTest,
    pub engines: Engines,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One judgement, in plain language, with the fix when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier for scripts (`mptcp-disabled`, `no-endpoints`, ...).
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Command(s) or steps that fix it.
    pub fix: Option<String>,
}

impl Finding {
    fn new(id: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            id,
            severity,
            message: message.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Whether MPTCP can work: no finding is an error.
pub fn can_work(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.severity != Severity::Error)
}

/// Runs the check and prints the report; 0 when MPTCP can work here (with
/// or without warnings), [`CANNOT_WORK`] otherwise.
pub fn check(json: bool) -> Result<u8, Failure> {
    let facts = gather();
    let findings = findings(&facts);
    let text = if json {
        render_json(&facts, &findings).pretty() + "\n"
    } else {
        render_text(&facts, &findings)
    };
    io::stdout()
        .write_all(text.as_bytes())
        .map_err(|error| Failure::new(format!("cannot write the report: {error}")))?;
    Ok(if can_work(&findings) { 0 } else { CANNOT_WORK })
}

// ---------------------------------------------------------------------------
// Gathering (talks to the kernel).

/// Collects the facts of the current network namespace.
pub fn gather() -> Facts {
    let sysctls_present = fs::metadata("/proc/sys/net/mptcp").is_ok_and(|m| m.is_dir());
    let socket = probe_socket();
    let enabled = read_sysctl("enabled").and_then(|v| match v.as_str() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    });
    let (limits, endpoints) = match mptcp_pm::read() {
        Ok((limits, endpoints)) => (Ok(limits), Ok(endpoints)),
        Err(error) => (Err(error.to_string()), Err(error.to_string())),
    };
    let self_test = match &socket {
        SocketSupport::Yes => run_self_test().unwrap_or_else(|e| SelfTest::Failed(e.to_string())),
        SocketSupport::Disabled => SelfTest::Skipped("MPTCP is disabled".into()),
        SocketSupport::NotBuiltIn => SelfTest::Skipped("the kernel has no MPTCP".into()),
        SocketSupport::Error(error) => SelfTest::Skipped(format!("no MPTCP socket: {error}")),
    };
    Facts {
        sysctls_present,
        socket,
        enabled,
        path_manager: path_manager(),
        scheduler: read_sysctl("scheduler").map(|name| Scheduler {
            name,
            available: read_sysctl("available_schedulers").map(words),
        }),
        limits,
        endpoints,
        self_test,
        engines: Engines {
            preload: shim::locate().map_err(|error| error.summary()),
            seccomp: seccomp::availability(),
        },
    }
}

/// `/proc/sys/net/mptcp/NAME`, trimmed; `None` if absent or unreadable.
fn read_sysctl(name: &str) -> Option<String> {
    let value = fs::read_to_string(format!("/proc/sys/net/mptcp/{name}")).ok()?;
    Some(value.trim().to_string())
}

fn words(text: String) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn path_manager() -> Option<PathManager> {
    let available = read_sysctl("available_path_managers").map(words);
    if let Some(name) = read_sysctl("path_manager") {
        return Some(PathManager {
            name,
            sysctl: "net.mptcp.path_manager",
            available,
        });
    }
    let name = match read_sysctl("pm_type")?.as_str() {
        "0" => "kernel".to_string(),
        "1" => "userspace".to_string(),
        other => format!("type {other}"),
    };
    Some(PathManager {
        name,
        sysctl: "net.mptcp.pm_type",
        available,
    })
}

/// Creates (and closes) one IPv4 MPTCP socket.
fn probe_socket() -> SocketSupport {
    match mptcp_socket(0) {
        Ok(_) => SocketSupport::Yes,
        Err(error) => match error.raw_os_error() {
            Some(libc::ENOPROTOOPT) => SocketSupport::Disabled,
            Some(libc::EPROTONOSUPPORT | libc::EINVAL | libc::ESOCKTNOSUPPORT) => {
                SocketSupport::NotBuiltIn
            }
            _ => SocketSupport::Error(error.to_string()),
        },
    }
}

/// `socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | extra, IPPROTO_MPTCP)`.
fn mptcp_socket(extra_type_flags: libc::c_int) -> io::Result<OwnedFd> {
    stream_socket(IPPROTO_MPTCP, extra_type_flags)
}

/// `socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | extra, protocol)`.
fn stream_socket(protocol: libc::c_int, extra_type_flags: libc::c_int) -> io::Result<OwnedFd> {
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | extra_type_flags;
    // SAFETY: socket() takes three integers and returns a new descriptor.
    let fd = unsafe { libc::socket(libc::AF_INET, kind, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(); nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr_in(address: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: address.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*address.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Checks an `int`-returning libc call.
fn check_rc(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until `fd` reports one of `events`; `TimedOut` after `timeout`.
fn wait_for(fd: BorrowedFd<'_>, events: libc::c_short, what: &str) -> io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let millis = SELF_TEST_TIMEOUT.as_millis() as libc::c_int;
    loop {
        // SAFETY: pollfd is one live pollfd structure, as the count says.
        let rc = unsafe { libc::poll(&mut pollfd, 1, millis) };
        match rc {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{what} timed out after {SELF_TEST_TIMEOUT:?}"),
                ));
            }
            rc if rc < 0 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            _ => return Ok(()),
        }
    }
}

/// An MPTCP listener and client over 127.0.0.1 in this process: connect,
/// send a message each way, then ask both ends for `MPTCP_INFO`.
fn run_self_test() -> io::Result<SelfTest> {
    loopback_test(IPPROTO_MPTCP)
}

/// [`run_self_test`] with a listener of `listener_protocol` (a TCP one
/// makes the MPTCP client fall back, which the tests use).
fn loopback_test(listener_protocol: libc::c_int) -> io::Result<SelfTest> {
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let listener = stream_socket(listener_protocol, libc::SOCK_NONBLOCK)?;
    let address = sockaddr_in(loopback);
    let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: address is a live sockaddr_in of the given length.
    check_rc(unsafe {
        libc::bind(
            listener.as_raw_fd(),
            (&address as *const libc::sockaddr_in).cast(),
            length,
        )
    })
    .map_err(|e| annotate(e, "bind to 127.0.0.1 (is the loopback interface up?)"))?;
    // SAFETY: listen() takes a descriptor and a backlog.
    check_rc(unsafe { libc::listen(listener.as_raw_fd(), 1) })?;
    let listener = TcpListener::from(listener);
    let SocketAddr::V4(bound) = listener.local_addr()? else {
        return Err(io::Error::other("the listener has no IPv4 address"));
    };

    let client = mptcp_socket(libc::SOCK_NONBLOCK)?;
    let target = sockaddr_in(bound);
    // SAFETY: target is a live sockaddr_in of the given length.
    let rc = unsafe {
        libc::connect(
            client.as_raw_fd(),
            (&target as *const libc::sockaddr_in).cast(),
            length,
        )
    };
    if rc < 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(annotate(error, "connect to 127.0.0.1"));
        }
    }
    wait_for(client.as_fd(), libc::POLLOUT, "connecting over loopback")?;
    let client = TcpStream::from(client);
    if let Some(error) = client.take_error()? {
        return Err(annotate(error, "connect to 127.0.0.1"));
    }
    wait_for(listener.as_fd(), libc::POLLIN, "accepting over loopback")?;
    let (server, _) = listener.accept()?;

    for stream in [&client, &server] {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(SELF_TEST_TIMEOUT))?;
        stream.set_write_timeout(Some(SELF_TEST_TIMEOUT))?;
    }
    exchange(&client, &server, b"mptcpize-rs check: ping\n")?;
    exchange(&server, &client, b"mptcpize-rs check: pong\n")?;

    let address = SocketAddr::V4(bound);
    let (client_info, server_info) = (
        mptcp_info::get(client.as_fd()),
        mptcp_info::get(server.as_fd()),
    );
    Ok(judge_self_test(address, client_info, server_info))
}

/// Sends `message` from one end and reads it at the other.
fn exchange(from: &TcpStream, to: &TcpStream, message: &[u8]) -> io::Result<()> {
    (&*from).write_all(message)?;
    let mut received = vec![0; message.len()];
    (&*to).read_exact(&mut received)?;
    if received != message {
        return Err(io::Error::other("the loopback connection corrupted data"));
    }
    Ok(())
}

fn annotate(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// The self-test's outcome from both ends' `MPTCP_INFO` answers.
pub fn judge_self_test(
    address: SocketAddr,
    client: io::Result<MptcpInfo>,
    server: io::Result<MptcpInfo>,
) -> SelfTest {
    let side = |result: io::Result<MptcpInfo>| match result {
        Ok(info) if info.fallback() => Err(None),
        Ok(info) => Ok(info),
        Err(error) if mptcp_info::is_fallback_error(&error) => Err(None),
        Err(error) => Err(Some(format!("MPTCP_INFO failed: {error}"))),
    };
    match (side(client), side(server)) {
        (Ok(client), Ok(server)) => SelfTest::Mptcp {
            address,
            client,
            server,
        },
        (Err(Some(error)), _) | (_, Err(Some(error))) => SelfTest::Failed(error),
        (Err(None), Err(None)) => SelfTest::Fallback { side: "both ends" },
        (Err(None), _) => SelfTest::Fallback { side: "the client" },
        (_, Err(None)) => SelfTest::Fallback { side: "the server" },
    }
}

// ---------------------------------------------------------------------------
// Judging (pure).

/// The findings, most fundamental first.
pub fn findings(facts: &Facts) -> Vec<Finding> {
    use Severity::{Error, Ok, Warning};
    let mut out = Vec::new();

    let mptcp_usable = match (&facts.socket, facts.enabled) {
        (SocketSupport::NotBuiltIn, _) => {
            out.push(
                Finding::new(
                    "no-kernel-support",
                    Error,
                    "This kernel has no MPTCP support: IPPROTO_MPTCP sockets cannot be \
                     created, so every program uses plain TCP.",
                )
                .fix(
                    "Boot a kernel built with CONFIG_MPTCP=y (Linux 5.6 or later; most \
                     distributions enable it).",
                ),
            );
            false
        }
        (SocketSupport::Disabled, _) | (_, Some(false)) => {
            out.push(
                Finding::new(
                    "mptcp-disabled",
                    Error,
                    "MPTCP is disabled in this network namespace (net.mptcp.enabled = 0): \
                     MPTCP sockets cannot be created and programs fall back to plain TCP.",
                )
                .fix(format!(
                    "{ENABLE_COMMAND}   (to keep it across reboots: echo \
                     net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf)"
                )),
            );
            false
        }
        (SocketSupport::Error(error), _) => {
            out.push(
                Finding::new(
                    "mptcp-socket-error",
                    Error,
                    format!("An MPTCP socket cannot be created here: {error}."),
                )
                .fix(
                    "Check what denies IPPROTO_MPTCP sockets to this process (a seccomp \
                     profile, SELinux/AppArmor, a BPF cgroup program).",
                ),
            );
            false
        }
        (SocketSupport::Yes, _) => {
            out.push(Finding::new(
                "mptcp-enabled",
                Ok,
                "The kernel supports MPTCP and it is enabled (net.mptcp.enabled = 1).",
            ));
            true
        }
    };

    if mptcp_usable {
        judge_paths(facts, &mut out);
        match &facts.self_test {
            SelfTest::Mptcp { address, .. } => out.push(Finding::new(
                "self-test-passed",
                Ok,
                format!(
                    "Self-test: an MPTCP connection over {address} exchanged data without \
                     falling back to TCP."
                ),
            )),
            SelfTest::Fallback { side } => out.push(
                Finding::new(
                    "self-test-fallback",
                    Error,
                    format!(
                        "Self-test: the MPTCP connection over loopback fell back to plain \
                         TCP ({side} reported it). Something on this host strips the MPTCP \
                         options or refuses MPTCP."
                    ),
                )
                .fix(
                    "Look for firewall rules or BPF programs acting on TCP options \
                     (nft list ruleset; iptables-save), and check the MPTcpExt counters \
                     in /proc/net/netstat (nstat -az | grep -i mptcp).",
                ),
            ),
            SelfTest::Failed(error) => out.push(
                Finding::new(
                    "self-test-failed",
                    Warning,
                    format!(
                        "Self-test: the MPTCP connection over loopback could not be \
                         completed ({error}), so it is unproven that connections stay MPTCP."
                    ),
                )
                .fix("Make sure the loopback interface is up: ip link set lo up"),
            ),
            SelfTest::Skipped(_) => {}
        }
    }

    judge_engines(&facts.engines, &mut out);
    out
}

/// Limits, endpoints and the path manager: will connections use more
/// than one path?
fn judge_paths(facts: &Facts, out: &mut Vec<Finding>) {
    use Severity::{Ok, Warning};
    if let Some(pm) = &facts.path_manager
        && pm.name != "kernel"
    {
        let fix = if pm.sysctl == "net.mptcp.pm_type" {
            "Run a path manager daemon such as mptcpd, or select the in-kernel one: \
             sysctl -w net.mptcp.pm_type=0"
        } else {
            "Run a path manager daemon such as mptcpd, or select the in-kernel one: \
             sysctl -w net.mptcp.path_manager=kernel"
        };
        out.push(
            Finding::new(
                "userspace-path-manager",
                Warning,
                format!(
                    "The {} path manager is selected ({}): extra subflows come only from a \
                     daemon such as mptcpd; without one, connections use one path. The \
                     limits and endpoints below do not apply.",
                    pm.name, pm.sysctl
                ),
            )
            .fix(fix),
        );
        return;
    }
    let mut one_path = false;
    match &facts.limits {
        Err(error) => out.push(Finding::new(
            "limits-unreadable",
            Warning,
            format!("The path manager's limits cannot be read: {error}."),
        )),
        Result::Ok(limits) => {
            if limits.subflows == 0 {
                one_path = true;
                out.push(
                    Finding::new(
                        "subflow-limit-zero",
                        Warning,
                        "The subflow limit is 0: no connection may add a subflow, so every \
                         connection uses one path.",
                    )
                    .fix(LIMITS_COMMAND),
                );
            } else if limits.add_addr_accepted == 0 {
                out.push(
                    Finding::new(
                        "add-addr-accepted-zero",
                        Warning,
                        "add_addr_accepted is 0: addresses a server announces are ignored, \
                         so as a client this host opens no subflow to a server's other \
                         addresses.",
                    )
                    .fix(LIMITS_COMMAND),
                );
            }
        }
    }
    match &facts.endpoints {
        Err(error) => out.push(Finding::new(
            "endpoints-unreadable",
            Warning,
            format!("The path manager's endpoints cannot be read: {error}."),
        )),
        Result::Ok(endpoints) => {
            let useful = endpoints
                .iter()
                .filter(|e| e.flags & (FLAG_SUBFLOW | FLAG_SIGNAL) != 0)
                .count();
            if useful == 0 {
                let what = if endpoints.is_empty() {
                    "No MPTCP endpoints are configured"
                } else {
                    "No MPTCP endpoint has the subflow or signal flag"
                };
                out.push(
                    Finding::new(
                        "no-endpoints",
                        Warning,
                        format!(
                            "{what}: this host neither opens subflows from its other \
                             addresses nor announces them, so its connections use one path \
                             (unless the peer announces addresses)."
                        ),
                    )
                    .fix(format!(
                        "{ENDPOINT_COMMAND}   (once per extra address; on a server, use \
                         `signal` instead of `subflow`)"
                    )),
                );
            } else if !one_path && let Result::Ok(limits) = &facts.limits {
                out.push(Finding::new(
                    "multipath-ready",
                    Ok,
                    format!(
                        "Connections can use several paths: {useful} endpoint(s), up to {} \
                         extra subflow(s) per connection.",
                        limits.subflows
                    ),
                ));
            }
        }
    }
}

fn judge_engines(engines: &Engines, out: &mut Vec<Finding>) {
    use Severity::{Error, Ok, Warning};
    match &engines.preload {
        Result::Ok(path) => out.push(Finding::new(
            "preload-engine",
            Ok,
            format!(
                "Engine preload (LD_PRELOAD) is usable: shim {}.",
                path.display()
            ),
        )),
        Err(reason) => out.push(
            Finding::new(
                "preload-engine-missing",
                Warning,
                format!("Engine preload (LD_PRELOAD) is not usable: shim {reason}."),
            )
            .fix(format!(
                "Build it (cargo build --release) so it lands next to mptcpize-rs, or set \
                 {} to its full path.",
                shim::OVERRIDE_VAR
            )),
        ),
    }
    match &engines.seccomp {
        Result::Ok(()) => out.push(Finding::new(
            "seccomp-engine",
            Ok,
            "Engine seccomp is usable (seccomp user notification is supported).",
        )),
        Err(reason) => out.push(Finding::new(
            "seccomp-engine-unavailable",
            Warning,
            format!(
                "Engine seccomp is not usable: {reason}; statically linked programs \
                 cannot be converted."
            ),
        )),
    }
    if engines.preload.is_err() && engines.seccomp.is_err() {
        out.push(Finding::new(
            "no-engine",
            Error,
            "Neither engine is usable: `mptcpize-rs run` cannot convert any program here.",
        ));
    }
}

// ---------------------------------------------------------------------------
// Rendering (pure).

/// The human report: facts, findings, verdict.
pub fn render_text(facts: &Facts, findings: &[Finding]) -> String {
    let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
    let kernel = match &facts.socket {
        SocketSupport::Yes => "MPTCP supported (IPPROTO_MPTCP sockets can be created)".into(),
        SocketSupport::Disabled => "MPTCP built in, but sockets are refused (disabled)".into(),
        SocketSupport::NotBuiltIn => "no MPTCP support".into(),
        SocketSupport::Error(error) => format!("MPTCP socket failed: {error}"),
    };
    rows.push(("kernel", vec![kernel]));
    rows.push((
        "net.mptcp.enabled",
        vec![match facts.enabled {
            Some(true) => "1".into(),
            Some(false) => "0".into(),
            None => "unknown (no /proc/sys/net/mptcp/enabled)".into(),
        }],
    ));
    if let Some(pm) = &facts.path_manager {
        let mut line = format!("{} ({}", pm.name, pm.sysctl);
        if let Some(available) = &pm.available {
            line += &format!("; available: {}", available.join(" "));
        }
        rows.push(("path manager", vec![line + ")"]));
    }
    if let Some(scheduler) = &facts.scheduler {
        let mut line = scheduler.name.clone();
        if let Some(available) = &scheduler.available {
            line += &format!(" (available: {})", available.join(" "));
        }
        rows.push(("scheduler", vec![line]));
    }
    rows.push((
        "limits",
        vec![match &facts.limits {
            Ok(limits) => format!(
                "subflow {}, add_addr_accepted {}",
                limits.subflows, limits.add_addr_accepted
            ),
            Err(error) => format!("unknown: {error}"),
        }],
    ));
    rows.push((
        "endpoints",
        match &facts.endpoints {
            Ok(endpoints) if endpoints.is_empty() => vec!["none".into()],
            Ok(endpoints) => endpoints.iter().map(endpoint_line).collect(),
            Err(error) => vec![format!("unknown: {error}")],
        },
    ));
    rows.push(("self-test", vec![self_test_line(&facts.self_test)]));
    rows.push((
        "engines",
        vec![
            match &facts.engines.preload {
                Ok(path) => format!("preload: {}", path.display()),
                Err(reason) => format!("preload: shim {reason}"),
            },
            match &facts.engines.seccomp {
                Ok(()) => "seccomp: supported".into(),
                Err(reason) => format!("seccomp: not usable ({reason})"),
            },
        ],
    ));

    let mut out = String::from("MPTCP in this network namespace\n");
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, lines) in &rows {
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { *name } else { "" };
            out += &format!("  {label:<width$}  {line}\n");
        }
    }
    out += "\nFindings:\n";
    for finding in findings {
        let tag = format!("[{}]", finding.severity.name());
        out += &format!("  {tag:<9} {}\n", finding.message);
        if let Some(fix) = &finding.fix {
            out += &format!("  {:<9} fix: {fix}\n", "");
        }
    }
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let plural = if warnings == 1 { "" } else { "s" };
    out += &if can_work(findings) {
        format!("\nMPTCP can work here ({warnings} warning{plural}).\n")
    } else {
        "\nMPTCP cannot work here: see the errors above.\n".to_string()
    };
    out
}

fn endpoint_line(endpoint: &Endpoint) -> String {
    let mut line = format!("id {}", endpoint.id);
    if let Some(address) = endpoint.address {
        line += &format!(" {address}");
    }
    if let Some(port) = endpoint.port {
        line += &format!(" port {port}");
    }
    match (&endpoint.dev, endpoint.ifindex) {
        (Some(dev), _) => line += &format!(" dev {dev}"),
        (None, Some(index)) => line += &format!(" ifindex {index}"),
        (None, None) => {}
    }
    for flag in endpoint.flag_names() {
        line += &format!(" {flag}");
    }
    line
}

fn self_test_line(self_test: &SelfTest) -> String {
    match self_test {
        SelfTest::Mptcp {
            address, client, ..
        } => format!(
            "passed: MPTCP connection over {address}, no fallback ({} subflow{})",
            client.subflows(),
            if client.subflows() == 1 { "" } else { "s" }
        ),
        SelfTest::Fallback { side } => format!("FELL BACK to TCP ({side})"),
        SelfTest::Failed(error) => format!("could not complete: {error}"),
        SelfTest::Skipped(why) => format!("skipped ({why})"),
    }
}

/// The machine-readable report: every fact, the findings and the verdict.
pub fn render_json(facts: &Facts, findings: &[Finding]) -> Json {
    let text = |s: &str| Json::str(s);
    let list = |items: &[String]| Json::Array(items.iter().map(|s| text(s)).collect());
    let (socket_ok, socket_error) = match &facts.socket {
        SocketSupport::Yes => (true, None),
        SocketSupport::Disabled => (false, Some("ENOPROTOOPT: disabled".to_string())),
        SocketSupport::NotBuiltIn => (false, Some("EPROTONOSUPPORT: not built in".to_string())),
        SocketSupport::Error(error) => (false, Some(error.clone())),
    };
    let endpoint = |e: &Endpoint| {
        let has = |bit: u32| Json::Bool(e.flags & bit != 0);
        Json::object([
            ("id", Json::int(e.id)),
            (
                "address",
                Json::opt(e.address, |a| Json::str(a.to_string())),
            ),
            ("port", Json::opt(e.port, Json::int)),
            ("dev", Json::opt(e.dev.as_deref(), text)),
            ("ifindex", Json::opt(e.ifindex, Json::int)),
            (
                "flags",
                Json::Array(e.flag_names().into_iter().map(Json::Str).collect()),
            ),
            ("signal", has(FLAG_SIGNAL)),
            ("subflow", has(FLAG_SUBFLOW)),
            ("backup", has(1 << 2)),
            ("fullmesh", has(1 << 3)),
        ])
    };
    let self_test = match &facts.self_test {
        SelfTest::Mptcp {
            address,
            client,
            server,
        } => Json::object([
            ("result", text("mptcp")),
            ("address", Json::str(address.to_string())),
            ("fallback", Json::Bool(false)),
            ("subflows", Json::int(client.subflows())),
            ("client_token", Json::int(client.token)),
            ("server_token", Json::int(server.token)),
        ]),
        SelfTest::Fallback { side } => Json::object([
            ("result", text("fallback")),
            ("fallback", Json::Bool(true)),
            ("detail", Json::str(format!("reported by {side}"))),
        ]),
        SelfTest::Failed(error) => {
            Json::object([("result", text("failed")), ("detail", text(error))])
        }
        SelfTest::Skipped(why) => {
            Json::object([("result", text("skipped")), ("detail", text(why))])
        }
    };
    let engines = &facts.engines;
    Json::object([
        ("mptcp_can_work", Json::Bool(can_work(findings))),
        (
            "kernel_support",
            Json::Bool(facts.sysctls_present || socket_ok),
        ),
        ("mptcp_sysctls", Json::Bool(facts.sysctls_present)),
        (
            "mptcp_socket",
            Json::object([
                ("ok", Json::Bool(socket_ok)),
                ("error", Json::opt(socket_error, Json::Str)),
            ]),
        ),
        ("enabled", Json::opt(facts.enabled, Json::Bool)),
        (
            "path_manager",
            Json::opt(facts.path_manager.as_ref(), |pm| {
                Json::object([
                    ("name", text(&pm.name)),
                    ("sysctl", text(pm.sysctl)),
                    ("available", Json::opt(pm.available.as_deref(), list)),
                ])
            }),
        ),
        (
            "scheduler",
            Json::opt(facts.scheduler.as_ref(), |s| {
                Json::object([
                    ("name", text(&s.name)),
                    ("available", Json::opt(s.available.as_deref(), list)),
                ])
            }),
        ),
        (
            "limits",
            Json::opt(facts.limits.as_ref().ok(), |l| {
                Json::object([
                    ("subflows", Json::int(l.subflows)),
                    ("add_addr_accepted", Json::int(l.add_addr_accepted)),
                ])
            }),
        ),
        (
            "limits_error",
            Json::opt(facts.limits.as_ref().err(), |e| text(e)),
        ),
        (
            "endpoints",
            Json::opt(facts.endpoints.as_ref().ok(), |list| {
                Json::Array(list.iter().map(endpoint).collect())
            }),
        ),
        (
            "endpoints_error",
            Json::opt(facts.endpoints.as_ref().err(), |e| text(e)),
        ),
        ("self_test", self_test),
        (
            "engines",
            Json::object([
                (
                    "preload",
                    Json::object([
                        ("usable", Json::Bool(engines.preload.is_ok())),
                        (
                            "shim",
                            Json::opt(engines.preload.as_ref().ok(), |p| {
                                Json::str(p.display().to_string())
                            }),
                        ),
                        (
                            "reason",
                            Json::opt(engines.preload.as_ref().err(), |e| text(e)),
                        ),
                    ]),
                ),
                (
                    "seccomp",
                    Json::object([
                        ("usable", Json::Bool(engines.seccomp.is_ok())),
                        (
                            "reason",
                            Json::opt(engines.seccomp.as_ref().err(), |e| text(e)),
                        ),
                    ]),
                ),
            ]),
        ),
        (
            "findings",
            Json::Array(
                findings
                    .iter()
                    .map(|f| {
                        Json::object([
                            ("id", text(f.id)),
                            ("severity", text(f.severity.name())),
                            ("message", text(&f.message)),
                            ("fix", Json::opt(f.fix.as_deref(), text)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> MptcpInfo {
        MptcpInfo {
            flags: mptcp_info::FLAG_REMOTE_KEY_RECEIVED,
            subflows_total: Some(1),
            ..MptcpInfo::default()
        }
    }

    fn endpoint(flags: u32) -> Endpoint {
        Endpoint {
            id: 1,
            address: Some("10.0.0.1".parse().unwrap()),
            port: None,
            flags,
            ifindex: Some(3),
            dev: Some("dummy0".into()),
        }
    }

    fn healthy() -> Facts {
        Facts {
            sysctls_present: true,
            socket: SocketSupport::Yes,
            enabled: Some(true),
            path_manager: Some(PathManager {
                name: "kernel".into(),
                sysctl: "net.mptcp.path_manager",
                available: Some(vec!["kernel".into(), "userspace".into()]),
            }),
            scheduler: Some(Scheduler {
                name: "default".into(),
                available: Some(vec!["default".into()]),
            }),
            limits: Ok(Limits {
                subflows: 2,
                add_addr_accepted: 2,
            }),
            endpoints: Ok(vec![endpoint(FLAG_SUBFLOW)]),
            self_test: SelfTest::Mptcp {
                address: "127.0.0.1:4242".parse().unwrap(),
                client: info(),
                server: info(),
            },
            engines: Engines {
                preload: Ok("/usr/lib/mptcpize-rs/libmptcpize_preload.so".into()),
                seccomp: Ok(()),
            },
        }
    }

    fn ids(findings: &[Finding], severity: Severity) -> Vec<&'static str> {
        findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn healthy_host_has_only_ok_findings() {
        let findings = findings(&healthy());
        assert!(can_work(&findings));
        assert_eq!(ids(&findings, Severity::Warning), Vec::<&str>::new());
        assert_eq!(ids(&findings, Severity::Error), Vec::<&str>::new());
        assert_eq!(
            ids(&findings, Severity::Ok),
            [
                "mptcp-enabled",
                "multipath-ready",
                "self-test-passed",
                "preload-engine",
                "seccomp-engine"
            ]
        );
    }

    #[test]
    fn disabled_names_the_sysctl_and_the_command() {
        let facts = Facts {
            socket: SocketSupport::Disabled,
            enabled: Some(false),
            self_test: SelfTest::Skipped("MPTCP is disabled".into()),
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(!can_work(&findings));
        assert_eq!(ids(&findings, Severity::Error), ["mptcp-disabled"]);
        let disabled = &findings[0];
        assert!(disabled.message.contains("net.mptcp.enabled"));
        assert!(disabled.fix.as_ref().unwrap().contains(ENABLE_COMMAND));
        // Path findings would be noise when nothing is MPTCP at all.
        assert!(!findings.iter().any(|f| f.id == "multipath-ready"));
    }

    #[test]
    fn no_kernel_support() {
        let facts = Facts {
            sysctls_present: false,
            socket: SocketSupport::NotBuiltIn,
            enabled: None,
            limits: Err("no mptcp_pm family".into()),
            endpoints: Err("no mptcp_pm family".into()),
            self_test: SelfTest::Skipped("the kernel has no MPTCP".into()),
            ..healthy()
        };
        let findings = findings(&facts);
        assert_eq!(ids(&findings, Severity::Error), ["no-kernel-support"]);
        assert_eq!(ids(&findings, Severity::Warning), Vec::<&str>::new());
    }

    #[test]
    fn default_limits_and_no_endpoints_warn_of_one_path() {
        let facts = Facts {
            limits: Ok(Limits {
                subflows: 2,
                add_addr_accepted: 0,
            }),
            endpoints: Ok(vec![]),
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(can_work(&findings));
        assert_eq!(
            ids(&findings, Severity::Warning),
            ["add-addr-accepted-zero", "no-endpoints"]
        );
        let no_endpoints = findings.iter().find(|f| f.id == "no-endpoints").unwrap();
        assert!(no_endpoints.message.contains("one path"));
        assert!(
            no_endpoints
                .fix
                .as_ref()
                .unwrap()
                .contains("ip mptcp endpoint add")
        );
        let limits = findings.iter().find(|f| f.id == "add-addr-accepted-zero");
        assert_eq!(limits.unwrap().fix.as_deref(), Some(LIMITS_COMMAND));
    }

    #[test]
    fn zero_subflow_limit_warns_even_with_endpoints() {
        let facts = Facts {
            limits: Ok(Limits {
                subflows: 0,
                add_addr_accepted: 0,
            }),
            ..healthy()
        };
        let findings = findings(&facts);
        assert_eq!(ids(&findings, Severity::Warning), ["subflow-limit-zero"]);
        assert!(findings[1].message.contains("one path"));
        assert_eq!(findings[1].fix.as_deref(), Some(LIMITS_COMMAND));
        assert!(!findings.iter().any(|f| f.id == "multipath-ready"));
    }

    #[test]
    fn backup_only_endpoints_do_not_count() {
        let facts = Facts {
            endpoints: Ok(vec![endpoint(1 << 2)]),
            ..healthy()
        };
        let findings = findings(&facts);
        assert_eq!(ids(&findings, Severity::Warning), ["no-endpoints"]);
    }

    #[test]
    fn userspace_path_manager_replaces_limit_checks() {
        let mut facts = healthy();
        facts.path_manager.as_mut().unwrap().name = "userspace".into();
        facts.endpoints = Ok(vec![]);
        let findings = findings(&facts);
        assert_eq!(
            ids(&findings, Severity::Warning),
            ["userspace-path-manager"]
        );
        assert!(
            findings[1]
                .fix
                .as_ref()
                .unwrap()
                .contains("path_manager=kernel")
        );
    }

    #[test]
    fn self_test_fallback_is_an_error() {
        let facts = Facts {
            self_test: SelfTest::Fallback { side: "the server" },
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(!can_work(&findings));
        assert_eq!(ids(&findings, Severity::Error), ["self-test-fallback"]);
        assert!(findings.iter().any(|f| f.message.contains("fell back")));
    }

    #[test]
    fn self_test_failure_is_a_warning() {
        let facts = Facts {
            self_test: SelfTest::Failed("connect: timed out".into()),
            ..healthy()
        };
        let findings = findings(&facts);
        assert!(can_work(&findings));
        assert_eq!(ids(&findings, Severity::Warning), ["self-test-failed"]);
    }

    #[test]
    fn engines() {
        let mut facts = healthy();
        facts.engines.preload = Err("not found (looked in: /x)".into());
        let found = findings(&facts);
        assert_eq!(ids(&found, Severity::Warning), ["preload-engine-missing"]);
        assert!(can_work(&found));
        facts.engines.seccomp = Err("no seccomp".into());
        let found = findings(&facts);
        assert_eq!(ids(&found, Severity::Error), ["no-engine"]);
        assert!(!can_work(&found));
    }

    #[test]
    fn self_test_judgement() {
        let address: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let fell_back = || Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        assert!(matches!(
            judge_self_test(address, Ok(info()), Ok(info())),
            SelfTest::Mptcp { .. }
        ));
        assert_eq!(
            judge_self_test(address, fell_back(), Ok(info())),
            SelfTest::Fallback { side: "the client" }
        );
        let flagged = MptcpInfo {
            flags: mptcp_info::FLAG_FALLBACK,
            ..info()
        };
        assert_eq!(
            judge_self_test(address, fell_back(), Ok(flagged)),
            SelfTest::Fallback { side: "both ends" }
        );
        assert!(matches!(
            judge_self_test(
                address,
                Ok(info()),
                Err(io::Error::from_raw_os_error(libc::EBADF))
            ),
            SelfTest::Failed(_)
        ));
    }

    /// On the real kernel (MPTCP enabled, as every test host needs): the
    /// loopback test passes, and it does see a fallback when the listener
    /// is plain TCP.
    #[test]
    fn loopback_test_sees_mptcp_and_fallback() {
        match run_self_test().unwrap() {
            SelfTest::Mptcp { client, server, .. } => {
                assert!(client.remote_key_received() && server.remote_key_received());
                assert!(client.subflows() >= 1);
            }
            other => panic!("self-test on this host: {other:?}"),
        }
        assert_eq!(
            loopback_test(libc::IPPROTO_TCP).unwrap(),
            SelfTest::Fallback { side: "both ends" }
        );
    }

    #[test]
    fn text_report() {
        let facts = Facts {
            limits: Ok(Limits {
                subflows: 0,
                add_addr_accepted: 0,
            }),
            ..healthy()
        };
        let text = render_text(&facts, &findings(&facts));
        for needle in [
            "net.mptcp.enabled  1",
            "kernel (net.mptcp.path_manager; available: kernel userspace)",
            "subflow 0, add_addr_accepted 0",
            "id 1 10.0.0.1 dev dummy0 subflow",
            "passed: MPTCP connection over 127.0.0.1:4242",
            "[warning] The subflow limit is 0",
            &format!("fix: {LIMITS_COMMAND}"),
            "MPTCP can work here (1 warning).",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn json_report() {
        let facts = healthy();
        let json = render_json(&facts, &findings(&facts)).pretty();
        for needle in [
            "\"mptcp_can_work\": true",
            "\"subflows\": 2",
            "\"add_addr_accepted\": 2",
            "\"address\": \"10.0.0.1\"",
            "\"dev\": \"dummy0\"",
            "\"subflow\": true",
            "\"result\": \"mptcp\"",
            "\"severity\": \"ok\"",
        ] {
            assert!(json.contains(needle), "missing {needle:?} in:\n{json}");
        }
    }
}
