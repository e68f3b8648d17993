//! Network namespaces the project creates for itself (tests, benchmarks, the
//! demo). Each is deleted when its guard is dropped, also on error and on
//! panic, together with every process still running inside it.

use std::ffi::OsStr;
use std::io;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A network namespace created by this process, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
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
        let netns = Netns { name };
        netns.ip(["link", "set", "lo", "up"])?;
        Ok(netns)
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
        // Kill what is left inside first: a namespace with live processes
        // vanishes from `ip netns` but lives on behind them.
        for pid in self.pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = ip(["netns", "delete", &self.name]);
    }
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
