//! `check` and `inspect`.

use clap::Args;

pub(super) const CHECK_AFTER_HELP: &str = "\
Looks at the current network namespace: kernel support, net.mptcp.enabled,
the path manager and scheduler, the path manager's limits and endpoints (read
over generic netlink, like `ip mptcp`), and opens an MPTCP connection over
127.0.0.1 to see that it stays MPTCP. Also says which engines `run` can use
(the LD_PRELOAD shim, seccomp), and which systemd this host has: its version
(from `systemctl --version`, no D-Bus), whether it runs here, and whether its
.socket units take SocketProtocol=mptcp (systemd 257 or later; unknown when
systemd is not installed or not running). In --json: the \"systemd\" object
{installed, version, version_text, running, socket_protocol_mptcp, error}.
Each finding is ok, warning or error, with the command that fixes it.

Exit status: 0 when MPTCP can work here (warnings allowed, for example
\"connections will use one path\"), 1 when it cannot.

EXAMPLES:
  mptcpize-rs check
  mptcpize-rs check --json
  sudo ip netns exec NS mptcpize-rs check     another network namespace";

pub(super) const INSPECT_AFTER_HELP: &str = "\
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
    use crate::cli::Command;
    use crate::cli::tests::parse;

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
