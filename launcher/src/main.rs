//! Thin entry point: parse, dispatch to the library, print any error and
//! exit with its status.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use mptcpize_rs::failure::Failure;
use mptcpize_rs::{TOOL_NAME, demo, disable, enable, exit_code, run, shim, status, version};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        // Ignore write errors (e.g. closed stdout): nothing useful to do.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            version::version_text(&shim::locate())
        );
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Run(args)) => match run::run(&args.into_request()) {
            Ok(code) => ExitCode::from(code),
            Err(error) => {
                let _ = writeln!(std::io::stderr(), "{TOOL_NAME}: {error}");
                ExitCode::from(error.exit_code())
            }
        },
        Some(Command::Enable(args)) => finish(enable::enable(&args.request()).map(|()| 0)),
        Some(Command::Disable(args)) => finish(disable::disable(&args.request()).map(|()| 0)),
        Some(Command::Status(args)) => finish(status::status(&args.scope.request())),
        Some(Command::Demo(args)) => finish(demo::demo(&args.options()).map(|()| 0)),
        Some(Command::DemoPeer(args)) => finish(demo::run_peer(&args.role()).map(|()| 0)),
        Some(Command::Check(args)) => finish(mptcpize_rs::check::check(args.json)),
        Some(Command::Inspect(args)) => {
            finish(mptcpize_rs::inspect::inspect(&args.pids, args.json))
        }
        // Unreachable in practice (arg_required_else_help), kept total.
        None => {
            let _ = write!(std::io::stderr(), "{}", Cli::command().render_help());
            ExitCode::from(exit_code::USAGE)
        }
    }
}

/// Exit status of a subcommand that returns: its own, or the failure's
/// after printing it.
fn finish(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("{TOOL_NAME}: {error}");
            ExitCode::from(error.exit_code)
        }
    }
}
