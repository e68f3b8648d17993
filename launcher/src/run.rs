//! `mptcpize-rs run`: exec a program with the shim preloaded.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::exit_code;
use crate::preload_env::program_environment;
use crate::program::{self, PreloadObstacle, Resolution};
use crate::shim::ShimError;

/// What the user asked `run` to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// PROG as typed: looked up like execvp and passed on as `argv[0]`.
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Ask the shim to log its socket decisions (`MPTCPIZE_RS_DEBUG=1`).
    pub debug: bool,
}

/// Why `run` did not turn into the program; carries the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    exit_code: u8,
    message: String,
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        self.exit_code
    }
}

/// The message, without the "mptcpize-rs: " prefix the caller adds.
impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}

impl From<ShimError> for RunError {
    fn from(error: ShimError) -> Self {
        RunError {
            exit_code: exit_code::LAUNCHER_FAILED,
            message: error.to_string(),
        }
    }
}

/// Everything needed to exec the program, computed before touching the
/// process so it can be inspected in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Resolved file to exec (always contains a '/').
    pub path: PathBuf,
    /// `argv[0]`: PROG exactly as the user typed it.
    pub arg0: OsString,
    pub args: Vec<OsString>,
    /// Variables to set on top of the inherited environment.
    pub env: Vec<(&'static str, OsString)>,
    /// Reasons the shim will not take effect; reported, not fatal.
    pub obstacles: Vec<PreloadObstacle>,
}

/// Maps a PATH lookup result to the file to exec or the shell-style error.
pub fn resolution_to_path(program: &OsStr, resolution: Resolution) -> Result<PathBuf, RunError> {
    let name = Path::new(program).display();
    match resolution {
        Resolution::Found(path) => Ok(path),
        Resolution::NotFound => Err(RunError {
            exit_code: exit_code::NOT_FOUND,
            message: if program::is_path(program) {
                format!("{name}: No such file or directory")
            } else {
                format!("{name}: command not found")
            },
        }),
        Resolution::NotExecutable { reason, .. } => Err(RunError {
            exit_code: exit_code::CANNOT_EXECUTE,
            message: format!("{name}: {}", reason.description()),
        }),
    }
}

/// Maps a failed exec to env(1)'s statuses: ENOENT 127, anything else 126.
pub fn exec_failure(program: &OsStr, path: &Path, error: &io::Error) -> RunError {
    let name = Path::new(program).display();
    let reason = os_error_text(error);
    if error.kind() == io::ErrorKind::NotFound {
        // The file was there a moment ago, so what is missing is almost
        // always its #! interpreter or ELF dynamic loader.
        let hint = if path.exists() {
            " (is its interpreter or dynamic loader missing?)"
        } else {
            ""
        };
        RunError {
            exit_code: exit_code::NOT_FOUND,
            message: format!("{name}: cannot execute: {reason}{hint}"),
        }
    } else {
        RunError {
            exit_code: exit_code::CANNOT_EXECUTE,
            message: format!("{name}: cannot execute: {reason}"),
        }
    }
}

/// strerror-style text: std's Display appends " (os error N)", which
/// shells and coreutils do not show.
fn os_error_text(error: &io::Error) -> String {
    let text = error.to_string();
    match (error.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(cut)) => text[..cut].to_owned(),
        _ => text,
    }
}

/// Works out the launch: resolve PROG, then locate the shim (so a typo in
/// PROG is reported as such even when the shim is missing), then compute
/// the environment and obstacle warnings.
pub fn prepare(
    request: &RunRequest,
    path_var: Option<&OsStr>,
    locate_shim: impl FnOnce() -> Result<PathBuf, ShimError>,
    current_env: impl Fn(&str) -> Option<OsString>,
) -> Result<Launch, RunError> {
    let resolution = program::resolve(&request.program, path_var);
    let path = resolution_to_path(&request.program, resolution)?;
    let shim = locate_shim()?;
    Ok(Launch {
        env: program_environment(current_env, &shim, request.debug),
        obstacles: program::inspect_obstacles(&path),
        arg0: request.program.clone(),
        args: request.args.clone(),
        path,
    })
}

/// Replaces this process with the program. Only returns on failure.
///
/// Note: std's exec resets the signal mask and SIGPIPE to their defaults
/// (it has to undo its own SIGPIPE=ignore); other dispositions, fds, PID
/// and the rest of the environment pass through unchanged.
pub fn run(request: &RunRequest) -> RunError {
    let path_var = std::env::var_os("PATH");
    let launch = match prepare(
        request,
        path_var.as_deref(),
        crate::shim::locate,
        |name: &str| std::env::var_os(name),
    ) {
        Ok(launch) => launch,
        Err(error) => return error,
    };
    for obstacle in &launch.obstacles {
        eprintln!(
            "{}: warning: {}",
            crate::TOOL_NAME,
            obstacle.describe(&launch.arg0)
        );
    }
    let error = Command::new(&launch.path)
        .arg0(&launch.arg0)
        .args(&launch.args)
        .envs(launch.env.iter().map(|(name, value)| (name, value)))
        .exec();
    exec_failure(&launch.arg0, &launch.path, &error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preload_env::{DEBUG_VAR, GODEBUG, LD_PRELOAD};
    use crate::program::NotExecutableReason;
    use crate::test_support::ScratchDir;

    fn request(program: &str, args: &[&str], debug: bool) -> RunRequest {
        RunRequest {
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            debug,
        }
    }

    #[test]
    fn not_found_messages_and_codes() {
        let err = resolution_to_path(OsStr::new("nosuch"), Resolution::NotFound).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(err.to_string(), "nosuch: command not found");

        let err = resolution_to_path(OsStr::new("./nosuch"), Resolution::NotFound).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(err.to_string(), "./nosuch: No such file or directory");
    }

    #[test]
    fn not_executable_messages_and_codes() {
        let err = resolution_to_path(
            OsStr::new("/etc/passwd"),
            Resolution::NotExecutable {
                path: "/etc/passwd".into(),
                reason: NotExecutableReason::PermissionDenied,
            },
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 126);
        assert_eq!(err.to_string(), "/etc/passwd: Permission denied");

        let err = resolution_to_path(
            OsStr::new("/tmp"),
            Resolution::NotExecutable {
                path: "/tmp".into(),
                reason: NotExecutableReason::IsADirectory,
            },
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 126);
        assert_eq!(err.to_string(), "/tmp: Is a directory");
    }

    #[test]
    fn exec_failure_codes() {
        let gone = Path::new("/nonexistent/x");
        let enoent = io::Error::from_raw_os_error(2);
        let err = exec_failure(OsStr::new("x"), gone, &enoent);
        assert_eq!(err.exit_code(), 127);
        assert_eq!(
            err.to_string(),
            "x: cannot execute: No such file or directory"
        );

        let err = exec_failure(OsStr::new("x"), Path::new("/bin/sh"), &enoent);
        assert_eq!(err.exit_code(), 127);
        assert!(err.to_string().contains("interpreter"));

        let enoexec = io::Error::from_raw_os_error(8);
        let err = exec_failure(OsStr::new("x"), gone, &enoexec);
        assert_eq!(err.exit_code(), 126);
        assert_eq!(err.to_string(), "x: cannot execute: Exec format error");
    }

    #[test]
    fn shim_errors_are_launcher_failures() {
        let err = RunError::from(ShimError::NotFound { searched: vec![] });
        assert_eq!(err.exit_code(), 125);
    }

    #[test]
    fn prepare_builds_the_launch() {
        let scratch = ScratchDir::new("prepare");
        let tool = scratch.file("bin/tool", b"#!/bin/sh\n", 0o755);
        let path_var = scratch.path().join("bin").into_os_string();
        let shim = PathBuf::from("/opt/shim/libmptcpize_preload.so");
        let launch = prepare(
            &request("tool", &["-d", "x"], true),
            Some(&path_var),
            || Ok(shim.clone()),
            |name| (name == "LD_PRELOAD").then(|| OsString::from("/lib/a.so")),
        )
        .unwrap();
        assert_eq!(launch.path, tool);
        assert_eq!(launch.arg0, "tool");
        assert_eq!(launch.args, vec![OsString::from("-d"), OsString::from("x")]);
        assert_eq!(
            launch.env,
            vec![
                (
                    LD_PRELOAD,
                    OsString::from("/lib/a.so:/opt/shim/libmptcpize_preload.so")
                ),
                (GODEBUG, OsString::from("multipathtcp=1")),
                (DEBUG_VAR, OsString::from("1")),
            ]
        );
        assert_eq!(launch.obstacles, vec![]);
    }

    #[test]
    fn prepare_reports_missing_program_before_missing_shim() {
        let err = prepare(
            &request("mptcpize-rs-no-such-tool", &[], false),
            Some(OsStr::new("/nonexistent")),
            || Err(ShimError::NotFound { searched: vec![] }),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 127);
    }

    #[test]
    fn prepare_fails_with_125_without_shim() {
        let err = prepare(
            &request("/bin/sh", &[], false),
            None,
            || Err(ShimError::NotFound { searched: vec![] }),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 125);
    }
}
