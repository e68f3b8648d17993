//! `run`'s arguments: PROG and its options, the connection rules (shared
//! with `enable`), the engine; and the fast path that recognises the plain
//! `run PROG ARGS...` without clap.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::engine::EngineOption;
use crate::rules::RuleOptions;
use crate::run::RunRequest;

pub(super) const RUN_AFTER_HELP: &str = "\
Options go before PROG; everything after PROG is passed to it unchanged
(`mptcpize-rs run curl -d x URL` gives -d to curl). `--` ends the options.
Exit status is PROG's own, or 125 if mptcpize-rs itself failed, 126 if PROG
cannot be executed, 127 if it was not found.

IS IT WORKING?
  --require-mptcp makes a socket that cannot be MPTCP fail (curl then exits
  7, say) instead of quietly using TCP: a CI job that passes used MPTCP.
  --report FILE counts, for PROG and every process it starts, the sockets
  converted, fallen back (by errno), refused and untouched; with the preload
  engine, run then stays as PROG's parent to write FILE when it ends.

ENGINES:
  preload  PROG replaces mptcpize-rs (same PID) with the shim in LD_PRELOAD.
           Free per socket, but only reaches dynamically linked programs
           that call socket() through libc.
  seccomp  A seccomp filter sends PROG's TCP socket() calls to mptcpize-rs,
           which stays as a supervisor and hands back MPTCP sockets. Reaches
           static and Go programs and everything they start; costs a round
           trip per TCP socket (other system calls run at full speed). The
           exit status (or death by a signal) is PROG's; SIGINT, SIGTERM,
           SIGHUP, SIGQUIT, SIGUSR1/2 are passed on. Linux >= 5.14.
           run returns when PROG ends; processes it left running (a
           daemon) are served by a background supervisor until they exit.
           The connection rules (--loopback, --exclude, --include, their
           -port forms, --no-listen) apply as with preload: the filter
           then also sends inet connect() calls (and listen() for
           --no-listen/--exclude-port), and a socket a rule makes TCP is
           swapped to TCP in place when that is invisible to PROG (else it
           stays MPTCP). A round trip per such connect(); none with
           --loopback and no other rule. Without ptrace access to PROG
           (Yama ptrace_scope 2 or 3 for a non-root supervisor), such
           sockets stay MPTCP.
           With --keep-pid, PROG takes run's PID instead (as with preload)
           and the supervisor runs beside it, never PROG's child; it
           ignores PROG's signals and leaves after the last process under
           the filter. For service managers: enable writes this for static
           and Go services.
  auto     seccomp for statically linked and Go programs, preload for the
           rest (and for setuid programs); preload with a warning if the
           kernel cannot do seccomp. The default.

WHAT EACH ENGINE REACHES:
                                  preload  seccomp
  socket() through libc           yes      yes      (dynamically linked programs)
  socket() as a raw system call   no       yes      (static programs, Go)
  io_uring IORING_OP_SOCKET       no       no       (--no-io-uring: socket() instead)
  Go >= 1.21 also makes MPTCP sockets itself with GODEBUG=multipathtcp=1,
  which both engines set. run --engine preload warns of a static or Go PROG.

IO_URING:
  --no-io-uring (seccomp engine only: run refuses it with preload) makes
  io_uring_setup fail with ENOSYS, as on a kernel without io_uring, so a
  program that falls back (liburing users commonly do) creates its sockets
  with socket(), which the engine makes MPTCP. The price: PROG and
  everything it starts lose io_uring for all their I/O (files too), which
  may be slower, and a program that requires io_uring fails. Off by default.

EXAMPLES:
  mptcpize-rs run iperf3 -s
  mptcpize-rs run -d curl http://example.com/
  mptcpize-rs run busybox wget http://example.com/   (static: seccomp)
  mptcpize-rs run --require-mptcp --report mptcp.json -- ./integration-tests
  mptcpize-rs run --engine seccomp -- python3 -m http.server
  exec mptcpize-rs run --keep-pid -- ./static-daemon --foreground";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Log each socket decision (sets MPTCPIZE_RS_DEBUG=1 for the shim)
    #[arg(short, long)]
    pub debug: bool,

    /// How to reach PROG's sockets: LD_PRELOAD, a seccomp supervisor, or
    /// chosen from PROG's binary
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,

    /// Fail PROG's socket() instead of falling back to TCP when MPTCP cannot
    /// be had (the reason is printed once): proves MPTCP was used, in CI
    #[arg(long)]
    pub require_mptcp: bool,

    /// When PROG ends, write JSON counts of converted, fallback (by errno),
    /// refused and untouched sockets for its whole process tree to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// PROG keeps this process's PID with either engine (the seccomp
    /// supervisor then runs in a process of its own): for service managers
    /// and anything that signals or waits for the PID it started
    #[arg(long, conflicts_with = "report")]
    pub keep_pid: bool,

    /// Give PROG NAME as argv[0] instead of PROG as typed (like exec -a)
    #[arg(long, value_name = "NAME")]
    pub argv0: Option<OsString>,

    /// Make io_uring_setup fail with ENOSYS (seccomp engine only), so PROG
    /// creates its sockets with socket(), which the engine sees, not with
    /// io_uring, which no engine sees. Off by default: see IO_URING below
    #[arg(long)]
    pub no_io_uring: bool,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// Program to run (looked up in PATH), followed by its arguments
    #[arg(
        value_name = "PROG",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    command: Vec<OsString>,
}

// Which connections use MPTCP: options of `run` and `enable`, checked by
// the shim's own grammar (plain comment: a doc comment would become the
// `about` of the subcommands that flatten this).
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Let loopback connections (127.0.0.0/8, ::1) use MPTCP too; by default
    /// they stay plain TCP, where MPTCP can add no path and only costs
    #[arg(long)]
    pub loopback: bool,

    /// Connections to NET (an IPv4/IPv6 address or ADDRESS/PREFIX) stay
    /// plain TCP; repeatable
    #[arg(long, value_name = "NET", value_parser = crate::rules::parse_net)]
    pub exclude: Vec<String>,

    /// Connections to PORT, and listeners on PORT, stay plain TCP; repeatable
    #[arg(long, value_name = "PORT", value_parser = crate::rules::parse_port)]
    pub exclude_port: Vec<String>,

    /// Only connections to NET use MPTCP (the others stay plain TCP);
    /// repeatable
    #[arg(long, value_name = "NET", value_parser = crate::rules::parse_net)]
    pub include: Vec<String>,

    /// Only connections to PORT use MPTCP (with --include: both must match);
    /// repeatable
    #[arg(long, value_name = "PORT", value_parser = crate::rules::parse_port)]
    pub include_port: Vec<String>,

    /// Listening sockets stay plain TCP (by default they are MPTCP, and
    /// still accept plain TCP clients)
    #[arg(long)]
    pub no_listen: bool,
}

impl RuleArgs {
    pub fn options(self) -> RuleOptions {
        RuleOptions {
            loopback: self.loopback,
            no_listen: self.no_listen,
            exclude: self.exclude,
            exclude_ports: self.exclude_port,
            include: self.include,
            include_ports: self.include_port,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// seccomp for static and Go programs, preload for the others
    Auto,
    /// LD_PRELOAD shim: dynamically linked programs, no cost per socket
    Preload,
    /// seccomp supervisor: any program, a round trip per TCP socket
    Seccomp,
}

impl From<EngineArg> for EngineOption {
    fn from(engine: EngineArg) -> Self {
        match engine {
            EngineArg::Auto => EngineOption::Auto,
            EngineArg::Preload => EngineOption::Preload,
            EngineArg::Seccomp => EngineOption::Seccomp,
        }
    }
}

/// Recognizes the commonest form, `run PROG [ARGS]...` with no option
/// before PROG, without clap: `run` sits in the start-up path of every
/// program it wraps, and building clap's parser was most of its work before
/// exec (page faults, not instructions; see BENCHMARKS.md). `args` is argv
/// without argv[0]. Anything else (an option or `--` first, no PROG) gives
/// None and goes through clap; the tests check that clap makes the same
/// request of every argv accepted here.
pub fn plain_run(args: &[OsString]) -> Option<RunRequest> {
    let [subcommand, program, program_args @ ..] = args else {
        return None;
    };
    if subcommand != "run" || program.as_encoded_bytes().starts_with(b"-") {
        return None;
    }
    Some(RunRequest {
        program: program.clone(),
        args: program_args.to_vec(),
        debug: false,
        engine: EngineOption::Auto,
        require_mptcp: false,
        report: None,
        rules: RuleOptions::default(),
        keep_pid: false,
        argv0: None,
        no_io_uring: false,
    })
}

impl RunArgs {
    pub fn into_request(self) -> RunRequest {
        let mut command = self.command.into_iter();
        // clap guarantees at least one value (required = true).
        let program = command.next().unwrap_or_default();
        RunRequest {
            program,
            args: command.collect(),
            debug: self.debug,
            engine: self.engine.into(),
            require_mptcp: self.require_mptcp,
            report: self.report,
            rules: self.rules.options(),
            keep_pid: self.keep_pid,
            argv0: self.argv0,
            no_io_uring: self.no_io_uring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::parse;
    use crate::cli::{Cli, Command};
    use clap::error::ErrorKind;
    use clap::{CommandFactory, Parser};

    fn run_request(args: &[&str]) -> RunRequest {
        match parse(args).expect("parses").command {
            Some(Command::Run(run)) => run.into_request(),
            other => panic!("expected run, got {other:?}"),
        }
    }

    fn strings(values: &[&str]) -> Vec<OsString> {
        values.iter().map(OsString::from).collect()
    }

    #[test]
    fn debug_before_program() {
        let req = run_request(&["run", "-d", "curl", "http://x/"]);
        assert!(req.debug);
        assert_eq!(req.program, "curl");
        assert_eq!(req.args, strings(&["http://x/"]));
        assert!(run_request(&["run", "--debug", "curl"]).debug);
    }

    #[test]
    fn flags_after_program_belong_to_it() {
        let req = run_request(&["run", "curl", "-d", "x", "--debug", "--", "-V", "URL"]);
        assert!(!req.debug);
        assert_eq!(req.program, "curl");
        assert_eq!(
            req.args,
            strings(&["-d", "x", "--debug", "--", "-V", "URL"])
        );
    }

    #[test]
    fn double_dash_is_accepted() {
        let req = run_request(&["run", "--", "curl", "-d"]);
        assert_eq!(req.program, "curl");
        assert_eq!(req.args, strings(&["-d"]));
        let req = run_request(&["run", "-d", "--", "-weird-name", "x"]);
        assert!(req.debug);
        assert_eq!(req.program, "-weird-name");
        assert_eq!(req.args, strings(&["x"]));
    }

    #[test]
    fn rule_options() {
        let req = run_request(&[
            "run",
            "--loopback",
            "--exclude",
            "10.0.0.0/8",
            "--exclude",
            "::1",
            "--exclude-port",
            "22",
            "--include",
            "198.18.0.0/15",
            "--include-port",
            "5201",
            "--no-listen",
            "curl",
            "--exclude",
        ]);
        assert_eq!(req.program, "curl");
        assert_eq!(req.args, strings(&["--exclude"]));
        assert_eq!(
            req.rules,
            RuleOptions {
                loopback: true,
                no_listen: true,
                exclude: vec!["10.0.0.0/8".into(), "::1".into()],
                exclude_ports: vec!["22".into()],
                include: vec!["198.18.0.0/15".into()],
                include_ports: vec!["5201".into()],
            }
        );
        assert_eq!(run_request(&["run", "curl"]).rules, RuleOptions::default());
        for bad in [
            &["run", "--exclude", "10.0.0.0/33", "curl"][..],
            &["run", "--include", "example.com", "curl"],
            &["run", "--exclude-port", "0", "curl"],
            &["run", "--include-port", "http", "curl"],
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
        let mut command = Cli::command();
        let run = command.find_subcommand_mut("run").expect("run exists");
        let help = run.render_long_help().to_string();
        for needle in [
            "--loopback",
            "--exclude <NET>",
            "--exclude-port <PORT>",
            "--include <NET>",
            "--include-port <PORT>",
            "--no-listen",
        ] {
            assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
        }
    }

    #[test]
    fn engine_option() {
        assert_eq!(run_request(&["run", "curl"]).engine, EngineOption::Auto);
        let req = run_request(&["run", "--engine", "seccomp", "-d", "busybox", "--engine"]);
        assert_eq!(req.engine, EngineOption::Seccomp);
        assert!(req.debug);
        assert_eq!(req.args, strings(&["--engine"]));
        assert_eq!(
            run_request(&["run", "--engine=preload", "curl"]).engine,
            EngineOption::Preload
        );
        assert_eq!(
            parse(&["run", "--engine", "ptrace", "curl"])
                .unwrap_err()
                .exit_code(),
            2
        );
        let mut command = Cli::command();
        let run = command.find_subcommand_mut("run").expect("run exists");
        let help = run.render_long_help().to_string();
        for needle in [
            "--engine",
            "preload",
            "seccomp",
            "auto",
            "static",
            "Go",
            "--no-io-uring",
        ] {
            assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
        }
    }

    #[test]
    fn plain_run_makes_the_request_clap_makes() {
        use std::os::unix::ffi::OsStringExt;
        let accepted: [Vec<OsString>; 7] = [
            strings(&["run", "true"]),
            strings(&["run", "curl", "-d", "x", "--debug", "--", "-V", "URL"]),
            strings(&["run", "iperf3", "--engine", "seccomp", "--report", "f"]),
            // A program named like clap's help subcommand is a program.
            strings(&["run", "help"]),
            strings(&["run", "", "x"]),
            strings(&["run", "./my prog", "--"]),
            vec!["run".into(), OsString::from_vec(b"caf\xe9".to_vec())],
        ];
        for args in accepted {
            let by_clap = match Cli::try_parse_from(
                std::iter::once("mptcpize-rs".into()).chain(args.clone()),
            ) {
                Ok(Cli {
                    command: Some(Command::Run(run)),
                    ..
                }) => run.into_request(),
                other => panic!("{args:?}: clap gave {other:?}"),
            };
            assert_eq!(plain_run(&args), Some(by_clap), "{args:?}");
        }
        for args in [
            &[][..],
            &["run"],
            &["run", "-d", "curl"],
            &["run", "--", "curl"],
            &["run", "--help"],
            &["run", "-"],
            &["runs", "curl"],
            &["enable", "nginx"],
        ] {
            assert_eq!(plain_run(&strings(args)), None, "{args:?}");
        }
    }

    #[test]
    fn no_io_uring_option() {
        assert!(!run_request(&["run", "curl"]).no_io_uring);
        let req = run_request(&[
            "run",
            "--no-io-uring",
            "--engine",
            "seccomp",
            "x",
            "--no-io-uring",
        ]);
        assert!(req.no_io_uring);
        assert_eq!(req.args, strings(&["--no-io-uring"]));
        // The help's reach table is the one `check` prints.
        let mut command = Cli::command();
        let run = command.find_subcommand_mut("run").expect("run exists");
        let help = run.render_long_help().to_string();
        for row in crate::engine::REACH {
            assert!(
                help.contains(row.calls),
                "missing {:?} in:\n{help}",
                row.calls
            );
        }
    }

    #[test]
    fn program_without_args() {
        let req = run_request(&["run", "true"]);
        assert_eq!(req.program, "true");
        assert!(req.args.is_empty());
    }

    #[test]
    fn missing_program_is_a_usage_error() {
        let err = parse(&["run"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["run", "-d"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
