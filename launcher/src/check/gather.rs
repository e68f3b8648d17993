//! Gathering the facts: sysctls, the path manager over generic netlink, a
//! live MPTCP connection over loopback, the engines. The only part of
//! `check` that talks to the kernel.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use libc::IPPROTO_MPTCP;

use super::{Engines, Facts, PathManager, Scheduler, SelfTest, SocketSupport, Systemd};
use crate::kernel::fd;
use crate::kernel::mptcp_info::{self, MptcpInfo};
use crate::kernel::mptcp_pm;
use crate::{engine::preload::shim, engine::seccomp};

/// Bound on each blocking step of the self-test (connect, accept, read,
/// write).
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(3);

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
        systemd: systemd(),
    }
}

/// Bound on `systemctl --version`, which asks no daemon and answers at once.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(5);

/// systemd's version (`systemctl --version`, no D-Bus, no manager) and
/// whether it runs as the init system.
fn systemd() -> Systemd {
    let running = fs::metadata("/run/systemd/system").is_ok_and(|m| m.is_dir());
    Systemd {
        version: host_systemd_version(),
        running,
    }
}

/// This host's systemd version and `systemctl --version`'s first line, or
/// why there is none.
pub fn host_systemd_version() -> Result<(u32, String), String> {
    systemctl_version().and_then(|text| {
        let first = text.lines().next().unwrap_or_default().trim().to_string();
        match parse_systemctl_version(&first) {
            Some(version) => Ok((version, first)),
            None => Err(format!("systemctl --version said {first:?}")),
        }
    })
}

/// `systemctl --version`'s output, waited for at most [`SYSTEMCTL_TIMEOUT`].
fn systemctl_version() -> Result<String, String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("systemctl")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot run systemctl: {error}"))?;
    let deadline = std::time::Instant::now() + SYSTEMCTL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "systemctl --version did not answer within {SYSTEMCTL_TIMEOUT:?}"
                ));
            }
            Err(error) => return Err(format!("systemctl --version: {error}")),
        }
    };
    let mut text = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        // Bounded: a version text is a few hundred bytes.
        let _ = (&mut stdout).take(64 * 1024).read_to_string(&mut text);
    }
    if !status.success() {
        return Err(format!("systemctl --version failed ({status})"));
    }
    Ok(text)
}

/// The version number in `systemctl --version`'s first line
/// (`systemd 252 (252.39-1~deb12u2)`).
pub fn parse_systemctl_version(first_line: &str) -> Option<u32> {
    let mut words = first_line.split_whitespace();
    if words.next()? != "systemd" {
        return None;
    }
    let number = words.next()?;
    let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
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
    fd::socket(libc::AF_INET, kind, protocol)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::info;

    #[test]
    fn systemctl_versions() {
        assert_eq!(
            parse_systemctl_version("systemd 252 (252.39-1~deb12u2)"),
            Some(252)
        );
        assert_eq!(parse_systemctl_version("systemd 257 (257.4-1)"), Some(257));
        assert_eq!(parse_systemctl_version("systemd 258~rc2"), Some(258));
        assert_eq!(parse_systemctl_version("elogind 252"), None);
        assert_eq!(parse_systemctl_version(""), None);
        assert_eq!(parse_systemctl_version("systemd x"), None);
        let systemd =
            |version: Result<(u32, String), String>, running| Systemd { version, running };
        let v = |n| Ok((n, String::new()));
        assert_eq!(systemd(v(252), true).socket_protocol_mptcp(), Some(false));
        assert_eq!(systemd(v(257), true).socket_protocol_mptcp(), Some(true));
        assert_eq!(systemd(v(257), false).socket_protocol_mptcp(), None);
        assert_eq!(
            systemd(Err("no".into()), true).socket_protocol_mptcp(),
            None
        );
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
}
