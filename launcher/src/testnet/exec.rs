//! `testnet exec`: runs a command inside one host of a testnet. This
//! process enters the namespace (setns), drops to the invoking user when
//! started through sudo, and execs the command (or `mptcpize-rs run` around
//! it, for `--mptcp`): the command has exec's PID, so its signals and exit
//! status are the command's own.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::exit_code;
use crate::failure::Failure;
use crate::testnet::network::{self, namespace_file};
use crate::testnet::plan;

/// Which host of the testnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRequest {
    pub name: String,
    pub side: Side,
    /// `Some(run's options)`: the command runs under `mptcpize-rs run`.
    pub mptcp: Option<Vec<OsString>>,
    pub command: Vec<OsString>,
}

/// The user to become after entering the namespace: sudo's caller, so
/// files the command writes are theirs and it runs with no more rights
/// than they have. Root itself, or no sudo, stays as it is.
pub fn target_user(sudo_uid: Option<&str>, sudo_gid: Option<&str>) -> Option<(u32, u32)> {
    let uid: u32 = sudo_uid?.parse().ok()?;
    let gid: u32 = sudo_gid?.parse().ok()?;
    (uid != 0).then_some((uid, gid))
}

/// What a login would give sudo's caller: home, name, and every group.
struct Account {
    home: OsString,
    name: OsString,
    groups: Vec<libc::gid_t>,
}

/// The account of `uid` from the user database (`getpwuid_r`,
/// `getgrouplist`); `None` when it has no entry (then only `gid`).
fn account_of(uid: u32, gid: u32) -> Option<Account> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    let mut entry: libc::passwd = empty_passwd();
    let mut strings = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r fills `entry` with pointers into `strings`, both
    // ours and alive while they are read below; `found` says whether.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            strings.as_mut_ptr(),
            strings.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: on success pw_name and pw_dir point to NUL-terminated
    // strings in `strings`.
    let (name, home) = unsafe { (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir)) };
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut count = groups.len() as libc::c_int;
    // SAFETY: getgrouplist writes at most `count` gids into `groups` and
    // the number it found into `count`.
    let rc = unsafe { libc::getgrouplist(entry.pw_name, gid, groups.as_mut_ptr(), &mut count) };
    // Too many groups for the buffer: the primary one only.
    groups.truncate(if rc < 0 { 0 } else { count.max(0) as usize });
    if !groups.contains(&gid) {
        groups.insert(0, gid);
    }
    Some(Account {
        home: std::ffi::OsStr::from_bytes(home.to_bytes()).to_os_string(),
        name: std::ffi::OsStr::from_bytes(name.to_bytes()).to_os_string(),
        groups,
    })
}

fn empty_passwd() -> libc::passwd {
    // SAFETY: passwd is plain data (pointers and integers); all-zero bytes
    // are a valid value, filled by getpwuid_r before use.
    unsafe { std::mem::zeroed() }
}

/// The program and arguments to exec: CMD, or `mptcpize-rs run OPTIONS
/// -- CMD` with this very executable.
pub fn argv(launcher: OsString, mptcp: Option<&[OsString]>, command: &[OsString]) -> Vec<OsString> {
    match mptcp {
        None => command.to_vec(),
        Some(options) => {
            let mut argv = vec![launcher, "run".into()];
            argv.extend(options.iter().cloned());
            argv.push("--".into());
            argv.extend(command.iter().cloned());
            argv
        }
    }
}

pub fn exec(request: &ExecRequest) -> Result<u8, Failure> {
    network::require_root("testnet exec")?;
    network::hosts(&request.name)?;
    let (client, server) = plan::namespaces(&request.name);
    let namespace = match request.side {
        Side::Client => client,
        Side::Server => server,
    };
    let file = File::open(namespace_file(&namespace))
        .map_err(|error| Failure::new(format!("cannot open namespace {namespace}: {error}")))?;
    let launcher = std::env::current_exe()
        .map_err(|error| Failure::new(format!("cannot find mptcpize-rs itself: {error}")))?;
    let argv = argv(
        launcher.into_os_string(),
        request.mptcp.as_deref(),
        &request.command,
    );
    let user = target_user(
        std::env::var("SUDO_UID").ok().as_deref(),
        std::env::var("SUDO_GID").ok().as_deref(),
    );
    // sudo's caller as a login would make them: their supplementary groups
    // and HOME, USER and LOGNAME (sudo leaves root's HOME on some systems),
    // looked up now, before exec (no lookup is safe in pre_exec).
    let account = user.and_then(|(uid, gid)| account_of(uid, gid));
    let groups: Vec<libc::gid_t> = match (&account, user) {
        (Some(account), _) => account.groups.clone(),
        (None, Some((_, gid))) => vec![gid],
        (None, None) => Vec::new(),
    };

    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    if let Some(account) = &account {
        command
            .env("HOME", &account.home)
            .env("USER", &account.name)
            .env("LOGNAME", &account.name);
    }
    let ns_fd = file.as_raw_fd();
    // CMD replaces this process (same PID), as `run` does: a signal sent
    // to `testnet exec` (a CI script's `kill %1`) reaches CMD, and its exit
    // status is CMD's own.
    // SAFETY: the closure runs in this single-threaded process just before
    // execve and makes only system calls (setns, setgroups, setgid, setuid,
    // sigaction) on values computed before; `file` is open until execve
    // (close-on-exec).
    unsafe {
        command.pre_exec(move || {
            enter(ns_fd, user, &groups)?;
            // std resets SIGPIPE to its default; CMD gets it as we were
            // given it.
            crate::run::signals::restore_inherited_sigpipe();
            Ok(())
        });
    }
    let error = command.exec();
    drop(file);
    Err(Failure {
        exit_code: match error.raw_os_error() {
            Some(libc::ENOENT) => exit_code::NOT_FOUND,
            _ => exit_code::CANNOT_EXECUTE,
        },
        message: format!("cannot run {}: {error}", argv[0].to_string_lossy()),
    })
}

/// Before exec: the namespace first (entering needs root), then the
/// groups, the group and the user, in that order (each step needs the
/// rights the next one drops).
fn enter(ns_fd: i32, user: Option<(u32, u32)>, groups: &[libc::gid_t]) -> std::io::Result<()> {
    // SAFETY: setns takes an open descriptor (open until execve, as it is
    // close-on-exec) and a namespace type.
    if unsafe { libc::setns(ns_fd, libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if let Some((uid, gid)) = user {
        // SAFETY: a pointer to `groups.len()` gid_t that live across the call.
        if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: setgid takes a plain id.
        if unsafe { libc::setgid(gid) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: setuid takes a plain id; last, as it drops the right to
        // change the others.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_caller_is_the_user() {
        assert_eq!(target_user(Some("1000"), Some("100")), Some((1000, 100)));
        assert_eq!(target_user(Some("0"), Some("0")), None);
        assert_eq!(target_user(None, Some("100")), None);
        assert_eq!(target_user(Some("x"), Some("100")), None);
    }

    #[test]
    fn mptcp_wraps_in_run() {
        let cmd: Vec<OsString> = vec!["iperf3".into(), "-s".into()];
        assert_eq!(argv("/bin/m".into(), None, &cmd), cmd);
        let options: Vec<OsString> = vec!["--engine".into(), "seccomp".into()];
        let wrapped = argv("/bin/m".into(), Some(&options), &cmd);
        let text: Vec<_> = wrapped.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text,
            ["/bin/m", "run", "--engine", "seccomp", "--", "iperf3", "-s"]
        );
    }
}
