//! Real programs for the compatibility suite (`tests/compat.rs`): nginx
//! and haproxy as reverse proxies, a python3 `http.server` upstream, a
//! python3 echo server, curl requests classified by what came back, and a
//! namespace's MPTCP counters before and after. Each program runs inside a
//! namespace the test created, plain, under `mptcpize-rs run FLAGS`, or
//! under the reference `mptcpize run`, and is killed when its guard drops.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::*;

/// How a program is started.
#[derive(Clone, Copy, Debug)]
pub enum Wrap<'a> {
    /// As it is, without any wrapper (the sanity control).
    Plain,
    /// `mptcpize-rs run FLAGS... -- PROG`.
    Run(&'a [&'a str]),
    /// The reference tool (Debian package mptcpize): `mptcpize run PROG`.
    Reference,
}

impl<'a> Wrap<'a> {
    /// `mptcpize-rs run FLAGS... --` when `wrapped`, else [`Wrap::Plain`].
    pub fn when(wrapped: bool, flags: &'a [&'a str]) -> Wrap<'a> {
        if wrapped {
            Wrap::Run(flags)
        } else {
            Wrap::Plain
        }
    }

    /// `program` inside `ns`, wrapped as asked, with a clean environment
    /// ([`clean_env`]); add its arguments.
    pub fn command(&self, ns: &Netns, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = match self {
            Wrap::Plain => ns.cmd(program),
            Wrap::Run(flags) => {
                let mut cmd = ns.cmd(launcher());
                cmd.arg("run").args(*flags).arg("--").arg(program);
                cmd
            }
            Wrap::Reference => {
                require_package_program("mptcpize", "mptcpize");
                let mut cmd = ns.cmd("mptcpize");
                cmd.arg("run").arg(program);
                cmd
            }
        };
        clean_env(&mut cmd);
        cmd
    }
}

impl fmt::Display for Wrap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wrap::Plain => write!(f, "without a wrapper"),
            Wrap::Run([]) => write!(f, "under `mptcpize-rs run`"),
            Wrap::Run(flags) => write!(f, "under `mptcpize-rs run {}`", flags.join(" ")),
            Wrap::Reference => write!(f, "under the reference `mptcpize run`"),
        }
    }
}

/// Panic unless `program` is on PATH, naming the Debian `package` that
/// provides it (for programs `require_program` has no package name for).
pub fn require_package_program(program: &str, package: &str) -> PathBuf {
    crate::prereq::find_program(program).unwrap_or_else(|| {
        panic!(
            "missing prerequisite: {program} (install it: apt-get install {package}; \
             tests/run-all.sh does this)"
        )
    })
}

/// Start `cmd` with its output in `log` (stdin closed), then wait until it
/// listens on `port` in `ns`; on failure show the log.
fn spawn_listening(ns: &Netns, cmd: &mut Command, log: &Path, port: u16) -> ChildGuard {
    let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut child = ChildGuard::spawn(cmd);
    let show = || format!("{}:\n{}", log.display(), read_lossy(log));
    wait_for_listen_of(ns, port, SHORT, &mut child, &show);
    child
}

/// A file as (lossy) text; empty if it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// `python3 -m http.server` serving `blob.bin` (random bytes), killed on drop.
pub struct HttpUpstream {
    pub child: ChildGuard,
    pub data: Vec<u8>,
    pub log: PathBuf,
}

impl HttpUpstream {
    /// Serve SIZE random bytes as `/blob.bin` on BIND:PORT inside `ns`
    /// (files under `TMP/NAME/`).
    pub fn start(
        ns: &Netns,
        tmp: &TempDir,
        name: &str,
        wrap: Wrap,
        bind: &str,
        port: u16,
        size: usize,
    ) -> HttpUpstream {
        require_program("python3");
        let www = tmp.join(name);
        fs::create_dir_all(&www).unwrap();
        let data = random_bytes(size);
        fs::write(www.join("blob.bin"), &data).unwrap();
        let log = tmp.join(format!("{name}.log"));
        let mut cmd = wrap.command(ns, "python3");
        cmd.args(["-m", "http.server", &port.to_string(), "--bind", bind])
            .arg("--directory")
            .arg(&www)
            .env("PYTHONUNBUFFERED", "1");
        let child = spawn_listening(ns, &mut cmd, &log, port);
        HttpUpstream { child, data, log }
    }
}

/// `fixtures/compat/echo_server.py` (a threaded echo server), killed on drop.
pub struct EchoServer {
    pub child: ChildGuard,
}

impl EchoServer {
    /// Echo on BIND:PORT inside `ns`, log in `TMP/echo-PORT.log`.
    pub fn start(ns: &Netns, tmp: &TempDir, wrap: Wrap, bind: &str, port: u16) -> EchoServer {
        require_program("python3");
        let mut cmd = wrap.command(ns, "python3");
        cmd.arg(fixture("compat/echo_server.py"))
            .args([bind, &port.to_string()]);
        let log = tmp.join(format!("echo-{port}.log"));
        EchoServer {
            child: spawn_listening(ns, &mut cmd, &log, port),
        }
    }
}

/// Upstream timeouts of the proxies: short, so that a request whose
/// upstream connection never completes comes back as 504 quickly.
pub const PROXY_TIMEOUT_S: u32 = 2;

/// A proxy's own directory `TMP/NAME/` (created) and its configuration,
/// `conf(DIR)`, written to `file` in it: the directory and the
/// configuration's path.
fn proxy_files(
    tmp: &TempDir,
    name: &str,
    file: &str,
    conf: impl FnOnce(&str) -> String,
) -> (PathBuf, PathBuf) {
    let dir = tmp.join(name);
    fs::create_dir_all(&dir).unwrap();
    let conf_path = dir.join(file);
    fs::write(&conf_path, conf(path_str(&dir))).unwrap();
    (dir, conf_path)
}

/// nginx (one process: `master_process off`, `daemon off`) proxying
/// `http://127.0.0.1:LISTEN/` to an upstream with `proxy_pass`; every path
/// it writes is under its own directory. Killed on drop.
pub struct Nginx {
    pub child: ChildGuard,
    pub dir: PathBuf,
}

impl Nginx {
    /// Listen on `*:listen` inside `ns` and proxy to `upstream` (a URL such
    /// as `http://127.0.0.1:8081`); files under `TMP/NAME/`.
    pub fn start(
        ns: &Netns,
        tmp: &TempDir,
        name: &str,
        wrap: Wrap,
        listen: u16,
        upstream: &str,
    ) -> Nginx {
        let nginx = require_package_program("nginx", "nginx");
        let t = PROXY_TIMEOUT_S;
        let (dir, conf_path) = proxy_files(tmp, name, "nginx.conf", |d| {
            format!(
                "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    proxy_connect_timeout {t}s;
    proxy_send_timeout {t}s;
    proxy_read_timeout {t}s;
    server {{
        listen {listen};
        location / {{ proxy_pass {upstream}; }}
    }}
}}
"
            )
        });
        let mut cmd = wrap.command(ns, nginx);
        // -e: the error log before the configuration is read (Debian's
        // default, /var/log/nginx, is not ours to write to).
        cmd.arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path);
        let child = spawn_listening(ns, &mut cmd, &dir.join("stderr.log"), listen);
        Nginx { child, dir }
    }

    /// nginx's error log (its `info` level names upstream timeouts).
    pub fn error_log(&self) -> String {
        read_lossy(&self.dir.join("error.log"))
    }
}

/// haproxy (`-db`: foreground, no daemon) with one HTTP frontend on
/// `*:listen` and one backend server. Killed on drop.
pub struct Haproxy {
    pub child: ChildGuard,
    pub log: PathBuf,
}

impl Haproxy {
    /// Frontend on `*:listen` inside `ns`, backend `server` (`ADDR:PORT`);
    /// files under `TMP/NAME/`.
    // Not shared with `Nginx::start`: the same parameters on purpose, so that
    // compat.rs starts either proxy in front of its upstream the same way.
    pub fn start(
        ns: &Netns,
        tmp: &TempDir,
        name: &str,
        wrap: Wrap,
        listen: u16,
        server: &str,
    ) -> Haproxy {
        let haproxy = require_package_program("haproxy", "haproxy");
        let t = PROXY_TIMEOUT_S;
        let (dir, conf_path) = proxy_files(tmp, name, "haproxy.cfg", |_| {
            format!(
                "global
    maxconn 128
defaults
    mode http
    timeout connect {t}s
    timeout client 10s
    timeout server 10s
frontend fe
    bind :{listen}
    default_backend be
backend be
    server upstream {server}
"
            )
        });
        let mut cmd = wrap.command(ns, haproxy);
        cmd.arg("-db").arg("-f").arg(&conf_path);
        let log = dir.join("haproxy.log");
        let child = spawn_listening(ns, &mut cmd, &log, listen);
        Haproxy { child, log }
    }
}

/// What one HTTP request brought back, compared with the served file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Status 200 and exactly the file's bytes.
    Complete,
    /// Status 200 and a strict prefix of the file (the transfer stopped).
    Truncated { bytes: usize },
    /// Anything else: another status, bytes that differ, no answer.
    Failed {
        status: String,
        bytes: usize,
        detail: String,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Complete => write!(f, "complete"),
            Outcome::Truncated { bytes } => write!(f, "truncated after {bytes} bytes"),
            Outcome::Failed {
                status,
                bytes,
                detail,
            } => write!(f, "status {status}, {bytes} bytes: {detail}"),
        }
    }
}

/// Bound for one request (curl's `--max-time`), in seconds.
pub const REQUEST_MAX_S: u32 = 10;

/// One `curl` GET of `url` inside `ns` (wrapped as asked), compared with
/// `expected`; the body goes to `dest`.
pub fn curl_get(ns: &Netns, wrap: Wrap, url: &str, dest: &Path, expected: &[u8]) -> Outcome {
    require_program("curl");
    let _ = fs::remove_file(dest);
    let mut cmd = wrap.command(ns, "curl");
    cmd.args(["-q", "-sS", "-g", "--noproxy", "*", "--max-time"])
        .arg(REQUEST_MAX_S.to_string())
        .args(["-w", "%{http_code}", "-o"])
        .arg(dest)
        .arg(url);
    let out = run_timeout(&mut cmd, SHORT);
    let status = out.stdout.trim().to_string();
    let body = fs::read(dest).unwrap_or_default();
    if status == "200" && body == expected {
        Outcome::Complete
    } else if status == "200" && body.len() < expected.len() && expected.starts_with(&body) {
        Outcome::Truncated { bytes: body.len() }
    } else {
        let detail = if status == "200" {
            format!("bytes differ from the file; curl: {}", out.stderr.trim())
        } else {
            format!("curl exit {:?}: {}", out.code(), out.stderr.trim())
        };
        Outcome::Failed {
            status,
            bytes: body.len(),
            detail,
        }
    }
}

/// `count` sequential [`curl_get`]s; each is bounded by [`REQUEST_MAX_S`].
pub fn curl_series(
    ns: &Netns,
    wrap: Wrap,
    url: &str,
    count: usize,
    expected: &[u8],
    tmp: &TempDir,
) -> Vec<Outcome> {
    let dest = tmp.join("curl-body.bin");
    (0..count)
        .map(|_| curl_get(ns, wrap, url, &dest, expected))
        .collect()
}

/// "N requests: A complete, B truncated, C failed" plus each non-complete one.
pub fn summarize(outcomes: &[Outcome]) -> String {
    let complete = outcomes.iter().filter(|o| **o == Outcome::Complete).count();
    let truncated = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Truncated { .. }))
        .count();
    let failed = outcomes.len() - complete - truncated;
    let mut s = format!(
        "{} requests: {complete} complete, {truncated} truncated, {failed} failed",
        outcomes.len()
    );
    for (i, o) in outcomes.iter().enumerate() {
        if *o != Outcome::Complete {
            s.push_str(&format!("\n  request {}: {o}", i + 1));
        }
    }
    s
}

/// The `MPTcpExt` counters of a namespace at one moment.
pub struct MptcpCounters(BTreeMap<String, u64>);

impl MptcpCounters {
    pub fn read(ns: &Netns) -> MptcpCounters {
        let all = ns.netstat();
        let mptcp = all.into_iter().filter_map(|(key, value)| {
            let name = key.strip_prefix("MPTcpExt.")?;
            Some((name.to_string(), value))
        });
        MptcpCounters(mptcp.collect())
    }

    /// How much each counter grew from `self` to `later`, the ones that
    /// did only (`MPCapableSYNTX`, `MPCapableSYNRX`, ...).
    pub fn growth(&self, later: &MptcpCounters) -> BTreeMap<String, u64> {
        later
            .0
            .iter()
            .filter_map(|(name, &value)| {
                let before = self.0.get(name).copied().unwrap_or(0);
                (value > before).then(|| (name.clone(), value - before))
            })
            .collect()
    }
}

/// One counter's growth (0 when it did not grow).
pub fn grew(growth: &BTreeMap<String, u64>, name: &str) -> u64 {
    growth.get(name).copied().unwrap_or(0)
}

/// Run a fixture client (python3 or node script) inside `ns`, wrapped as
/// asked, bounded by `timeout`.
pub fn run_client(
    ns: &Netns,
    wrap: Wrap,
    interpreter: &str,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> CmdOutput {
    let mut cmd = wrap.command(ns, interpreter);
    cmd.arg(fixture(script)).args(args);
    run_timeout(&mut cmd, timeout)
}

/// The `protocol P` line a fixture client printed.
pub fn printed_protocol(out: &CmdOutput) -> Option<i32> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("protocol "))
        .and_then(|p| p.trim().parse().ok())
}
