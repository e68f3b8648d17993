//! `run`'s arguments: PROG and its options, the connection rules (shared
//! with `enable`), the engine; and the fast path that reads them without
//! clap.

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

/// Reads `run [OPTIONS] [--] PROG [ARGS]...` without clap, when every
/// option before PROG is one of `run`'s, written as `run --help` shows it
/// (`--engine seccomp`, not `--engine=seccomp`), each at most once but the
/// repeatable rules, with a value `run` accepts. `run` sits in the
/// start-up path of every program it wraps, and clap was most of its work
/// before exec (its parser and the heap pages it touches: BENCHMARKS.md).
/// Anything else (`--help`, an unknown or repeated option, a bad value,
/// `--keep-pid` with `--report`, no PROG) gives None, and clap parses the
/// line, with its errors and help. `args` is argv without argv[0].
///
/// The tests hold it to clap: over every short command line built from
/// `run`'s options and some wrong words, whatever this accepts, clap
/// accepts with the same request; and every option clap defines for `run`
/// is one this reads.
pub fn run_without_clap(args: &[OsString]) -> Option<RunRequest> {
    let (subcommand, mut rest) = args.split_first()?;
    if subcommand != "run" {
        return None;
    }
    let mut request = RunRequest {
        program: OsString::new(),
        args: Vec::new(),
        debug: false,
        engine: EngineOption::Auto,
        require_mptcp: false,
        report: None,
        rules: RuleOptions::default(),
        keep_pid: false,
        argv0: None,
        no_io_uring: false,
    };
    let mut engine_given = false;
    loop {
        let (word, after) = rest.split_first()?;
        let word_bytes = word.as_encoded_bytes();
        if word == "--" {
            rest = after;
            break;
        }
        if !word_bytes.starts_with(b"-") {
            break;
        }
        // An option's value: present, not empty, not option-like (clap
        // would read those otherwise, or refuse them).
        let value = after
            .first()
            .filter(|v| !v.is_empty() && !v.as_encoded_bytes().starts_with(b"-"));
        let rules = &mut request.rules;
        let takes_value = match word.to_str()? {
            "-d" | "--debug" => set_once(&mut request.debug)?,
            "--require-mptcp" => set_once(&mut request.require_mptcp)?,
            "--keep-pid" => set_once(&mut request.keep_pid)?,
            "--no-io-uring" => set_once(&mut request.no_io_uring)?,
            "--loopback" => set_once(&mut rules.loopback)?,
            "--no-listen" => set_once(&mut rules.no_listen)?,
            "--engine" => {
                set_once(&mut engine_given)?;
                let engine = EngineArg::from_str(value?.to_str()?, false).ok()?;
                request.engine = engine.into();
                true
            }
            "--report" if request.report.is_none() => {
                request.report = Some(PathBuf::from(value?));
                true
            }
            "--argv0" if request.argv0.is_none() => {
                request.argv0 = Some(value?.clone());
                true
            }
            "--exclude" => push(&mut rules.exclude, value?, crate::rules::parse_net)?,
            "--include" => push(&mut rules.include, value?, crate::rules::parse_net)?,
            "--exclude-port" => push(&mut rules.exclude_ports, value?, crate::rules::parse_port)?,
            "--include-port" => push(&mut rules.include_ports, value?, crate::rules::parse_port)?,
            _ => return None,
        };
        rest = if takes_value { &after[1..] } else { after };
    }
    let (program, program_args) = rest.split_first()?;
    // `--keep-pid` conflicts with `--report`; a PROG named like an option
    // after `--` is left to clap.
    if request.keep_pid && request.report.is_some() || program.as_encoded_bytes().starts_with(b"-")
    {
        return None;
    }
    request.program = program.clone();
    request.args = program_args.to_vec();
    Some(request)
}

/// Sets a flag given once (clap refuses a second time): Some(false), the
/// flag takes no value.
fn set_once(flag: &mut bool) -> Option<bool> {
    if *flag {
        return None;
    }
    *flag = true;
    Some(false)
}

/// Adds a repeatable option's value, checked by clap's own value parser:
/// Some(true), the option took a value.
fn push(
    list: &mut Vec<String>,
    value: &OsString,
    check: fn(&str) -> Result<String, String>,
) -> Option<bool> {
    list.push(check(value.to_str()?).ok()?);
    Some(true)
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

    /// Every rule option but --loopback, each list with two kinds of
    /// entries where it takes more.
    const EVERY_RULE: &[&str] = &[
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
    ];

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
        let mut args = vec!["run", "--loopback"];
        args.extend(EVERY_RULE);
        args.extend(["curl", "--exclude"]);
        let req = run_request(&args);
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

    /// What clap makes of `args` (argv without argv[0]), if it accepts it.
    fn clap_request(args: &[OsString]) -> Option<RunRequest> {
        let argv = std::iter::once("mptcpize-rs".into()).chain(args.iter().cloned());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Some(Command::Run(run)),
                ..
            }) => Some(run.into_request()),
            _ => None,
        }
    }

    #[test]
    fn the_fast_path_makes_the_request_clap_makes() {
        use std::os::unix::ffi::OsStringExt;
        let accepted: Vec<Vec<OsString>> = vec![
            strings(&["run", "true"]),
            strings(&["run", "curl", "-d", "x", "--debug", "--", "-V", "URL"]),
            strings(&["run", "iperf3", "--engine", "seccomp", "--report", "f"]),
            // A program named like clap's help subcommand is a program.
            strings(&["run", "help"]),
            strings(&["run", "", "x"]),
            strings(&["run", "./my prog", "--"]),
            vec!["run".into(), OsString::from_vec(b"caf\xe9".to_vec())],
            strings(&["run", "-d", "curl"]),
            strings(&["run", "--", "curl"]),
            strings(&["run", "--loopback", "--", "curl", "--loopback"]),
            strings(&[
                "run",
                "--engine",
                "seccomp",
                "--require-mptcp",
                "--keep-pid",
                "--argv0",
                "@x",
                "--no-io-uring",
                "--debug",
            ])
            .into_iter()
            .chain(strings(EVERY_RULE))
            .chain(strings(&["prog", "-d"]))
            .collect(),
        ];
        for args in accepted {
            let by_clap = clap_request(&args).unwrap_or_else(|| panic!("clap refuses {args:?}"));
            assert_eq!(run_without_clap(&args), Some(by_clap), "{args:?}");
        }
        for args in [
            &[][..],
            &["run"],
            &["run", "--help"],
            &["run", "-"],
            &["run", "--", "-x"],
            &["run", "-d", "-d", "curl"],
            &["run", "--engine=seccomp", "curl"],
            &["run", "--engine", "nope", "curl"],
            &["run", "--exclude", "10.0.0.0/33", "curl"],
            &["run", "--keep-pid", "--report", "f", "curl"],
            &["runs", "curl"],
            &["enable", "nginx"],
        ] {
            assert_eq!(run_without_clap(&strings(args)), None, "{args:?}");
        }
    }

    /// Every command line of up to three words from `run`'s options, their
    /// values and wrong words, then PROG: whatever the fast path accepts,
    /// clap accepts with the same request.
    #[test]
    fn the_fast_path_never_disagrees_with_clap() {
        let words = [
            "-d",
            "--debug",
            "--engine",
            "seccomp",
            "bogus",
            "--require-mptcp",
            "--report",
            "f",
            "--keep-pid",
            "--argv0",
            "--no-io-uring",
            "--loopback",
            "--exclude",
            "10.0.0.0/8",
            "--exclude-port",
            "80",
            "0",
            "--include",
            "--include-port",
            "--no-listen",
            "--",
            "-x",
            "",
            "--engine=auto",
            "-h",
            "prog",
        ];
        let mut accepted = 0;
        let mut line = vec![OsString::from("run")];
        let mut check = |line: &[OsString]| {
            let mut args = line.to_vec();
            args.extend(strings(&["prog", "-d"]));
            if let Some(fast) = run_without_clap(&args) {
                accepted += 1;
                assert_eq!(Some(fast), clap_request(&args), "{args:?}");
            }
        };
        check(&line);
        for a in words {
            line.push(a.into());
            check(&line);
            for b in words {
                line.push(b.into());
                check(&line);
                for c in words {
                    line.push(c.into());
                    check(&line);
                    line.pop();
                }
                line.pop();
            }
            line.pop();
        }
        // The fast path takes the common lines, not just the bare one.
        assert!(accepted > 1000, "only {accepted} lines took the fast path");
    }

    /// Every option clap defines for `run` is one the fast path reads (an
    /// option added to `RunArgs` must be added there too).
    #[test]
    fn the_fast_path_knows_every_run_option() {
        let mut command = Cli::command();
        command.build();
        let run = command.find_subcommand("run").expect("run subcommand");
        let sample = |long: &str| match long {
            "engine" => Some("preload"),
            "report" => Some("f"),
            "argv0" => Some("n"),
            "exclude" | "include" => Some("10.0.0.0/8"),
            "exclude-port" | "include-port" => Some("80"),
            _ => None,
        };
        for arg in run.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            if long == "help" {
                continue;
            }
            let mut args = strings(&["run", &format!("--{long}")]);
            if arg.get_action().takes_values() {
                let value = sample(long).unwrap_or_else(|| panic!("no sample value for --{long}"));
                args.push(value.into());
            }
            args.push("prog".into());
            let fast = run_without_clap(&args);
            assert!(fast.is_some(), "the fast path does not read --{long}");
            assert_eq!(fast, clap_request(&args), "{args:?}");
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
