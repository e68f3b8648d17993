//! `testnet`: `up`, `exec`, `path`, `status`, `down`.

use std::ffi::OsString;

use clap::{Args, Subcommand, ValueEnum};

use super::run::{EngineArg, RuleArgs};
use crate::testnet::exec::{ExecRequest, Side};
use crate::testnet::network::{PathChange, UpRequest};
use crate::testnet::plan;

pub(super) const TESTNET_AFTER_HELP: &str = "\
A client and a server host (network namespaces mpz-NAME-client and
mpz-NAME-server) joined by N paths, path K on 198.18.K.0/24 (client .1,
server .2), each shaped to its rate; MPTCP is set up so the client opens
a subflow on every path. Servers must listen on 0.0.0.0. Needs root.

EXAMPLE:
  sudo mptcpize-rs testnet up --paths 2 --rate 50
  sudo mptcpize-rs testnet exec mptcp server --mptcp -- iperf3 -s &
  sudo mptcpize-rs testnet exec mptcp client --mptcp -- iperf3 -c 198.18.1.2
  sudo mptcpize-rs testnet path mptcp 1 down     (fail path 1; `up` restores)
  sudo mptcpize-rs testnet status mptcp --json   (bytes, subflows per path)
  sudo mptcpize-rs testnet down mptcp            (or down --all)";

#[derive(Debug, Args)]
pub struct TestnetArgs {
    #[command(subcommand)]
    pub command: TestnetCommand,
}

#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Create a testnet: two hosts joined by N shaped paths
    Up(UpArgs),
    /// Run CMD inside a host (as sudo's caller), with --mptcp under `run`
    #[command(
        override_usage = "mptcpize-rs testnet exec NAME client|server [--mptcp] [RUN OPTIONS] -- CMD..."
    )]
    Exec(ExecArgs),
    /// Take path K down or up (both ends), or reshape it
    Path(PathArgs),
    /// Per path: bytes and packets, state, rate; MPTCP subflows per path
    Status(StatusArgs),
    /// Remove a testnet (or --all) and everything running in it
    Down(DownArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Name of the testnet (a-z, 0-9, '-'; at most 12 characters)
    #[arg(long, default_value = "mptcp", value_parser = plan::validate_name)]
    pub name: String,

    /// Number of paths (1 to 8)
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(1..=i64::from(plan::MAX_PATHS)))]
    pub paths: u8,

    /// Rate of each path in Mbit/s (1 to 10000): one for all, or one per path
    #[arg(long, value_name = "MBIT[,MBIT...]", default_value = "100",
          value_parser = parse_rates)]
    pub rate: Rates,

    /// One-way delay of each path in ms (needs the kernel's netem): one for
    /// all, or one per path
    #[arg(long, value_name = "MS[,MS...]", value_parser = parse_delays)]
    pub delay: Option<Rates>,
}

/// A parsed comma-separated list (clap needs one type per value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rates(pub Vec<u32>);

fn parse_rates(text: &str) -> Result<Rates, String> {
    plan::parse_list(text, "Mbit/s", 1, 10_000).map(Rates)
}

fn parse_delays(text: &str) -> Result<Rates, String> {
    plan::parse_list(text, "ms", 0, 10_000).map(Rates)
}

impl UpArgs {
    /// The request, or the usage error of a list that does not fit N.
    pub fn request(&self) -> Result<UpRequest, String> {
        let rates = plan::per_path(&self.rate.0, self.paths, "--rate")?;
        let delays = match &self.delay {
            Some(list) => Some(plan::per_path(&list.0, self.paths, "--delay")?),
            None => None,
        };
        Ok(UpRequest {
            name: self.name.clone(),
            paths: self.paths,
            rates,
            delays,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    Client,
    Server,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The testnet
    #[arg(value_parser = plan::validate_name)]
    pub name: String,

    /// Which host
    #[arg(value_enum)]
    pub side: SideArg,

    /// Run CMD under `mptcpize-rs run`, with the run options given here
    #[arg(long)]
    pub mptcp: bool,

    /// (with --mptcp) run's -d
    #[arg(short, long, requires = "mptcp")]
    pub debug: bool,

    /// (with --mptcp) run's --engine
    #[arg(long, value_enum, value_name = "ENGINE", requires = "mptcp")]
    pub engine: Option<EngineArg>,

    /// (with --mptcp) run's --require-mptcp
    #[arg(long, requires = "mptcp")]
    pub require_mptcp: bool,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// The command and its arguments, after --
    #[arg(value_name = "CMD", required = true, last = true)]
    pub command: Vec<OsString>,
}

impl ExecArgs {
    pub fn request(&self) -> Result<ExecRequest, String> {
        let mut options: Vec<OsString> = Vec::new();
        if self.debug {
            options.push("-d".into());
        }
        if let Some(engine) = self.engine {
            let value = engine.to_possible_value().expect("no hidden engine");
            options.push("--engine".into());
            options.push(value.get_name().into());
        }
        if self.require_mptcp {
            options.push("--require-mptcp".into());
        }
        let rules = &self.rules;
        for (flag, on) in [
            ("--loopback", rules.loopback),
            ("--no-listen", rules.no_listen),
        ] {
            if on {
                options.push(flag.into());
            }
        }
        for (flag, values) in [
            ("--exclude", &rules.exclude),
            ("--exclude-port", &rules.exclude_port),
            ("--include", &rules.include),
            ("--include-port", &rules.include_port),
        ] {
            for value in values {
                options.push(flag.into());
                options.push(value.into());
            }
        }
        if !self.mptcp && !options.is_empty() {
            return Err("rule options (--loopback, --exclude, ...) need --mptcp".into());
        }
        Ok(ExecRequest {
            name: self.name.clone(),
            side: match self.side {
                SideArg::Client => Side::Client,
                SideArg::Server => Side::Server,
            },
            mptcp: self.mptcp.then_some(options),
            command: self.command.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// The testnet
    #[arg(value_parser = plan::validate_name)]
    pub name: String,

    /// Path number (1 to 8)
    #[arg(value_name = "K",
          value_parser = clap::value_parser!(u8).range(1..=i64::from(plan::MAX_PATHS)))]
    pub path: u8,

    #[command(subcommand)]
    pub change: PathChangeArg,
}

#[derive(Debug, Subcommand)]
pub enum PathChangeArg {
    /// Take the link down at both ends (a pulled cable)
    Down,
    /// Bring it back
    Up,
    /// Reshape it to MBIT Mbit/s
    Rate {
        #[arg(value_parser = clap::value_parser!(u32).range(1..=10_000))]
        mbit: u32,
    },
}

impl PathArgs {
    pub fn change(&self) -> PathChange {
        match self.change {
            PathChangeArg::Down => PathChange::Down,
            PathChangeArg::Up => PathChange::Up,
            PathChangeArg::Rate { mbit } => PathChange::Rate(mbit),
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The testnet
    #[arg(value_parser = plan::validate_name)]
    pub name: String,

    /// One JSON document (paths, subflows) instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The testnet
    #[arg(value_parser = plan::validate_name, required_unless_present = "all",
          conflicts_with = "all")]
    pub name: Option<String>,

    /// Every testnet (mpz-*-client/-server), also those left by a killed
    /// process
    #[arg(long)]
    pub all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::cli::tests::parse;

    fn testnet(args: &[&str]) -> TestnetCommand {
        let mut all = vec!["testnet"];
        all.extend_from_slice(args);
        match parse(&all).expect("parses").command {
            Some(Command::Testnet(t)) => t.command,
            other => panic!("expected testnet, got {other:?}"),
        }
    }

    #[test]
    fn up_defaults_and_lists() {
        let TestnetCommand::Up(up) = testnet(&["up"]) else {
            panic!()
        };
        let request = up.request().unwrap();
        assert_eq!((request.name.as_str(), request.paths), ("mptcp", 2));
        assert_eq!(request.rates, [100, 100]);
        assert_eq!(request.delays, None);
        let TestnetCommand::Up(up) = testnet(&["up", "--paths", "3", "--rate", "10,20,30"]) else {
            panic!()
        };
        assert_eq!(up.request().unwrap().rates, [10, 20, 30]);
        let TestnetCommand::Up(up) = testnet(&["up", "--paths", "3", "--rate", "10,20"]) else {
            panic!()
        };
        assert!(up.request().is_err());
    }

    #[test]
    fn up_usage_errors() {
        for args in [
            &["testnet", "up", "--paths", "9"][..],
            &["testnet", "up", "--paths", "0"],
            &["testnet", "up", "--rate", "0"],
            &["testnet", "up", "--rate", "fast"],
            &["testnet", "up", "--name", "Bad_Name"],
            &["testnet", "up", "--name", "much-too-long-name"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn exec_passes_run_options() {
        let TestnetCommand::Exec(exec) = testnet(&[
            "exec",
            "ci",
            "server",
            "--mptcp",
            "--engine",
            "seccomp",
            "--exclude",
            "10.0.0.0/8",
            "--",
            "iperf3",
            "-s",
        ]) else {
            panic!()
        };
        let request = exec.request().unwrap();
        assert_eq!(request.side, Side::Server);
        let options = request.mptcp.unwrap();
        let text: Vec<_> = options.iter().map(|o| o.to_str().unwrap()).collect();
        assert_eq!(text, ["--engine", "seccomp", "--exclude", "10.0.0.0/8"]);
        assert_eq!(request.command, [OsString::from("iperf3"), "-s".into()]);

        let TestnetCommand::Exec(plain) = testnet(&["exec", "ci", "client", "--", "id", "-u"])
        else {
            panic!()
        };
        assert_eq!(plain.request().unwrap().mptcp, None);
        let TestnetCommand::Exec(rules) =
            testnet(&["exec", "ci", "client", "--loopback", "--", "id"])
        else {
            panic!()
        };
        assert!(rules.request().is_err());
        assert!(
            parse(&[
                "testnet", "exec", "ci", "client", "--engine", "seccomp", "--", "id"
            ])
            .is_err()
        );
        assert!(parse(&["testnet", "exec", "ci", "client"]).is_err());
    }

    #[test]
    fn path_and_down() {
        let TestnetCommand::Path(path) = testnet(&["path", "ci", "2", "rate", "30"]) else {
            panic!()
        };
        assert_eq!((path.path, path.change()), (2, PathChange::Rate(30)));
        let TestnetCommand::Path(path) = testnet(&["path", "ci", "1", "down"]) else {
            panic!()
        };
        assert_eq!(path.change(), PathChange::Down);
        let TestnetCommand::Down(down) = testnet(&["down", "--all"]) else {
            panic!()
        };
        assert!(down.all && down.name.is_none());
        assert!(parse(&["testnet", "down"]).is_err());
        assert!(parse(&["testnet", "down", "ci", "--all"]).is_err());
    }
}
