//! Command-line grammar (clap derive). Kept apart from the logic in the
//! library so each subcommand maps to one `*Args` struct and one module.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::demo::{DemoOptions, PeerRole};
use crate::engine::EngineOption;
use crate::rules::RuleOptions;
use crate::run::RunRequest;
use crate::systemd::UnitRequest;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Run unmodified programs over Multipath TCP";

const LONG_ABOUT: &str = "\
Run unmodified programs over Multipath TCP.

`mptcpize-rs run PROG` replaces itself with PROG (same PID, signals, stdio
and exit status) after adding a small library, libmptcpize_preload.so, to
LD_PRELOAD. That library opens PROG's TCP stream sockets as IPPROTO_MPTCP.
GODEBUG gets multipathtcp=1 so Go programs (Go >= 1.21) use MPTCP natively.
Statically linked programs and Go programs, which LD_PRELOAD cannot reach,
are run under a seccomp filter instead: mptcpize-rs stays as a supervisor
that hands them MPTCP sockets (Linux >= 5.14, no root needed). Setuid
programs cannot be reached; run warns about them and starts them anyway.";

const EXAMPLES_AND_ENVIRONMENT: &str = "\
EXAMPLES:
  mptcpize-rs run iperf3 -s                     MPTCP iperf3 server
  mptcpize-rs run -d curl http://example.com/   log each socket decision
  mptcpize-rs run wget https://example.com/file
  mptcpize-rs run python3 -m http.server
  mptcpize-rs run --exclude 10.0.0.0/8 psql -h db.example

RULES (run and enable) choose which connections use MPTCP: --loopback,
--exclude NET, --exclude-port PORT, --include NET, --include-port PORT,
--no-listen. Loopback connections stay plain TCP by default.

ENVIRONMENT:
  MPTCPIZE_RS_PRELOAD  full path of libmptcpize_preload.so to use instead of
                       searching next to mptcpize-rs and its lib directory
  MPTCPIZE_RS_DEBUG    1 makes the shim log one line per socket (what -d sets)
  MPTCPIZE_RS_LOG      file the shim logs to instead of stderr";

const RUN_AFTER_HELP: &str = "\
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
           It converts at socket(), so it cannot apply --exclude,
           --include, their -port forms or --no-listen: run refuses them.
  auto     seccomp for statically linked and Go programs, preload for the
           rest (and for setuid programs); preload with a warning if the
           kernel cannot do seccomp. The default.

EXAMPLES:
  mptcpize-rs run iperf3 -s
  mptcpize-rs run -d curl http://example.com/
  mptcpize-rs run busybox wget http://example.com/   (static: seccomp)
  mptcpize-rs run --require-mptcp --report mptcp.json -- ./integration-tests
  mptcpize-rs run --engine seccomp -- python3 -m http.server";

const DEMO_AFTER_HELP: &str = "\
Builds two network namespaces joined by two paths of --rate Mbit/s each and
sends data across for --seconds, first over plain TCP, then with both ends
under `mptcpize-rs run`, taking path 1 down half way through each transfer.
Then prints a table: throughput with both paths up, subflows used, what
happened when path 1 failed, and whether any data was lost. Takes under
20 seconds with the defaults.

Needs root (sudo mptcpize-rs demo) and iproute2 (ip, tc); no internet.
Everything it creates (namespaces, links, processes) is removed at the end,
also on error and on Ctrl-C.";

const ENABLE_AFTER_HELP: &str = "\
Writes one drop-in, /etc/systemd/system/UNIT.d/zz-mptcpize-rs.conf (with
--user: ~/.config/systemd/user/UNIT.d/), that sets LD_PRELOAD to the shim
and adds multipathtcp=1 to GODEBUG. Preload libraries and Go settings the
unit already has (in its unit file or other drop-ins) are kept in the merged
values. The unit file and every other setting stay untouched, so package
upgrades keep the change; `disable` removes exactly this file.

The connection rules are those of `run` (see `mptcpize-rs run --help`):
loopback connections stay plain TCP unless --loopback; --exclude, --include,
their -port forms and --no-listen go into the drop-in as MPTCPIZE_RS_RULES.
Enabling again with other rules (or none) replaces them.

UNIT is a name as systemctl takes it: web, web.service, app@.service (all
instances), app@8081.service (one instance).

After writing, systemd is reloaded when it runs; --now also restarts the unit
if it is running. With --root, or without a running systemd, it says what is
needed instead.

A masked unit (linked to /dev/null) is refused. With --root every path is
resolved inside DIR, as systemd does: links in the image cannot lead out of
it, and a drop-in directory that is a link is refused. Values from the unit
are written back escaped, so none can add a line to the drop-in.

For a system service (not --user) the shim runs as root at every start, so
enable refuses a shim that root does not own, or that sits in a directory
someone else can write to (a build directory, a home directory, or a
MPTCPIZE_RS_PRELOAD pointing there): install mptcpize-rs for the system
(sudo make install, or the .deb or .rpm package) and enable with that.
--force uses such a shim anyway, with a warning. --dry-run checks the same.

EXAMPLES:
  sudo mptcpize-rs enable nginx --now
  sudo mptcpize-rs enable app@8081 --dry-run
  sudo mptcpize-rs enable postgresql --exclude 10.0.0.0/8 --now
  mptcpize-rs enable --user syncthing
  mptcpize-rs enable --root /mnt/image web.service";

const STATUS_AFTER_HELP: &str = "\
Says whether UNIT is enabled and where its drop-in is, and whether the
drop-in still matches the unit's environment. When systemd runs the unit, it
also checks the main process: whether the shim is really loaded, and how many
of its TCP-family sockets are MPTCP (reading them needs root).
Exit status: 0 enabled, 1 not enabled, 2 bad input.";

const USAGE: &str = "\
mptcpize-rs run [-d] [--engine auto|preload|seccomp] [--require-mptcp] [--report FILE] [RULES] [--] PROG [ARGS]...
       mptcpize-rs enable [--user] [--root DIR] [--now] [--dry-run] [--force] [RULES] UNIT
       mptcpize-rs disable [--user] [--root DIR] [--now] [--dry-run] UNIT
       mptcpize-rs status [--user] [--root DIR] UNIT
       mptcpize-rs demo [--rate MBIT] [--seconds N]
       mptcpize-rs check [--json]
       mptcpize-rs inspect [--json] PID...
       mptcpize-rs --version";

#[derive(Debug, Parser)]
#[command(
    name = "mptcpize-rs",
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES_AND_ENVIRONMENT,
    // Our --version also reports the shim, so clap's built-in is replaced.
    disable_version_flag = true,
    // clap's generated usage gets muddled by the subcommand-less --version.
    override_usage = USAGE,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Print version and the shim library `run` would use
    #[arg(short = 'V', long, action = ArgAction::SetTrue, exclusive = true)]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

// `defer`: a subcommand's arguments are built only when it is the one
// parsed (or when help or the man pages need them). `run` is in the
// start-up path of every program it wraps, and building every
// subcommand's clap definition was a third of its heap and page faults.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run PROG with its TCP sockets turned into Multipath TCP
    #[command(
        after_help = RUN_AFTER_HELP,
        override_usage = "mptcpize-rs run [-d|--debug] [--engine ENGINE] [--require-mptcp] [--report FILE] [RULES] [--] PROG [ARGS]..."
    )]
    Run(RunArgs),

    /// Make a systemd service use MPTCP, through a drop-in
    #[command(after_help = ENABLE_AFTER_HELP)]
    Enable(EnableArgs),

    /// Remove the drop-in `enable` wrote; the service is as before
    Disable(UnitArgs),

    /// Is a service enabled, and does its process really use MPTCP?
    #[command(after_help = STATUS_AFTER_HELP)]
    Status(StatusArgs),

    /// Show multipath at work: TCP vs MPTCP over two paths, one failing (root)
    #[command(
        after_help = DEMO_AFTER_HELP,
        override_usage = "mptcpize-rs demo [--rate MBIT] [--seconds N]"
    )]
    Demo(DemoArgs),

    /// One end of the demo's transfer (run by `demo` inside its namespaces)
    #[command(hide = true)]
    DemoPeer(DemoPeerArgs),

    /// Can MPTCP work here? Kernel, settings, paths, a live test, the fix
    #[command(after_help = CHECK_AFTER_HELP)]
    Check(CheckArgs),

    /// Which sockets of running processes are MPTCP, and their subflows
    #[command(after_help = INSPECT_AFTER_HELP)]
    Inspect(InspectArgs),
}

// Where a unit lives: the running system, `--user`, or an offline `--root`.
// A plain comment: a doc comment here would become the `about` of every
// subcommand that flattens this, replacing theirs when they are built.
#[derive(Debug, Args)]
pub struct UnitScopeArgs {
    /// The unit: NAME or NAME.service, templates and instances too
    #[arg(value_name = "UNIT")]
    pub unit: String,

    /// A unit of your own user's systemd (~/.config/systemd/user)
    #[arg(long)]
    pub user: bool,

    /// Work on an offline tree or image mounted at DIR (like systemctl --root)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    #[command(flatten)]
    pub scope: UnitScopeArgs,

    /// Also restart the unit, if it is running, so the change takes effect now
    #[arg(long)]
    pub now: bool,

    /// Print what would be written or removed, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub scope: UnitScopeArgs,
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    pub unit: UnitArgs,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// Use a shim that someone other than root could replace (with a warning)
    #[arg(long)]
    pub force: bool,
}

impl EnableArgs {
    pub fn request(self) -> UnitRequest {
        UnitRequest {
            force: self.force,
            rules: self.rules.options(),
            ..self.unit.request()
        }
    }
}

impl UnitArgs {
    pub fn request(self) -> UnitRequest {
        UnitRequest {
            now: self.now,
            dry_run: self.dry_run,
            ..self.scope.request()
        }
    }
}

impl UnitScopeArgs {
    pub fn request(self) -> UnitRequest {
        UnitRequest {
            unit: self.unit,
            user: self.user,
            root: self.root,
            now: false,
            dry_run: false,
            force: false,
            rules: RuleOptions::default(),
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rate of each of the two paths, in Mbit/s (1 to 1000)
    #[arg(
        long,
        value_name = "MBIT",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub rate: u32,

    /// Length of each transfer in seconds (4 to 60); path 1 fails half way
    // At least 4: MPTCP takes about 1.5 s to give up on the dead path (with
    // the kernel's defaults), so shorter runs end before path 2 takes over.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 6,
        value_parser = clap::value_parser!(u64).range(4..=60)
    )]
    pub seconds: u64,
}

impl DemoArgs {
    pub fn options(&self) -> DemoOptions {
        DemoOptions {
            rate_mbit: self.rate,
            seconds: self.seconds,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoPeerArgs {
    #[command(subcommand)]
    pub role: DemoPeerRole,
}

#[derive(Debug, Subcommand)]
pub enum DemoPeerRole {
    /// Accept one connection and check the bytes received
    Receive {
        #[arg(long)]
        port: u16,
        /// Give up this long after starting to wait or to receive
        #[arg(long)]
        max_seconds: u64,
    },
    /// Connect and send the pattern for a while
    Send {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        seconds: u64,
        /// Cap the send buffer (SO_SNDBUF) at this many bytes
        #[arg(long)]
        send_buffer: Option<u32>,
    },
}

impl DemoPeerArgs {
    pub fn role(&self) -> PeerRole {
        match self.role {
            DemoPeerRole::Receive { port, max_seconds } => PeerRole::Receive { port, max_seconds },
            DemoPeerRole::Send {
                to,
                seconds,
                send_buffer,
            } => PeerRole::Send {
                to,
                seconds,
                send_buffer,
            },
        }
    }
}

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
        }
    }
}

const CHECK_AFTER_HELP: &str = "\
Looks at the current network namespace: kernel support, net.mptcp.enabled,
the path manager and scheduler, the path manager's limits and endpoints (read
over generic netlink, like `ip mptcp`), and opens an MPTCP connection over
127.0.0.1 to see that it stays MPTCP. Also says which engines `run` can use
(the LD_PRELOAD shim, seccomp). Each finding is ok, warning or error, with
the command that fixes it.

Exit status: 0 when MPTCP can work here (warnings allowed, for example
\"connections will use one path\"), 1 when it cannot.

EXAMPLES:
  mptcpize-rs check
  mptcpize-rs check --json
  sudo ip netns exec NS mptcpize-rs check     another network namespace";

const INSPECT_AFTER_HELP: &str = "\
Lists every IPv4/IPv6 stream socket the processes have open: protocol
(mptcp or tcp), state, local and remote address, and for MPTCP sockets the
number of subflows and whether the connection fell back to TCP. Read from the
kernel's sock_diag interface (like `ss`), matched to /proc/PID/fd; another
user's process needs root.

Exit status: 0 when every PID was inspected, 1 when one cannot be (no such
process, no permission), 2 for bad input.

EXAMPLES:
  mptcpize-rs inspect $(pidof nginx)
  mptcpize-rs inspect --json 812";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON document (facts, findings, verdict) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print a JSON array, one object per process, instead of tables
    #[arg(long)]
    pub json: bool,

    /// Processes to inspect
    #[arg(
        value_name = "PID",
        required = true,
        num_args = 1..,
        value_parser = clap::value_parser!(i32).range(1..)
    )]
    pub pids: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mptcpize-rs").chain(args.iter().copied()))
    }

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
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
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
        for needle in ["--engine", "preload", "seccomp", "auto", "static", "Go"] {
            assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
        }
    }

    #[test]
    fn deferred_subcommands_keep_their_descriptions() {
        // Building a deferred subcommand applies its Args structs' metadata
        // last; it must not replace what the parent's help showed for it.
        let eager = Cli::command();
        let mut built = Cli::command();
        built.build();
        for sub in eager.get_subcommands() {
            let after = built.find_subcommand(sub.get_name()).expect("same tree");
            let text = |s: Option<&clap::builder::StyledStr>| s.map(ToString::to_string);
            assert_eq!(
                text(after.get_about()),
                text(sub.get_about()),
                "{}",
                sub.get_name()
            );
            assert_eq!(
                text(after.get_long_about()),
                text(sub.get_long_about()),
                "{}",
                sub.get_name()
            );
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

    #[test]
    fn unknown_flags_are_usage_errors() {
        assert_eq!(parse(&["--bogus"]).unwrap_err().exit_code(), 2);
        assert_eq!(
            parse(&["run", "--bogus", "curl"]).unwrap_err().exit_code(),
            2
        );
        assert_eq!(parse(&["run", "-x", "curl"]).unwrap_err().exit_code(), 2);
        assert_eq!(parse(&["bogus"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn no_arguments_shows_help_with_status_2() {
        let err = parse(&[]).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn version_flag() {
        assert!(parse(&["--version"]).unwrap().version);
        assert!(parse(&["-V"]).unwrap().version);
        assert!(parse(&["-V", "run", "x"]).is_err());
    }

    fn demo_options(args: &[&str]) -> DemoOptions {
        match parse(args).expect("parses").command {
            Some(Command::Demo(demo)) => demo.options(),
            other => panic!("expected demo, got {other:?}"),
        }
    }

    #[test]
    fn demo_defaults_and_options() {
        assert_eq!(
            demo_options(&["demo"]),
            DemoOptions {
                rate_mbit: 100,
                seconds: 6
            }
        );
        assert_eq!(
            demo_options(&["demo", "--rate", "1000", "--seconds", "4"]),
            DemoOptions {
                rate_mbit: 1000,
                seconds: 4
            }
        );
        assert_eq!(demo_options(&["demo", "--seconds=60"]).seconds, 60);
        assert_eq!(demo_options(&["demo", "--rate=1"]).rate_mbit, 1);
    }

    #[test]
    fn demo_ranges_are_enforced() {
        for args in [
            &["demo", "--rate", "0"][..],
            &["demo", "--rate", "1001"],
            &["demo", "--rate", "fast"],
            &["demo", "--seconds", "3"],
            &["demo", "--seconds", "61"],
            &["demo", "extra"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn demo_peer_roles() {
        let role = |args: &[&str]| match parse(args).expect("parses").command {
            Some(Command::DemoPeer(peer)) => peer.role(),
            other => panic!("expected demo-peer, got {other:?}"),
        };
        assert_eq!(
            role(&[
                "demo-peer",
                "receive",
                "--port",
                "5001",
                "--max-seconds",
                "9"
            ]),
            PeerRole::Receive {
                port: 5001,
                max_seconds: 9
            }
        );
        assert_eq!(
            role(&[
                "demo-peer",
                "send",
                "--to",
                "198.18.1.2:5001",
                "--seconds",
                "6"
            ]),
            PeerRole::Send {
                to: "198.18.1.2:5001".parse().unwrap(),
                seconds: 6,
                send_buffer: None,
            }
        );
        assert_eq!(
            role(&[
                "demo-peer",
                "send",
                "--to",
                "[::1]:7",
                "--seconds",
                "2",
                "--send-buffer",
                "65536"
            ]),
            PeerRole::Send {
                to: "[::1]:7".parse().unwrap(),
                seconds: 2,
                send_buffer: Some(65_536),
            }
        );
        assert!(parse(&["demo-peer", "send", "--to", "nowhere", "--seconds", "6"]).is_err());
    }

    #[test]
    fn help_lists_demo_but_not_its_peer() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("mptcpize-rs demo [--rate MBIT] [--seconds N]"),
            "{help}"
        );
        assert!(help.contains("demo "), "{help}");
        assert!(!help.contains("demo-peer"), "{help}");
        let mut command = Cli::command();
        let demo = command.find_subcommand_mut("demo").expect("demo exists");
        let demo_help = demo.render_long_help().to_string();
        for needle in [
            "--rate",
            "--seconds",
            "root",
            "removed",
            "Ctrl-C",
            "iproute2",
        ] {
            assert!(
                demo_help.contains(needle),
                "missing {needle:?} in:\n{demo_help}"
            );
        }
    }

    #[test]
    fn help_teaches_usage() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "Multipath TCP",
            "EXAMPLES",
            "mptcpize-rs run iperf3 -s",
            "mptcpize-rs run -d curl http://",
            "mptcpize-rs run wget",
            "mptcpize-rs run python3 -m http.server",
            "MPTCPIZE_RS_PRELOAD",
            "MPTCPIZE_RS_DEBUG",
            "MPTCPIZE_RS_LOG",
        ] {
            assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
        }
    }

    #[test]
    fn check_and_inspect_arguments() {
        match parse(&["check", "--json"]).expect("parses").command {
            Some(Command::Check(args)) => assert!(args.json),
            other => panic!("expected check, got {other:?}"),
        }
        match parse(&["inspect", "--json", "12", "34"])
            .expect("parses")
            .command
        {
            Some(Command::Inspect(args)) => {
                assert!(args.json);
                assert_eq!(args.pids, [12, 34]);
            }
            other => panic!("expected inspect, got {other:?}"),
        }
        for args in [
            &["inspect"][..],
            &["inspect", "abc"],
            &["inspect", "0"],
            &["inspect", "-5"],
            &["check", "extra"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }
}
