//! A python3 `http.server` and the curl/wget clients that fetch from it,
//! wrapped in `mptcpize-rs run -d` or not, inside any namespace: used by the
//! `run` tests (one namespace) and the two-path tests (client and server
//! hosts).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::apps::Wrap;
use crate::*;
use mptcpize_contract::env;

/// Removes the variables under test (and proxies) from a command's
/// environment, so the host's settings cannot change what a test sees.
pub fn clean_env(cmd: &mut Command) {
    for var in ["LD_PRELOAD", "GODEBUG"] {
        cmd.env_remove(var);
    }
    for var in mptcpize_contract::env::ALL {
        cmd.env_remove(var.name());
    }
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
}

/// A path as `&str` (test paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

pub const HTTP_PORT: u16 = 8080;
/// A bit over 2 MiB, deliberately not a round size.
pub const BLOB_SIZE: usize = 2 * 1024 * 1024 + 4321;

/// A python3 http.server inside a namespace, killed on drop.
pub struct HttpServer {
    pub child: ChildGuard,
    pub data: Vec<u8>,
}

impl HttpServer {
    /// Serve `TMP/www/blob.bin` on [::]:HTTP_PORT (dual stack), wrapped with
    /// `mptcpize-rs run -d` (log in TMP/server.log) or not.
    pub fn start(ns: &Netns, tmp: &TempDir, wrapped: bool) -> HttpServer {
        require_program("python3");
        let www = tmp.join("www");
        fs::create_dir(&www).unwrap();
        let data = random_bytes(BLOB_SIZE);
        fs::write(www.join("blob.bin"), &data).unwrap();

        // --loopback: these helpers test MPTCP itself, also over loopback.
        let mut cmd = Wrap::when(wrapped, &["-d", "--loopback"]).command(ns, "python3");
        let out_file = File::create(tmp.join("server.out")).unwrap();
        cmd.args([
            "-m",
            "http.server",
            &HTTP_PORT.to_string(),
            "--bind",
            "::",
            "--directory",
        ])
        .arg(&www)
        .env(env::LOG.name(), tmp.join("server.log"))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().unwrap())
        .stderr(out_file);
        let mut child = ChildGuard::spawn(&mut cmd);
        let show = || format!("server output:\n{}", tmp.read_text("server.out"));
        wait_for_listen_of(ns, HTTP_PORT, SHORT, &mut child, &show);
        HttpServer { child, data }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Client {
    Curl,
    Wget,
}

/// Fetch blob.bin from `host` (127.0.0.1 or ::1) with `client`, wrapped
/// with `mptcpize-rs run -d` (log in TMP/NAME.log); checks the bytes.
pub fn fetch(
    ns: &Netns,
    tmp: &TempDir,
    server: &HttpServer,
    client: Client,
    host: &str,
    wrapped: bool,
) -> String {
    let url = if host.contains(':') {
        format!("http://[{host}]:{HTTP_PORT}/blob.bin")
    } else {
        format!("http://{host}:{HTTP_PORT}/blob.bin")
    };
    let tag = format!("{client:?}-{}", host.replace(':', "_")).to_lowercase();
    let dest = tmp.join(format!("{tag}.bin"));
    let log = tmp.join(format!("{tag}.log"));
    let (program, args): (&str, Vec<String>) = match client {
        Client::Curl => (
            "curl",
            [
                "-q",
                "-sS",
                "--fail",
                "-g",
                "--noproxy",
                "*",
                "--max-time",
                "60",
                "-o",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([path_str(&dest).to_string(), url.clone()])
            .collect(),
        ),
        Client::Wget => (
            "wget",
            ["-q", "--no-proxy", "--tries=1", "--timeout=60", "-O"]
                .iter()
                .map(|s| s.to_string())
                .chain([path_str(&dest).to_string(), url.clone()])
                .collect(),
        ),
    };
    require_program(program);
    let mut cmd = Wrap::when(wrapped, &["-d", "--loopback"]).command(ns, program);
    cmd.args(&args).env(env::LOG.name(), &log);
    let out = run_timeout(&mut cmd, LONG);
    assert!(
        out.status.success(),
        "{program} {url} failed\n{out}\nserver output:\n{}",
        tmp.read_text("server.out")
    );
    assert_same_bytes(&server.data, &dest, &format!("{program} {url}"));
    tmp.read_text(format!("{tag}.log"))
}
