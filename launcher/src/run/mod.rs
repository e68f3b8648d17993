//! `mptcpize-rs run`: start a program with its TCP sockets turned into
//! MPTCP, through one of two engines (see [`crate::engine`]): exec it with
//! the shim preloaded, or supervise it under a seccomp filter.

pub mod elf;
pub mod foreground;
pub mod output_file;
pub mod program;
pub mod report;
pub mod signals;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engine::preload::environment::{
    GODEBUG, REQUIRE_VAR, merge_godebug, program_environment,
};
use crate::engine::preload::shim::ShimError;
use crate::engine::seccomp::{self, LogSink, SuperviseError};
use crate::engine::{self, Choice, Engine, EngineOption, ProgramFacts};
use crate::exit_code;
use crate::rules::RULES_VAR;
use mptcpize_contract::rules::Rules;
use program::{PreloadObstacle, Resolution};

/// What the user asked `run` to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// PROG as typed: looked up like execvp and passed on as `argv[0]`.
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Ask the shim to log its socket decisions (`MPTCPIZE_RS_DEBUG=1`).
    pub debug: bool,
    /// `--engine`.
    pub engine: EngineOption,
    /// `--require-mptcp`: a socket that cannot be MPTCP fails instead of
    /// falling back to TCP.
    pub require_mptcp: bool,
    /// `--report FILE`: JSON counts for the whole process tree, written
    /// when the program ends (so `run` stays as its parent).
    pub report: Option<PathBuf>,
    /// `--loopback`, `--exclude`, ...: which connections are swapped back
    /// to plain TCP (by the shim, or by the seccomp supervisor).
    pub rules: crate::rules::RuleOptions,
    /// `--keep-pid`: PROG takes this process's PID with either engine (the
    /// seccomp supervisor then runs beside it); for service managers.
    pub keep_pid: bool,
    /// `--argv0 NAME`: PROG's `argv[0]` (by default PROG as typed).
    pub argv0: Option<OsString>,
    /// `--no-io-uring`: `io_uring_setup` fails with ENOSYS (the seccomp
    /// engine only), so sockets are made with `socket()`, which it sees.
    pub no_io_uring: bool,
}

impl RunRequest {
    /// What PROG gets as `argv[0]`.
    pub fn arg0(&self) -> &OsStr {
        self.argv0.as_deref().unwrap_or(&self.program)
    }
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
    let obstacles = program::inspect_obstacles(&path);
    prepare_preload(request, path, obstacles, locate_shim, current_env)
}

/// The preload launch of an already resolved and inspected program.
pub fn prepare_preload(
    request: &RunRequest,
    path: PathBuf,
    obstacles: Vec<PreloadObstacle>,
    locate_shim: impl FnOnce() -> Result<PathBuf, ShimError>,
    current_env: impl Fn(&str) -> Option<OsString>,
) -> Result<Launch, RunError> {
    let shim = locate_shim()?;
    let mut env = program_environment(current_env, &shim, request.debug);
    if request.require_mptcp {
        env.push((REQUIRE_VAR, OsString::from("1")));
    }
    // --require-mptcp asks for proof that MPTCP was used: the implicit
    // loopback bypass would quietly make such connections TCP. Rules the
    // user gave (--exclude, ...) still apply: those are explicit choices.
    if let Some(rules) = rules_text(request)? {
        env.push((RULES_VAR, OsString::from(rules)));
    }
    Ok(Launch {
        env,
        obstacles,
        arg0: request.arg0().to_owned(),
        args: request.args.clone(),
        path,
    })
}

/// The canonical rules text of run's options, `None` when none is given
/// (the program then keeps what its environment says, or the defaults).
/// `--require-mptcp` asks for proof that MPTCP was used: the implicit
/// loopback bypass would quietly make such connections TCP, so it turns
/// that off. Rules the user gave (`--exclude`, ...) still apply: those are
/// explicit choices. A malformed rule is a usage error.
fn rules_text(request: &RunRequest) -> Result<Option<String>, RunError> {
    let mut rules = request.rules.clone();
    if request.require_mptcp {
        rules.loopback = true;
    }
    rules.canonical().map_err(|message| RunError {
        exit_code: exit_code::USAGE,
        message,
    })
}

/// The rules the seccomp supervisor applies (pure): run's options as
/// canonical text, else `MPTCPIZE_RS_RULES` inherited from run's
/// environment (which the shim would read under the preload engine, and
/// which `enable` writes for a service), else the defaults.
pub fn seccomp_rules(given: Option<&str>, inherited: Option<&OsStr>) -> Result<Rules, RunError> {
    let (text, source) = match (given, inherited) {
        (Some(text), _) => (text.as_bytes(), "the rule options"),
        (None, Some(text)) => (text.as_encoded_bytes(), RULES_VAR),
        (None, None) => return Ok(Rules::DEFAULT),
    };
    Rules::parse(text).map_err(|e| RunError {
        exit_code: exit_code::USAGE,
        message: format!(
            "{source}: {:?}: {}",
            String::from_utf8_lossy(e.text),
            e.kind.describe()
        ),
    })
}

/// The environment additions of the seccomp engine: GODEBUG only (Go >=
/// 1.21 then opens MPTCP sockets itself, which the filter lets through).
pub fn seccomp_environment(
    current_env: impl Fn(&str) -> Option<OsString>,
) -> Vec<(&'static str, OsString)> {
    vec![(GODEBUG, merge_godebug(current_env(GODEBUG).as_deref()))]
}

/// The warnings for a program started with `engine` (pure). `asked` is
/// the `--engine` given: a user who asked for preload is told the engine
/// that reaches a static or Go program (`auto` chooses preload for one
/// only where the seccomp engine cannot be used, and says why).
pub fn warnings(
    engine: Engine,
    asked: EngineOption,
    obstacles: &[PreloadObstacle],
    program: &OsStr,
) -> Vec<String> {
    obstacles
        .iter()
        .filter_map(|obstacle| match (engine, obstacle) {
            (Engine::Preload, PreloadObstacle::StaticallyLinked | PreloadObstacle::Go)
                if asked == EngineOption::Preload =>
            {
                Some(format!(
                    "{}; use --engine seccomp or auto",
                    obstacle.describe(program)
                ))
            }
            (Engine::Preload, obstacle) => Some(obstacle.describe(program)),
            (Engine::Seccomp, PreloadObstacle::StaticallyLinked | PreloadObstacle::Go) => None,
            (Engine::Seccomp, PreloadObstacle::SetId { .. }) => Some(format!(
                "{} is set-ID; the seccomp engine's no_new_privs keeps it from \
                 gaining those privileges",
                Path::new(program).display()
            )),
        })
        .collect()
}

fn warn(text: &str) {
    // Like eprintln!, without its panic when stderr is closed.
    let _ = writeln!(io::stderr(), "{}: warning: {text}", crate::TOOL_NAME);
}

/// Starts the program with the engine `request.engine` asks for or `auto`
/// picks. With LD_PRELOAD this process becomes the program and only
/// returns on failure; with seccomp it returns the program's exit status
/// (or dies of the same signal).
pub fn run(request: &RunRequest) -> Result<u8, RunError> {
    let path_var = std::env::var_os("PATH");
    let resolution = program::resolve(&request.program, path_var.as_deref());
    let path = resolution_to_path(&request.program, resolution)?;
    // One read of the file for both the engine choice and the warnings.
    let (elf, obstacles) = program::inspect(&path);
    let facts = ProgramFacts {
        elf,
        set_id: obstacles
            .iter()
            .any(|o| matches!(o, PreloadObstacle::SetId { .. })),
    };
    let choice =
        engine::choose(request.engine, &facts, seccomp::availability).map_err(|message| {
            RunError {
                exit_code: exit_code::LAUNCHER_FAILED,
                message,
            }
        })?;
    refuse_no_io_uring_without_seccomp(request, &choice)?;
    // A malformed rule is a usage error before anything starts, whichever
    // engine applies it.
    let rules = rules_text(request)?;
    let seccomp_rules = seccomp_rules(rules.as_deref(), std::env::var_os(RULES_VAR).as_deref())?;
    // Fail before the program starts, not after it has done its work.
    let mut report = match &request.report {
        Some(file) => Some(ReportFile::prepare(file)?),
        None => None,
    };
    let mut fallback = choice.fallback_from_seccomp.clone();
    if choice.engine == Engine::Seccomp {
        match run_seccomp(
            request,
            &path,
            &obstacles,
            &choice,
            &mut report,
            seccomp_rules,
        ) {
            // The preload engine cannot refuse io_uring: no fallback then.
            Err(SuperviseError::Unsupported(reason))
                if request.engine == EngineOption::Auto && !request.no_io_uring =>
            {
                fallback = Some(reason);
            }
            outcome => return outcome.map_err(|error| seccomp_failure(request, &path, error)),
        }
    }
    if let Some(reason) = fallback {
        warn(&format!(
            "the seccomp engine cannot be used ({reason}); using LD_PRELOAD"
        ));
    }
    match report {
        Some(report) => run_preload_reported(request, path, obstacles, report),
        None => Err(exec_preload(request, path, obstacles)),
    }
}

/// `--report FILE`: where the JSON goes, prepared before the program runs
/// and written when it ends, never through a symlink
/// ([`crate::run::output_file`]).
#[derive(Debug)]
struct ReportFile {
    path: PathBuf,
    replacement: output_file::Replacement,
}

impl ReportFile {
    fn prepare(path: &Path) -> Result<ReportFile, RunError> {
        let replacement =
            output_file::Replacement::prepare(path).map_err(|e| report_failure(path, &e))?;
        Ok(ReportFile {
            path: path.to_owned(),
            replacement,
        })
    }

    fn write(self, report: &report::Report) -> Result<(), RunError> {
        let path = self.path;
        self.replacement
            .commit(report.to_json().as_bytes())
            .map_err(|e| report_failure(&path, &e))
    }
}

/// `--no-io-uring` with the preload engine is refused before anything
/// runs (pure): the shim cannot make `io_uring_setup` fail, a system call
/// programs (liburing too) make themselves, and running the program with
/// io_uring anyway would break the promise.
fn refuse_no_io_uring_without_seccomp(
    request: &RunRequest,
    choice: &Choice,
) -> Result<(), RunError> {
    if !request.no_io_uring || choice.engine == Engine::Seccomp {
        return Ok(());
    }
    if let Some(unavailable) = &choice.fallback_from_seccomp {
        return Err(RunError {
            exit_code: exit_code::LAUNCHER_FAILED,
            message: format!(
                "--no-io-uring needs the seccomp engine, which cannot be used here ({unavailable})"
            ),
        });
    }
    let why = choice.reason.describe(choice.engine, &request.program);
    Err(RunError {
        exit_code: exit_code::USAGE,
        message: format!(
            "--no-io-uring needs the seccomp engine, and the preload engine was chosen ({why}): \
             the shim cannot make io_uring_setup fail, a system call programs make themselves; \
             add --engine seccomp"
        ),
    })
}

fn report_failure(path: &Path, error: &io::Error) -> RunError {
    RunError {
        exit_code: exit_code::LAUNCHER_FAILED,
        message: format!("cannot write the report {}: {error}", path.display()),
    }
}

fn seccomp_failure(request: &RunRequest, path: &Path, error: SuperviseError) -> RunError {
    match error {
        SuperviseError::Exec(error) => exec_failure(&request.program, path, &error),
        SuperviseError::Unsupported(reason) => RunError {
            exit_code: exit_code::LAUNCHER_FAILED,
            message: format!("the seccomp engine cannot be used: {reason}"),
        },
        SuperviseError::Failed(reason) => RunError {
            exit_code: exit_code::LAUNCHER_FAILED,
            message: format!("seccomp engine: {reason}"),
        },
    }
}

/// Runs the program under the seccomp supervisor; the exit status to use.
fn run_seccomp(
    request: &RunRequest,
    path: &Path,
    obstacles: &[PreloadObstacle],
    choice: &Choice,
    report: &mut Option<ReportFile>,
    rules: Rules,
) -> Result<u8, SuperviseError> {
    for warning in warnings(Engine::Seccomp, request.engine, obstacles, &request.program) {
        warn(&warning);
    }
    let log_file = std::env::var_os(crate::engine::preload::environment::LOG_VAR);
    let log = LogSink::choose(request.debug, log_file.as_deref());
    if let Some(log) = &log {
        log.write_line(&format!(
            "{}: using the seccomp engine ({})",
            crate::TOOL_NAME,
            choice.reason.describe(choice.engine, &request.program)
        ));
    }
    let env = seccomp_environment(|name: &str| std::env::var_os(name));
    let target = seccomp::Target {
        path,
        arg0: request.arg0(),
        args: &request.args,
        env: &env,
        log,
        require_mptcp: request.require_mptcp,
        report: request.report.is_some(),
        refuse_io_uring: request.no_io_uring,
        rules,
    };
    if request.keep_pid {
        return Err(seccomp::exec_in_place(&target));
    }
    let supervised = seccomp::supervise(&target)?;
    if let Some(file) = report.take()
        && let Err(error) = file.write(&supervised.report)
    {
        warn(&error.to_string());
    }
    Ok(exit_code::exit_like(supervised.status))
}

/// Runs the program with the shim preloaded as a child, not by exec, so
/// that its report can be written when it ends: the shim of every process
/// in the tree counts into a table this process made and PROG inherits.
fn run_preload_reported(
    request: &RunRequest,
    path: PathBuf,
    obstacles: Vec<PreloadObstacle>,
    report: ReportFile,
) -> Result<u8, RunError> {
    let launch = prepare_preload(
        request,
        path,
        obstacles,
        crate::engine::preload::shim::locate,
        |name: &str| std::env::var_os(name),
    )?;
    for warning in warnings(
        Engine::Preload,
        request.engine,
        &launch.obstacles,
        &launch.arg0,
    ) {
        warn(&warning);
    }
    let table = report::Table::create().map_err(|e| RunError {
        exit_code: exit_code::LAUNCHER_FAILED,
        message: format!("cannot create the report's counter table: {e}"),
    })?;
    let mut command = Command::new(&launch.path);
    command
        .arg0(&launch.arg0)
        .args(&launch.args)
        .envs(launch.env.iter().map(|(name, value)| (name, value)));
    table.pass_to(&mut command);
    let status = foreground::run(&mut command)
        .map_err(|error| exec_failure(&launch.arg0, &launch.path, &error))?;
    match table.read() {
        Ok(counts) => report.write(&counts)?,
        Err(error) => warn(&format!("cannot read the report's counter table: {error}")),
    }
    Ok(exit_code::exit_like(status))
}

/// Replaces this process with the program, the shim preloaded. Only
/// returns on failure.
///
/// Note: std's exec resets the signal mask and SIGPIPE to their defaults;
/// SIGPIPE is then set back to what mptcpize-rs was given. Other
/// dispositions, fds, PID and the rest of the environment pass through
/// unchanged.
fn exec_preload(request: &RunRequest, path: PathBuf, obstacles: Vec<PreloadObstacle>) -> RunError {
    let launch = match prepare_preload(
        request,
        path,
        obstacles,
        crate::engine::preload::shim::locate,
        |name: &str| std::env::var_os(name),
    ) {
        Ok(launch) => launch,
        Err(error) => return error,
    };
    for warning in warnings(
        Engine::Preload,
        request.engine,
        &launch.obstacles,
        &launch.arg0,
    ) {
        warn(&warning);
    }
    let mut command = Command::new(&launch.path);
    command
        .arg0(&launch.arg0)
        .args(&launch.args)
        .envs(launch.env.iter().map(|(name, value)| (name, value)));
    // SAFETY: the closure runs just before execve in this process, which
    // is single-threaded; it makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            // std resets SIGPIPE to its default; the program gets it as
            // mptcpize-rs was given it.
            signals::restore_inherited_sigpipe();
            Ok(())
        })
    };
    let error = command.exec();
    exec_failure(&launch.arg0, &launch.path, &error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Reason;
    use crate::engine::preload::environment::{DEBUG_VAR, GODEBUG, LD_PRELOAD};
    use crate::test_support::ScratchDir;
    use program::NotExecutableReason;

    fn request(program: &str, args: &[&str], debug: bool) -> RunRequest {
        RunRequest {
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            debug,
            engine: EngineOption::Auto,
            require_mptcp: false,
            report: None,
            rules: Default::default(),
            keep_pid: false,
            argv0: None,
            no_io_uring: false,
        }
    }

    #[test]
    fn no_io_uring_is_refused_without_the_seccomp_engine() {
        let choice = |engine, reason, fallback: Option<&str>| Choice {
            engine,
            reason,
            fallback_from_seccomp: fallback.map(String::from),
        };
        let mut req = request("curl", &[], false);
        let dynamic = choice(Engine::Preload, Reason::DynamicallyLinked, None);
        assert_eq!(refuse_no_io_uring_without_seccomp(&req, &dynamic), Ok(()));
        req.no_io_uring = true;
        let error = refuse_no_io_uring_without_seccomp(&req, &dynamic).unwrap_err();
        assert_eq!(error.exit_code(), exit_code::USAGE);
        let message = error.to_string();
        assert!(
            message.starts_with(
                "--no-io-uring needs the seccomp engine, and the preload engine was chosen \
                 (curl is dynamically linked)"
            ) && message.ends_with("add --engine seccomp"),
            "{message}"
        );
        let asked = choice(Engine::Preload, Reason::Asked, None);
        let message = refuse_no_io_uring_without_seccomp(&req, &asked)
            .unwrap_err()
            .to_string();
        assert!(message.contains("(--engine preload)"), "{message}");
        let fallback = choice(Engine::Preload, Reason::StaticallyLinked, Some("too old"));
        let error = refuse_no_io_uring_without_seccomp(&req, &fallback).unwrap_err();
        assert_eq!(error.exit_code(), exit_code::LAUNCHER_FAILED);
        assert!(error.to_string().contains("(too old)"), "{error}");
        for reason in [Reason::Asked, Reason::Go] {
            let seccomp = choice(Engine::Seccomp, reason, None);
            assert_eq!(refuse_no_io_uring_without_seccomp(&req, &seccomp), Ok(()));
        }
    }

    #[test]
    fn the_seccomp_engine_applies_the_same_rules() {
        let mut req = request("busybox", &["wget", "x"], false);
        let rules = |req: &RunRequest, inherited: Option<&str>| {
            let text = rules_text(req).unwrap();
            seccomp_rules(text.as_deref(), inherited.map(OsStr::new))
        };
        let mapped = |octets| mptcpize_contract::rules::mapped_v4(octets);
        let loopback = mapped([127, 0, 0, 1]);
        let defaults = rules(&req, None).unwrap();
        assert!(!defaults.loopback && defaults.listen);
        // An inherited text (a service's drop-in) when no option is given.
        let inherited = rules(&req, Some("loopback=1;listen=0")).unwrap();
        assert!(inherited.loopback && !inherited.listen);
        let error = rules(&req, Some("loopback=2")).unwrap_err();
        assert_eq!(error.exit_code(), exit_code::USAGE);
        assert!(error.to_string().starts_with(RULES_VAR), "{error}");
        // Options win over the environment.
        req.rules.exclude_ports = vec!["22".into()];
        let given = rules(&req, Some("listen=0")).unwrap();
        assert!(given.listen);
        assert_eq!(
            given.for_connect(&mapped([10, 0, 0, 1]), 22),
            mptcpize_contract::rules::Verdict::Tcp(mptcpize_contract::rules::Why::ExcludedPort)
        );
        // --require-mptcp keeps loopback MPTCP, as with the shim.
        let mut req = request("busybox", &[], false);
        req.require_mptcp = true;
        let required = rules(&req, Some("loopback=0")).unwrap();
        assert_eq!(
            required.for_connect(&loopback, 80),
            mptcpize_contract::rules::Verdict::Mptcp
        );
    }

    #[test]
    fn rules_reach_the_shim_and_bad_ones_stop_the_launch() {
        let mut req = request("/bin/sh", &[], false);
        let shim = PathBuf::from("/opt/shim/libmptcpize_preload.so");
        let launch = prepare(&req, None, || Ok(shim.clone()), |_| None).unwrap();
        assert!(
            !launch
                .env
                .iter()
                .any(|(name, _)| *name == crate::rules::RULES_VAR)
        );
        req.rules.loopback = true;
        let launch = prepare(&req, None, || Ok(shim.clone()), |_| None).unwrap();
        assert!(launch.env.contains(&(
            crate::rules::RULES_VAR,
            OsString::from("loopback=1;listen=1")
        )));
        req.rules.exclude = vec!["nonsense".into()];
        let err = prepare(&req, None, || Ok(shim.clone()), |_| None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--exclude"), "{err}");
    }

    #[test]
    fn require_mptcp_keeps_loopback_mptcp() {
        let mut req = request("/bin/sh", &[], false);
        req.require_mptcp = true;
        let shim = PathBuf::from("/opt/shim/libmptcpize_preload.so");
        let launch = prepare(&req, None, || Ok(shim.clone()), |_| None).unwrap();
        let rules = launch
            .env
            .iter()
            .find(|(name, _)| *name == crate::rules::RULES_VAR);
        let rules = rules.map(|(_, value)| value.to_string_lossy().into_owned());
        assert!(
            rules.is_some_and(|r| r.starts_with("loopback=1;")),
            "{:?}",
            launch.env
        );
    }

    #[test]
    fn require_mptcp_reaches_the_shim() {
        let mut req = request("/bin/sh", &[], false);
        req.require_mptcp = true;
        let shim = PathBuf::from("/opt/shim/libmptcpize_preload.so");
        let launch = prepare(&req, None, || Ok(shim.clone()), |_| None).unwrap();
        assert!(launch.env.contains(&(REQUIRE_VAR, OsString::from("1"))));
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
    fn static_warning_only_with_preload() {
        let prog = OsStr::new("busybox");
        let obstacles = [PreloadObstacle::StaticallyLinked];
        let auto = EngineOption::Auto;
        assert!(warnings(Engine::Seccomp, auto, &obstacles, prog).is_empty());
        let preload = warnings(Engine::Preload, auto, &obstacles, prog);
        assert_eq!(preload.len(), 1);
        assert!(preload[0].contains("statically linked"), "{preload:?}");
        let set_id = [PreloadObstacle::SetId {
            setuid: true,
            setgid: false,
        }];
        let seccomp = warnings(Engine::Seccomp, auto, &set_id, prog);
        assert_eq!(seccomp.len(), 1);
        assert!(seccomp[0].contains("no_new_privs"), "{seccomp:?}");
    }

    /// A Go program under the preload engine: one line, and the way out
    /// only when preload was asked for (`auto` falls back to preload only
    /// where seccomp cannot be used, and says so itself).
    #[test]
    fn go_warning_with_preload_suggests_seccomp_when_asked() {
        let prog = OsStr::new("./gofetch");
        let go = [PreloadObstacle::Go];
        let asked = warnings(Engine::Preload, EngineOption::Preload, &go, prog);
        assert_eq!(asked.len(), 1);
        assert!(
            asked[0].starts_with("./gofetch is a Go program; Go makes its own system calls")
                && asked[0].ends_with("; use --engine seccomp or auto"),
            "{asked:?}"
        );
        let fallback = warnings(Engine::Preload, EngineOption::Auto, &go, prog);
        assert_eq!(fallback.len(), 1);
        assert!(!fallback[0].contains("--engine"), "{fallback:?}");
        for asked in [EngineOption::Auto, EngineOption::Seccomp] {
            assert!(warnings(Engine::Seccomp, asked, &go, prog).is_empty());
        }
        let set_id = [PreloadObstacle::SetId {
            setuid: true,
            setgid: false,
        }];
        let preload = warnings(Engine::Preload, EngineOption::Preload, &set_id, prog);
        assert!(!preload[0].contains("--engine"), "{preload:?}");
    }

    #[test]
    fn seccomp_environment_is_godebug_only() {
        let env = seccomp_environment(|name| (name == "GODEBUG").then(|| "x=1".into()));
        assert_eq!(env, vec![(GODEBUG, OsString::from("x=1,multipathtcp=1"))]);
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
