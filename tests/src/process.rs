//! Child processes with bounded waits. A [`ChildGuard`] kills (SIGKILL) and
//! reaps its process when dropped, including while a test is panicking.

use std::fmt;
use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Render a command for messages: program and arguments, shell-like.
pub fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={:?} ", k.to_string_lossy(), v));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$;&|".contains(c)) {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Wait for `child` at most `timeout`. On timeout the child is killed and
/// reaped, then this panics.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    wait_named(child, timeout, "")
}

fn wait_named(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) => {}
            Err(e) => panic!("waiting for process {}: {e}", child.id()),
        }
        let now = Instant::now();
        if now >= deadline {
            let pid = child.id();
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {pid} `{what}` did not finish within {timeout:?}; killed it");
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A running child process that is killed and reaped on drop.
pub struct ChildGuard {
    child: Child,
    what: String,
}

impl ChildGuard {
    /// Spawn `cmd`; panics (naming the command) if it cannot be started.
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        let what = describe(cmd);
        match cmd.spawn() {
            Ok(child) => ChildGuard { child, what },
            Err(e) => panic!("cannot start `{what}`: {e}"),
        }
    }

    /// The command line, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Whether the process is still running (not yet exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Bounded wait; kills the process and panics on timeout.
    pub fn wait_timeout(&mut self, timeout: Duration) -> ExitStatus {
        wait_named(&mut self.child, timeout, &self.what)
    }

    /// Kill (SIGKILL) and reap now. Harmless if it already exited.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send `signal` to the process (if it is still running).
    pub fn signal(&mut self, signal: i32) {
        if self.is_running() {
            // SAFETY: kill(2) with a PID we own (not yet reaped) and a signal number.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, signal);
            }
        }
    }

    /// Collect whatever stdout/stderr were configured as `Stdio::piped()`,
    /// waiting at most `timeout` for the process to exit (kill + panic
    /// otherwise). Streams not piped come back empty.
    pub fn output_timeout(mut self, timeout: Duration) -> CmdOutput {
        let start = Instant::now();
        let out = self.child.stdout.take().map(reader);
        let err = self.child.stderr.take().map(reader);
        let status = wait_named(&mut self.child, timeout, &self.what);
        // Output pipes close when the process exits, unless a background
        // descendant inherited them; bound that wait too.
        let grace = timeout.saturating_sub(start.elapsed()) + Duration::from_secs(5);
        let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>, name: &str| -> String {
            let Some(rx) = rx else { return String::new() };
            match rx.recv_timeout(grace) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => panic!(
                    "`{}` exited ({status:?}) but its {name} stayed open \
                     (a background descendant holds it?)",
                    self.what
                ),
            }
        };
        let stdout = collect(out, "stdout");
        let stderr = collect(err, "stderr");
        CmdOutput {
            command: self.what.clone(),
            pid: self.child.id(),
            status,
            stdout,
            stderr,
        }
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

impl Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Result of a finished command, with lossy UTF-8 output.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub command: String,
    /// PID of the spawned process (the launcher execs, so this is also PROG's PID).
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    /// Exit code, or `None` when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The terminating signal, if any.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Panic (showing everything) unless the command exited with status 0.
    pub fn success(&self) -> &CmdOutput {
        assert!(self.status.success(), "command failed:\n{self}");
        self
    }

    /// Panic (showing everything) unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &CmdOutput {
        assert_eq!(self.code(), Some(code), "unexpected exit status:\n{self}");
        self
    }

    /// Panic (showing everything) unless stdout contains every one of
    /// `expected`.
    pub fn stdout_has(&self, expected: &[&str]) -> &CmdOutput {
        for text in expected {
            assert!(self.stdout.contains(text), "{text:?} in:\n{self}");
        }
        self
    }

    /// Panic (showing everything) unless stderr contains every one of
    /// `expected`.
    pub fn stderr_has(&self, expected: &[&str]) -> &CmdOutput {
        for text in expected {
            assert!(self.stderr.contains(text), "{text:?} in:\n{self}");
        }
        self
    }

    /// The lines of stderr that contain `warning`.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains("warning"))
            .collect()
    }
}

fn clip(s: &str) -> &str {
    const MAX: usize = 8000;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "pid: {}", self.pid)?;
        writeln!(f, "status: {:?}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", clip(&self.stdout))?;
        write!(f, "--- stderr ---\n{}", clip(&self.stderr))
    }
}

/// Run `cmd` with stdin from /dev/null and stdout/stderr captured, waiting
/// at most `timeout` (kill + panic otherwise). Does not check the status.
pub fn run_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    ChildGuard::spawn(cmd).output_timeout(timeout)
}

/// The last `n` lines of `text` (a log, a console), for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Tests that load the machine (throughput, two paths) take turns within
/// their test binary: each holds the guard for its whole run.
pub fn my_turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `setpriv` arguments that run the rest of the command line as user and
/// group `nobody` (65534), without supplementary groups.
pub const SETPRIV_NOBODY: [&str; 6] = [
    "--reuid",
    "65534",
    "--regid",
    "65534",
    "--clear-groups",
    "--",
];
