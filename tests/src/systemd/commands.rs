//! Commands and files inside a running [`SystemdContainer`]: `nsenter`
//! into its namespaces and root with a clean environment, `systemctl`,
//! the journal and `ss`.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::container::SystemdContainer;
use crate::process::{ChildGuard, CmdOutput, run_timeout};
use crate::workspace::{launcher, shim};

/// Default bound for commands run inside.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Where [`SystemdContainer::install_mptcpize_rs`] puts the launcher.
pub const CONTAINER_LAUNCHER: &str = "/usr/local/bin/mptcpize-rs";
/// Where [`SystemdContainer::install_mptcpize_rs`] puts the shim (the
/// launcher's default library directory).
pub const CONTAINER_SHIM: &str = "/usr/local/lib/mptcpize-rs/libmptcpize_preload.so";

/// Environment of commands run inside (nothing leaks from the test process).
const CONTAINER_ENV: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/root"),
    ("LANG", "C.UTF-8"),
    ("TERM", "dumb"),
];

/// Runs as `sh -c` inside: write stdin to $1 atomically with mode $2.
const WRITE_SCRIPT: &str = r#"set -eu
mkdir -p -- "$(dirname -- "$1")"
tmp="$1.mpz-tmp.$$"
cat > "$tmp"
chmod "$2" "$tmp"
mv -f -- "$tmp" "$1"
"#;

impl SystemdContainer {
    /// `nsenter` into all the container's namespaces and its root, with a
    /// clean environment; add arguments and stdio as needed. `argv[0]` is
    /// looked up on the container's PATH.
    pub fn command(&self, argv: &[&str]) -> Command {
        assert!(!argv.is_empty(), "empty command");
        assert!(self.init_pid != 0, "container {} is not running", self.name);
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.init_pid.to_string())
            .args(["--all", "--root", "--wd", "--"])
            .args(argv)
            .env_clear()
            .envs(CONTAINER_ENV.iter().copied());
        cmd
    }

    /// Run `argv` inside (bounded by [`EXEC_TIMEOUT`]); status not checked.
    pub fn exec(&self, argv: &[&str]) -> CmdOutput {
        self.exec_timeout(argv, EXEC_TIMEOUT)
    }

    /// Run `argv` inside, waiting at most `timeout`; status not checked.
    pub fn exec_timeout(&self, argv: &[&str], timeout: Duration) -> CmdOutput {
        run_timeout(&mut self.command(argv), timeout)
    }

    /// Run `argv` inside and panic (showing its output) unless it succeeds.
    pub fn exec_ok(&self, argv: &[&str]) -> CmdOutput {
        let out = self.exec(argv);
        out.success();
        out
    }

    /// Run a shell script inside (`sh -c SCRIPT`); status not checked.
    pub fn sh(&self, script: &str) -> CmdOutput {
        self.exec(&["sh", "-c", script])
    }

    /// Write `contents` to `path` inside (mode 0644), creating parent
    /// directories. The file is replaced atomically (rename).
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        self.write_mode(path, contents, 0o644);
    }

    /// Write `contents` to `path` inside with permission bits `mode`.
    pub fn write_mode(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) {
        assert!(path.starts_with('/'), "{path}: need an absolute path");
        let mode = format!("{mode:o}");
        let mut cmd = self.command(&["sh", "-c", WRITE_SCRIPT, "mpz-write", path, &mode]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(&mut cmd);
        let mut stdin = child.stdin.take().expect("piped stdin");
        let data = contents.as_ref().to_vec();
        let writer = thread::spawn(move || stdin.write_all(&data));
        let out = child.output_timeout(EXEC_TIMEOUT);
        let written = writer.join().expect("writer thread");
        assert!(
            out.status.success() && written.is_ok(),
            "cannot write {path} in container {} ({written:?}):\n{out}",
            self.name
        );
    }

    /// Copy the host file `host_path` to `path` inside, with mode `mode`.
    pub fn install(&self, host_path: impl AsRef<Path>, path: &str, mode: u32) {
        let host_path = host_path.as_ref();
        let data =
            fs::read(host_path).unwrap_or_else(|e| panic!("read {}: {e}", host_path.display()));
        self.write_mode(path, data, mode);
    }

    /// Install the workspace's (debug) launcher and shim at
    /// [`CONTAINER_LAUNCHER`] and [`CONTAINER_SHIM`] (building them first
    /// if needed).
    pub fn install_mptcpize_rs(&self) {
        self.install(launcher(), CONTAINER_LAUNCHER, 0o755);
        self.install(shim(), CONTAINER_SHIM, 0o644);
    }

    /// The contents of `path` inside; panics if it cannot be read.
    pub fn read(&self, path: &str) -> String {
        self.exec_ok(&["cat", "--", path]).stdout
    }

    /// Whether `path` exists inside.
    pub fn exists(&self, path: &str) -> bool {
        self.exec(&["test", "-e", path]).status.success()
    }

    /// `systemctl ARGS...` inside; status not checked.
    pub fn systemctl(&self, args: &[&str]) -> CmdOutput {
        let mut argv = vec!["systemctl"];
        argv.extend_from_slice(args);
        self.exec(&argv)
    }

    /// `systemctl daemon-reload`; panics on failure.
    pub fn daemon_reload(&self) {
        self.systemctl(&["daemon-reload"]).success();
    }

    /// `systemctl start UNIT`; panics with the unit's status and journal on failure.
    pub fn start(&self, unit: &str) {
        self.unit_action("start", unit);
    }

    /// `systemctl stop UNIT`; panics with the unit's status and journal on failure.
    pub fn stop(&self, unit: &str) {
        self.unit_action("stop", unit);
    }

    /// `systemctl restart UNIT`; panics with the unit's status and journal on failure.
    pub fn restart(&self, unit: &str) {
        self.unit_action("restart", unit);
    }

    fn unit_action(&self, action: &str, unit: &str) {
        let out = self.systemctl(&[action, unit]);
        if !out.status.success() {
            panic!(
                "systemctl {action} {unit} failed in container {}:\n{out}\n{}",
                self.name,
                self.unit_report(unit)
            );
        }
    }

    /// One property of a unit (`systemctl show -p NAME --value UNIT`).
    pub fn unit_property(&self, unit: &str, property: &str) -> String {
        let out = self.systemctl(&["show", "-p", property, "--value", unit]);
        out.success();
        out.stdout.trim_end_matches('\n').to_string()
    }

    /// `systemctl status` and the journal of `unit`, for failure messages.
    pub fn unit_report(&self, unit: &str) -> String {
        let status = self.systemctl(&["status", "--no-pager", "--full", unit]);
        format!(
            "--- systemctl status {unit} ---\n{}{}\n--- journal of {unit} ---\n{}",
            status.stdout,
            status.stderr,
            self.journal(unit)
        )
    }

    /// The last 100 journal lines of `unit`.
    pub fn journal(&self, unit: &str) -> String {
        let out = self.exec(&["journalctl", "--no-pager", "-n", "100", "-u", unit]);
        format!("{}{}", out.stdout, out.stderr)
    }

    /// `ss ARGS...` inside; panics on failure, returns stdout.
    pub fn ss(&self, args: &[&str]) -> String {
        let mut argv = vec!["ss"];
        argv.extend_from_slice(args);
        self.exec_ok(&argv).stdout
    }

    /// TCP listeners on `port` inside now (`ss -ltnH` lines). Note: an
    /// MPTCP listener also shows here (its TCP subflow listener).
    pub fn tcp_listeners(&self, port: u16) -> Vec<String> {
        listeners_on(&self.ss(&["-ltnH"]), port)
    }

    /// MPTCP listeners on `port` inside now (`ss -lMnH` lines).
    pub fn mptcp_listeners(&self, port: u16) -> Vec<String> {
        listeners_on(&self.ss(&["-lMnH"]), port)
    }

    /// Wait (bounded) until a TCP socket listens on `port` inside
    /// (`ss -ltnH`; an MPTCP listener counts too); returns the matching lines.
    pub fn wait_for_listen(&self, port: u16, timeout: Duration) -> Vec<String> {
        self.wait_for_listener(&["-ltnH"], port, timeout)
    }

    /// Wait (bounded) until an MPTCP socket listens on `port` inside
    /// (`ss -lMnH`); returns the matching lines.
    pub fn wait_for_mptcp_listen(&self, port: u16, timeout: Duration) -> Vec<String> {
        self.wait_for_listener(&["-lMnH"], port, timeout)
    }

    fn wait_for_listener(&self, ss_args: &[&str], port: u16, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.ss(ss_args);
            let found = listeners_on(&out, port);
            if !found.is_empty() {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "nothing listens on port {port} in container {} after {timeout:?}; \
                     `ss {}` shows:\n{out}",
                    self.name,
                    ss_args.join(" ")
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Lines of `ss -H` output with a local address ending in `:PORT`.
fn listeners_on(ss_output: &str, port: u16) -> Vec<String> {
    let suffix = format!(":{port}");
    ss_output
        .lines()
        .filter(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // Local address: 4th field, or 5th when a Netid column comes first.
            let local = if fields.first().is_some_and(|f| *f == "LISTEN") {
                fields.get(3)
            } else {
                fields.get(4)
            };
            local.is_some_and(|a| a.ends_with(&suffix))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_listeners() {
        let tcp = "LISTEN 0      5      *:8080 *:*\nLISTEN 0 128 127.0.0.1:80 0.0.0.0:*\n";
        assert_eq!(
            listeners_on(tcp, 8080),
            vec!["LISTEN 0      5      *:8080 *:*"]
        );
        assert_eq!(listeners_on(tcp, 80).len(), 1);
        assert!(listeners_on(tcp, 8).is_empty());
        let both = "tcp   LISTEN 0 5 [::]:8080 [::]:*\nmptcp LISTEN 0 5 0.0.0.0:9000 0.0.0.0:*\n";
        assert_eq!(listeners_on(both, 8080).len(), 1);
        assert_eq!(listeners_on(both, 9000).len(), 1);
    }
}
