//! `mptcpize-rs inspect [--json] PID...`: every TCP-family socket of those
//! processes, MPTCP or TCP, with state, addresses and MPTCP subflows.
//!
//! The socket inodes come from `/proc/PID/fd` (`socket:[INODE]`); what the
//! kernel knows about them comes from sock_diag ([`crate::kernel::sock_diag`]),
//! dumped once per network namespace: the MPTCP dump names the MPTCP
//! sockets (with `struct mptcp_info`), the TCP dump the plain ones. The TCP
//! dump also lists each MPTCP socket's subflows under the MPTCP socket's
//! inode; those are counted as subflows, not reported as sockets. A process
//! in another network namespace is inspected from inside it (a helper
//! thread joins the namespace to open the netlink socket, which needs root).
//! Sockets no dump lists (created but never bound or connected) are found
//! through `pidfd_getfd` ([`crate::kernel::process_sockets`]) and shown as `CLOSE`.
//! The `--json` document's schema is [`InspectJson`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;

use crate::failure::Failure;
use crate::kernel::netlink::Channel;
use crate::kernel::process_sockets;
use crate::kernel::sock_diag::{self, DiagSocket, IPPROTO_MPTCP};
use crate::terminal::printable;
use serde::Serialize;

const IPPROTO_TCP: u16 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Mptcp,
    Tcp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Mptcp => "mptcp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// One socket of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub fd: i32,
    pub protocol: Protocol,
    pub state: &'static str,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// MPTCP only: subflows of the connection (the initial one included).
    pub subflows: Option<u32>,
    /// MPTCP only: the connection fell back to plain TCP.
    pub fallback: Option<bool>,
}

/// The sockets of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSockets {
    pub pid: i32,
    /// `/proc/PID/comm`.
    pub command: String,
    pub sockets: Vec<Socket>,
}

/// What sock_diag lists in one network namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dumps {
    pub tcp: Vec<DiagSocket>,
    pub mptcp: Vec<DiagSocket>,
}

/// Inspects the processes and prints the tables (or JSON); 0 on success.
pub fn inspect(pids: &[i32], json: bool) -> Result<u8, Failure> {
    let mut dumps_by_netns: BTreeMap<u64, Dumps> = BTreeMap::new();
    let mut processes = Vec::new();
    for &pid in pids {
        let fds = socket_fds(pid)?;
        let netns = fs::metadata(format!("/proc/{pid}/ns/net"))
            .map_err(|error| process_error(pid, "cannot see its network namespace", error))?
            .ino();
        let dumps = match dumps_by_netns.entry(netns) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(dump_netns_of(pid).map_err(|error| {
                Failure::new(format!(
                    "cannot list the sockets of process {pid} through sock_diag: {error}"
                ))
            })?),
        };
        let mut sockets = match_sockets(&fds, dumps);
        add_unlisted(pid, &fds, &mut sockets);
        // As bytes: a name that is not UTF-8 is shown, not hidden.
        let command = fs::read(format!("/proc/{pid}/comm")).unwrap_or_default();
        processes.push(ProcessSockets {
            pid,
            command: String::from_utf8_lossy(&command).trim().to_string(),
            sockets,
        });
    }
    let text = if json {
        crate::terminal_json::to_pretty_string(&render_json(&processes)) + "\n"
    } else {
        render_text(&processes)
    };
    io::stdout()
        .write_all(text.as_bytes())
        .map_err(|error| Failure::new(format!("cannot write the report: {error}")))?;
    Ok(0)
}

fn process_error(pid: i32, what: &str, error: io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::NotFound => Failure::new(format!("no process with PID {pid}")),
        io::ErrorKind::PermissionDenied => Failure::new(format!(
            "process {pid}: {what}: permission denied (another user's process: run as root)"
        )),
        _ => Failure::new(format!("process {pid}: {what}: {error}")),
    }
}

/// `(fd, inode)` of every socket in `/proc/PID/fd`.
pub fn socket_fds(pid: i32) -> Result<Vec<(i32, u64)>, Failure> {
    if !fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.is_dir()) {
        return Err(Failure::new(format!("no process with PID {pid}")));
    }
    process_sockets::socket_descriptors(pid)
        .map_err(|error| process_error(pid, "cannot read its descriptors", error))
}

/// TCP and MPTCP dumps of the network namespace `pid` is in.
fn dump_netns_of(pid: i32) -> io::Result<Dumps> {
    let mut channel = channel_in_netns_of(pid)?;
    let tcp = sock_diag::dump(&mut channel, IPPROTO_TCP)?;
    let mptcp = match sock_diag::dump(&mut channel, IPPROTO_MPTCP) {
        Ok(sockets) => sockets,
        // A kernel without MPTCP has no MPTCP sockets to list.
        Err(_) if fs::metadata("/proc/sys/net/mptcp").is_err() => Vec::new(),
        Err(error) => {
            return Err(io::Error::new(
                error.kind(),
                format!(
                    "MPTCP sockets (is mptcp_diag, CONFIG_INET_MPTCP_DIAG, available?): {error}"
                ),
            ));
        }
    };
    Ok(Dumps { tcp, mptcp })
}

/// A sock_diag channel in `pid`'s network namespace.
fn channel_in_netns_of(pid: i32) -> io::Result<Channel> {
    let protocol = netlink_sys::protocols::NETLINK_SOCK_DIAG;
    let path = format!("/proc/{pid}/ns/net");
    if fs::metadata("/proc/self/ns/net")?.ino() == fs::metadata(&path)?.ino() {
        return Channel::open(protocol);
    }
    let namespace = fs::File::open(&path)?;
    crate::kernel::netns::sock_diag_channel_in(namespace).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "the process is in another network namespace, which cannot be \
                 entered ({error}); run as root, or inside it (ip netns exec)"
            ),
        )
    })
}

/// The process's sockets that the dumps list, by fd. An inode in the MPTCP
/// dump is an MPTCP socket; TCP dump entries with that inode are its
/// subflows.
pub fn match_sockets(fds: &[(i32, u64)], dumps: &Dumps) -> Vec<Socket> {
    let mptcp = by_inode(&dumps.mptcp);
    let tcp = by_inode(&dumps.tcp);
    let mut sockets = Vec::new();
    for &(fd, inode) in fds {
        if let Some(entry) = mptcp.get(&inode).and_then(|list| list.first()) {
            let tcp_subflows = tcp.get(&inode).map_or(0, Vec::len) as u32;
            let subflows = match entry.mptcp_info {
                Some(info) if entry.state != 10 => u32::from(info.subflows()),
                // A listener has no connection; older kernels lack the info.
                _ if entry.state == 10 => 0,
                _ => tcp_subflows,
            };
            sockets.push(Socket {
                fd,
                protocol: Protocol::Mptcp,
                state: sock_diag::state_name(entry.state),
                local: Some(entry.local),
                remote: Some(entry.remote),
                subflows: Some(subflows),
                fallback: entry.mptcp_info.map(|info| info.fallback()),
            });
        } else if let Some(entry) = tcp.get(&inode).and_then(|list| list.first()) {
            sockets.push(Socket {
                fd,
                protocol: Protocol::Tcp,
                state: sock_diag::state_name(entry.state),
                local: Some(entry.local),
                remote: Some(entry.remote),
                subflows: None,
                fallback: None,
            });
        }
    }
    sockets
}

/// Dump entries by inode (0, for sockets no process holds, is left out).
fn by_inode(list: &[DiagSocket]) -> BTreeMap<u64, Vec<&DiagSocket>> {
    let mut map: BTreeMap<u64, Vec<&DiagSocket>> = BTreeMap::new();
    for socket in list.iter().filter(|s| s.inode != 0) {
        map.entry(u64::from(socket.inode)).or_default().push(socket);
    }
    map
}

/// Adds the TCP-family sockets no dump lists (never bound or connected),
/// when the process's descriptors can be examined; silently skipped if not.
fn add_unlisted(pid: i32, fds: &[(i32, u64)], sockets: &mut Vec<Socket>) {
    let listed: BTreeSet<i32> = sockets.iter().map(|s| s.fd).collect();
    if fds.iter().all(|(fd, _)| listed.contains(fd)) {
        return;
    }
    let Ok(all) = process_sockets::tcp_family_sockets(pid) else {
        return;
    };
    for socket in all.iter().filter(|s| !listed.contains(&s.fd)) {
        let mptcp = socket.is_mptcp();
        sockets.push(Socket {
            fd: socket.fd,
            protocol: if mptcp {
                Protocol::Mptcp
            } else {
                Protocol::Tcp
            },
            state: "CLOSE",
            local: None,
            remote: None,
            subflows: mptcp.then_some(0),
            fallback: None,
        });
    }
    sockets.sort_by_key(|s| s.fd);
}

/// One table per process.
pub fn render_text(processes: &[ProcessSockets]) -> String {
    let mut out = String::new();
    for (i, process) in processes.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mptcp = process
            .sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Mptcp)
            .count();
        let total = process.sockets.len();
        let name = if process.command.is_empty() {
            String::new()
        } else {
            format!(" ({})", printable(&process.command))
        };
        out += &format!(
            "PID {}{name}: {mptcp} of {total} TCP-family socket{} MPTCP\n",
            process.pid,
            if total == 1 { " is" } else { "s are" }
        );
        if total == 0 {
            continue;
        }
        let address = |a: Option<SocketAddr>| a.map_or("-".to_string(), |a| a.to_string());
        let mut rows = vec![[
            "FD".to_string(),
            "PROTOCOL".into(),
            "STATE".into(),
            "LOCAL".into(),
            "REMOTE".into(),
            "SUBFLOWS".into(),
        ]];
        for socket in &process.sockets {
            let subflows = match (socket.subflows, socket.fallback) {
                (Some(n), Some(true)) => format!("{n} (fell back to TCP)"),
                (Some(n), _) => n.to_string(),
                (None, _) => "-".into(),
            };
            rows.push([
                socket.fd.to_string(),
                socket.protocol.name().into(),
                socket.state.into(),
                address(socket.local),
                address(socket.remote),
                subflows,
            ]);
        }
        let mut widths = [0; 6];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        for row in &rows {
            let mut line = String::from(" ");
            for (cell, width) in row.iter().zip(widths) {
                line += &format!(" {cell:<width$} ");
            }
            out += line.trim_end();
            out.push('\n');
        }
    }
    out
}

/// The `inspect --json` document: one entry per PID asked for, in order.
pub type InspectJson<'a> = Vec<ProcessJson<'a>>;

/// One process and its TCP-family sockets.
#[derive(Serialize)]
pub struct ProcessJson<'a> {
    pub pid: i32,
    /// `/proc/PID/comm`.
    pub command: &'a str,
    pub sockets: Vec<SocketJson<'a>>,
}

/// One socket. `local` and `remote` are `null` for a socket no sock_diag
/// dump lists; `subflows` and `fallback` are there for MPTCP sockets only.
#[derive(Serialize)]
pub struct SocketJson<'a> {
    pub fd: i32,
    /// `mptcp` or `tcp`.
    pub protocol: &'a str,
    pub state: &'a str,
    pub local: Option<String>,
    pub remote: Option<String>,
    #[serde(flatten)]
    pub mptcp: Option<MptcpSocketJson>,
}

/// What only an MPTCP socket has (`null` when the kernel did not say).
#[derive(Serialize)]
pub struct MptcpSocketJson {
    /// Subflows of the connection, the initial one included.
    pub subflows: Option<u32>,
    /// The connection fell back to plain TCP.
    pub fallback: Option<bool>,
}

/// `[{"pid": N, "command": "...", "sockets": [...]}, ...]`.
pub fn render_json(processes: &[ProcessSockets]) -> InspectJson<'_> {
    processes
        .iter()
        .map(|process| ProcessJson {
            pid: process.pid,
            command: &process.command,
            sockets: process.sockets.iter().map(SocketJson::new).collect(),
        })
        .collect()
}

impl<'a> SocketJson<'a> {
    fn new(socket: &'a Socket) -> SocketJson<'a> {
        SocketJson {
            fd: socket.fd,
            protocol: socket.protocol.name(),
            state: socket.state,
            local: socket.local.map(|a| a.to_string()),
            remote: socket.remote.map(|a| a.to_string()),
            mptcp: (socket.protocol == Protocol::Mptcp).then_some(MptcpSocketJson {
                subflows: socket.subflows,
                fallback: socket.fallback,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::mptcp_info::{FLAG_FALLBACK, MptcpInfo};
    use std::os::fd::AsRawFd;

    fn diag(protocol: u16, inode: u32, state: u8, local: &str, remote: &str) -> DiagSocket {
        DiagSocket {
            protocol,
            inode,
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            mptcp_info: None,
            tcp_bytes: None,
        }
    }

    fn with_info(mut socket: DiagSocket, subflows_total: u8, flags: u32) -> DiagSocket {
        socket.mptcp_info = Some(MptcpInfo {
            subflows_total: Some(subflows_total),
            flags,
            ..MptcpInfo::default()
        });
        socket
    }

    #[test]
    fn mptcp_wins_and_its_subflows_are_not_sockets() {
        let dumps = Dumps {
            tcp: vec![
                // The MPTCP listener's subflow listener and the connection's
                // two subflows carry the MPTCP sockets' inodes.
                diag(6, 100, 10, "[::]:8080", "[::]:0"),
                diag(6, 101, 1, "[::1]:8080", "[::1]:5000"),
                diag(6, 101, 1, "[::1]:8080", "[::1]:5001"),
                diag(6, 200, 1, "127.0.0.1:22", "127.0.0.1:6000"),
                diag(6, 0, 6, "127.0.0.1:22", "127.0.0.1:6001"), // TIME_WAIT
                diag(6, 999, 1, "127.0.0.1:1", "127.0.0.1:2"),   // someone else's
            ],
            mptcp: vec![
                with_info(diag(262, 100, 10, "[::]:8080", "[::]:0"), 1, 0),
                with_info(diag(262, 101, 1, "[::1]:8080", "[::1]:5000"), 2, 0),
                with_info(
                    diag(262, 102, 1, "[::1]:8080", "[::1]:5002"),
                    1,
                    FLAG_FALLBACK,
                ),
            ],
        };
        let fds = [(3, 100), (4, 101), (5, 200), (6, 102), (7, 555)];
        let sockets = match_sockets(&fds, &dumps);
        let summary: Vec<_> = sockets
            .iter()
            .map(|s| (s.fd, s.protocol, s.state, s.subflows, s.fallback))
            .collect();
        assert_eq!(
            summary,
            [
                (3, Protocol::Mptcp, "LISTEN", Some(0), Some(false)),
                (4, Protocol::Mptcp, "ESTABLISHED", Some(2), Some(false)),
                (5, Protocol::Tcp, "ESTABLISHED", None, None),
                (6, Protocol::Mptcp, "ESTABLISHED", Some(1), Some(true)),
            ]
        );
        assert_eq!(sockets[1].remote, Some("[::1]:5000".parse().unwrap()));
    }

    #[test]
    fn subflows_counted_from_tcp_dump_without_info() {
        let dumps = Dumps {
            tcp: vec![
                diag(6, 7, 1, "10.0.0.1:1", "10.0.0.2:80"),
                diag(6, 7, 1, "10.0.1.1:1", "10.0.1.2:80"),
            ],
            mptcp: vec![diag(262, 7, 1, "10.0.0.1:1", "10.0.0.2:80")],
        };
        let sockets = match_sockets(&[(9, 7)], &dumps);
        assert_eq!(sockets[0].subflows, Some(2));
        assert_eq!(sockets[0].fallback, None);
    }

    fn sample() -> Vec<ProcessSockets> {
        vec![ProcessSockets {
            pid: 42,
            command: "python3".into(),
            sockets: vec![
                Socket {
                    fd: 3,
                    protocol: Protocol::Mptcp,
                    state: "ESTABLISHED",
                    local: Some("[::1]:8080".parse().unwrap()),
                    remote: Some("[::1]:5000".parse().unwrap()),
                    subflows: Some(1),
                    fallback: Some(false),
                },
                Socket {
                    fd: 4,
                    protocol: Protocol::Tcp,
                    state: "LISTEN",
                    local: Some("0.0.0.0:22".parse().unwrap()),
                    remote: Some("0.0.0.0:0".parse().unwrap()),
                    subflows: None,
                    fallback: None,
                },
            ],
        }]
    }

    #[test]
    fn text_table() {
        let text = render_text(&sample());
        assert!(
            text.starts_with("PID 42 (python3): 1 of 2 TCP-family sockets are MPTCP\n"),
            "{text}"
        );
        assert!(text.contains("FD  PROTOCOL  STATE"), "{text}");
        assert!(
            text.contains("3   mptcp     ESTABLISHED  [::1]:8080  [::1]:5000  1"),
            "{text}"
        );
        assert!(text.contains("4   tcp       LISTEN"), "{text}");
    }

    #[test]
    fn json_shape() {
        let json = crate::terminal_json::to_pretty_string(&render_json(&sample()));
        for needle in [
            "\"pid\": 42",
            "\"protocol\": \"mptcp\"",
            "\"state\": \"ESTABLISHED\"",
            "\"local\": \"[::1]:8080\"",
            "\"subflows\": 1",
            "\"protocol\": \"tcp\"",
        ] {
            assert!(json.contains(needle), "missing {needle:?} in {json}");
        }
        // TCP sockets have no subflows field.
        assert_eq!(json.matches("\"subflows\"").count(), 1);
    }

    #[test]
    fn own_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pid = std::process::id() as i32;
        let fds = socket_fds(pid).unwrap();
        let dumps = dump_netns_of(pid).unwrap();
        let sockets = match_sockets(&fds, &dumps);
        let own = sockets
            .iter()
            .find(|s| s.fd == listener.as_raw_fd())
            .expect("the listener is listed");
        assert_eq!(own.protocol, Protocol::Tcp);
        assert_eq!(own.state, "LISTEN");
        assert_eq!(own.local, Some(listener.local_addr().unwrap()));
    }

    #[test]
    fn missing_process() {
        let error = socket_fds(i32::MAX).unwrap_err();
        assert_eq!(error.exit_code, 1);
        assert!(error.message.contains("no process with PID"), "{error}");
    }

    /// The whole document, byte for byte: `subflows` and `fallback` only on
    /// MPTCP sockets, `null` there when unknown; unlisted sockets have
    /// `null` addresses.
    #[test]
    fn json_document() {
        let mut processes = sample();
        processes[0].sockets.truncate(1);
        processes[0].sockets.push(Socket {
            fd: 5,
            protocol: Protocol::Mptcp,
            state: "CLOSE",
            local: None,
            remote: None,
            subflows: None,
            fallback: None,
        });
        let tcp = Socket {
            protocol: Protocol::Tcp,
            subflows: None,
            fallback: None,
            ..processes[0].sockets[0].clone()
        };
        processes[0].sockets.push(tcp);
        let expected = r#"[
  {
    "pid": 42,
    "command": "python3",
    "sockets": [
      {
        "fd": 3,
        "protocol": "mptcp",
        "state": "ESTABLISHED",
        "local": "[::1]:8080",
        "remote": "[::1]:5000",
        "subflows": 1,
        "fallback": false
      },
      {
        "fd": 5,
        "protocol": "mptcp",
        "state": "CLOSE",
        "local": null,
        "remote": null,
        "subflows": null,
        "fallback": null
      },
      {
        "fd": 3,
        "protocol": "tcp",
        "state": "ESTABLISHED",
        "local": "[::1]:8080",
        "remote": "[::1]:5000"
      }
    ]
  }
]"#;
        let json = crate::terminal_json::to_pretty_string(&render_json(&processes));
        assert_eq!(json, expected);
        assert_eq!(
            crate::terminal_json::to_pretty_string(&render_json(&[])),
            "[]"
        );
    }
}
