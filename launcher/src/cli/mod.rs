//! Command-line grammar (clap derive), apart from the logic it feeds: the
//! top level here, each subcommand's arguments and help in the file of its
//! room (`run`, `systemd`, `demo`, `check`), each `*Args` turning into the
//! request its module takes. In the library, so the man-page generator
//! (`bin/gen.rs`) builds from the same definition.

mod check;
mod demo;
mod run;
mod systemd;
mod testnet;

pub use check::{CheckArgs, InspectArgs};
pub use demo::{DemoArgs, DemoPeerArgs, DemoPeerRole};
pub use run::{EngineArg, RuleArgs, RunArgs, run_without_clap};
pub use systemd::{EnableArgs, StatusArgs, UnitArgs, UnitScopeArgs};
pub use testnet::{TestnetArgs, TestnetCommand};

use check::{CHECK_AFTER_HELP, INSPECT_AFTER_HELP};
use clap::{ArgAction, Parser, Subcommand};
use demo::DEMO_AFTER_HELP;
use run::RUN_AFTER_HELP;
use systemd::{ENABLE_AFTER_HELP, STATUS_AFTER_HELP};
use testnet::TESTNET_AFTER_HELP;

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

const USAGE: &str = "\
mptcpize-rs run [-d] [--engine auto|preload|seccomp] [--require-mptcp] [--report FILE] [--keep-pid] [RULES] [--] PROG [ARGS]...
       mptcpize-rs enable [--user] [--root DIR] [--now] [--dry-run [--json]] [--force] [--engine ENGINE] [RULES] UNIT
       mptcpize-rs disable [--user] [--root DIR] [--now] [--dry-run] UNIT
       mptcpize-rs status [--user] [--root DIR] [--json] [UNIT]
       mptcpize-rs demo [--rate MBIT] [--seconds N]
       mptcpize-rs testnet up|exec|path|status|down ...
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
        override_usage = "mptcpize-rs run [-d|--debug] [--engine ENGINE] [--require-mptcp] [--report FILE] [--keep-pid] [--argv0 NAME] [RULES] [--] PROG [ARGS]..."
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

    /// A multipath lab for any program: two hosts joined by N paths (root)
    #[command(after_help = TESTNET_AFTER_HELP)]
    Testnet(TestnetArgs),

    /// Can MPTCP work here? Kernel, settings, paths, a live test, the fix
    #[command(after_help = CHECK_AFTER_HELP)]
    Check(CheckArgs),

    /// Which sockets of running processes are MPTCP, and their subflows
    #[command(after_help = INSPECT_AFTER_HELP)]
    Inspect(InspectArgs),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mptcpize-rs").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
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
}
