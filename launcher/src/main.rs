//! Thin entry point: parse, dispatch to the library, print any error and
//! exit with its status.
//!
//! The entry point is C's `main`, not std's: `run` is in the start-up path
//! of every program it wraps, and std's runtime set-up costs more than the
//! rest of `run` (it reads `/proc/self/maps` to find the main thread's stack
//! guard, and maps an alternate signal stack for its overflow message).
//! What that set-up did that matters is kept: SIGPIPE is ignored (writes to
//! a closed pipe fail with EPIPE instead of killing a supervisor; the
//! program gets it as mptcpize-rs was given it, ignored under systemd) and
//! standard output is flushed.
//! A stack overflow is then a plain SIGSEGV, without std's message.
#![cfg_attr(not(test), no_main)]

use std::ffi::OsString;
use std::io::Write;

use clap::{CommandFactory, Parser};
use mptcpize_rs::cli::{self, Cli, Command};
use mptcpize_rs::failure::Failure;
use mptcpize_rs::{
    TOOL_NAME, demo, engine::preload::shim, exit_code, run, systemd::disable, systemd::enable,
    systemd::status, version,
};

/// The C entry point (see the module documentation). std still works:
/// glibc hands `argv` and the environment to std before `main` runs.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // As std's runtime does; the program gets SIGPIPE as it was given.
    run::signals::ignore_sigpipe_remembering();
    let code = cli_main();
    let _ = std::io::stdout().flush();
    libc::c_int::from(code)
}

#[cfg_attr(test, allow(dead_code))]
fn cli_main() -> u8 {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(request) = args.get(1..).and_then(cli::run_without_clap) {
        return run_main(&request);
    }
    let cli = Cli::parse_from(args);
    if cli.version {
        // Ignore write errors (e.g. closed stdout): nothing useful to do.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            version::version_text(&shim::locate())
        );
        return 0;
    }
    match cli.command {
        Some(Command::Run(args)) => run_main(&args.into_request()),
        Some(Command::Enable(args)) => finish(enable::enable(&args.request()).map(|()| 0)),
        Some(Command::Disable(args)) => finish(disable::disable(&args.request()).map(|()| 0)),
        Some(Command::Status(args)) => finish(status::status(&args.request())),
        Some(Command::Demo(args)) => finish(demo::demo(&args.options()).map(|()| 0)),
        Some(Command::DemoPeer(args)) => finish(demo::run_peer(&args.role()).map(|()| 0)),
        Some(Command::Testnet(args)) => finish(testnet_main(args.command)),
        Some(Command::Check(args)) => finish(mptcpize_rs::check::check(args.json)),
        Some(Command::Inspect(args)) => {
            finish(mptcpize_rs::inspect::inspect(&args.pids, args.json))
        }
        // Unreachable in practice (arg_required_else_help), kept total.
        None => {
            let _ = write!(std::io::stderr(), "{}", Cli::command().render_help());
            exit_code::USAGE
        }
    }
}

/// `testnet`'s subcommands.
#[cfg_attr(test, allow(dead_code))]
fn testnet_main(command: cli::TestnetCommand) -> Result<u8, Failure> {
    use mptcpize_rs::testnet::{exec, network, status};
    match command {
        cli::TestnetCommand::Up(args) => {
            let request = args.request().map_err(Failure::usage)?;
            let paths = network::up(&request)?;
            print!("{}", network::up_summary(&request.name, &paths));
            Ok(0)
        }
        cli::TestnetCommand::Exec(args) => exec::exec(&args.request().map_err(Failure::usage)?),
        cli::TestnetCommand::Path(args) => {
            network::change_path(&args.name, args.path, args.change()).map(|()| 0)
        }
        cli::TestnetCommand::Status(args) => status::status(&args.name, args.json),
        cli::TestnetCommand::Down(args) => match args.name {
            Some(name) => network::down(&name).map(|()| 0),
            None => {
                for name in network::down_all()? {
                    println!("removed testnet {name}");
                }
                Ok(0)
            }
        },
    }
}

/// `run`: returns only when the program could not be started, or, when
/// run stays as its parent, with its exit status.
#[cfg_attr(test, allow(dead_code))]
fn run_main(request: &run::RunRequest) -> u8 {
    match run::run(request) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "{TOOL_NAME}: {error}");
            error.exit_code()
        }
    }
}

/// Exit status of a subcommand that returns: its own, or the failure's
/// after printing it.
#[cfg_attr(test, allow(dead_code))]
fn finish(result: Result<u8, Failure>) -> u8 {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{TOOL_NAME}: {error}");
            error.exit_code
        }
    }
}
