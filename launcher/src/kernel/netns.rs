//! Network namespaces the project creates for itself (tests, benchmarks, the
//! demo). Each is deleted when its guard is dropped, also on error and on
//! panic, together with every process still running inside it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::kernel::netlink::Channel;

/// A network namespace: one created by this process is deleted on drop;
/// one [`Netns::existing`] names (a `testnet` made by an earlier run) or one
/// [`Netns::keep`] releases is left alone.
#[derive(Debug)]
pub struct Netns {
    name: String,
    owned: bool,
}

impl Netns {
    /// Creates `<prefix>-<pid>-<n>` (unique among parallel tests and runs)
    /// with its loopback up.
    pub fn create(prefix: &str) -> io::Result<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // `ip netns add` sets up the /run/netns mount on first use, and
        // concurrent first uses race; serialise creation within the process.
        static CREATE: Mutex<()> = Mutex::new(());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let _serial = CREATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut result = ip(["netns", "add", &name]);
        for attempt in 1..5 {
            let Err(error) = &result else { break };
            if error.to_string().contains("File exists") {
                // Left over from an earlier process that had our PID.
                let _ = ip(["netns", "delete", &name]);
            }
            std::thread::sleep(Duration::from_millis(50 * attempt));
            result = ip(["netns", "add", &name]);
        }
        result?;
        Netns::set_up(name)
    }

    /// Creates the namespace `name` exactly (no suffix), failing if it
    /// exists: `testnet` names are chosen by the user and must not clash.
    pub fn create_named(name: &str) -> io::Result<Netns> {
        ip(["netns", "add", name])?;
        Netns::set_up(name.to_string())
    }

    /// Owns a fresh namespace (deleted on drop from here on) and brings its
    /// loopback up.
    fn set_up(name: String) -> io::Result<Netns> {
        let netns = Netns { name, owned: true };
        netns.ip(["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// A namespace that exists already and outlives this value.
    pub fn existing(name: &str) -> Netns {
        Netns {
            name: name.to_string(),
            owned: false,
        }
    }

    /// Leaves the namespace in place when this value is dropped (a testnet
    /// that `up` finished building).
    pub fn keep(mut self) {
        self.owned = false;
    }

    /// Kills what runs inside and deletes the namespace now.
    pub fn remove(mut self) -> io::Result<()> {
        self.owned = false;
        self.kill_all();
        ip(["netns", "delete", &self.name])
    }

    /// SIGKILLs every process inside and waits (bounded) for them to go:
    /// a namespace with live processes vanishes from `ip netns` but lives
    /// on behind them, its links with it.
    ///
    /// Never in the host's namespace or this process's: a name under
    /// `/run/netns` may be bound to either (`ip netns attach NAME 1`), and
    /// killing every process there would take the host (and us) down. This
    /// process is never killed either.
    pub fn kill_all(&self) {
        let identity = |path: &str| {
            std::fs::metadata(path)
                .ok()
                .map(|meta| (meta.dev(), meta.ino()))
        };
        let ours = identity(&format!("/run/netns/{}", self.name));
        if ours.is_none()
            || ours == identity("/proc/1/ns/net")
            || ours == identity("/proc/self/ns/net")
        {
            return;
        }
        let me = std::process::id() as libc::pid_t;
        for _ in 0..50 {
            let pids: Vec<libc::pid_t> = self.pids().into_iter().filter(|&pid| pid != me).collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: kill takes a PID and a signal number, no pointers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`
    /// execs it directly, so the spawned PID is the program's).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `ip -n NAME ARGS...`, failing with ip's own message.
    pub fn ip<I, S>(&self, args: I) -> io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tool("ip", args)
    }

    /// Runs `tc -n NAME ARGS...` (traffic control), like [`Netns::ip`].
    pub fn tc<I, S>(&self, args: I) -> io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.tool("tc", args)
    }

    /// iproute2's tools take the namespace as `-n NAME`.
    fn tool<I, S>(&self, program: &str, args: I) -> io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(["-n", &self.name]).args(args);
        checked(program, command)
    }

    /// Runs `program -n NAME ARGS...` (ip, tc) and returns its standard
    /// output: `-j` answers to read.
    pub fn query<I, S>(&self, program: &str, args: I) -> io::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(["-n", &self.name]).args(args);
        let output = output_of(program, command)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Sets a sysctl inside the namespace (`net.mptcp.enabled`, ...).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let mut command = self.command("sysctl");
        command.args(["-qw", &format!("{key}={value}")]);
        checked("sysctl", command)
    }

    /// Reads a file as seen from inside the namespace (`/proc/net/...` and
    /// `/proc/sys/net/...` differ per namespace).
    pub fn read(&self, path: &str) -> io::Result<String> {
        let mut command = self.command("cat");
        command.arg(path);
        let output = output_of("cat", command)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// PIDs of the processes running inside.
    pub fn pids(&self) -> Vec<i32> {
        let Ok(output) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // Kill what is left inside first: a namespace with live processes
        // vanishes from `ip netns` but lives on behind them.
        self.kill_all();
        let _ = ip(["netns", "delete", &self.name]);
    }
}

/// A sock_diag channel in the network namespace `namespace` (an open
/// `/run/netns/NAME` or `/proc/PID/ns/net`). setns() moves only the calling
/// thread, and a socket keeps the namespace it was created in, so a helper
/// thread enters, opens the socket, hands it back and ends: the caller's
/// own namespace never changes.
pub fn sock_diag_channel_in(namespace: std::fs::File) -> io::Result<Channel> {
    std::thread::spawn(move || {
        // SAFETY: setns takes a descriptor (alive: `namespace` is owned by
        // this closure) and a namespace type.
        let rc = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Channel::open(netlink_sys::protocols::NETLINK_SOCK_DIAG)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace helper thread panicked")))
}

/// Runs `ip ARGS...` in the current namespace, failing with ip's message.
pub fn ip<I, S>(args: I) -> io::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("ip");
    command.args(args);
    checked("ip", command)
}

fn checked(what: &str, command: Command) -> io::Result<()> {
    output_of(what, command).map(drop)
}

/// Runs a short configuration command; an error carries its stderr.
fn output_of(what: &str, mut command: Command) -> io::Result<Output> {
    let output = command.stdin(Stdio::null()).output().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot run {what}: {error} (is iproute2 installed?)"),
        )
    })?;
    if output.status.success() {
        return Ok(output);
    }
    let message = String::from_utf8_lossy(&output.stderr);
    Err(io::Error::other(format!(
        "{what} failed: {}",
        message.trim()
    )))
}
