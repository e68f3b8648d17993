//! `enable`, `disable` and `status`: which unit, in which scope.

use std::path::PathBuf;

use clap::Args;

use super::RuleArgs;
use super::run::EngineArg;
use crate::rules::RuleOptions;
use crate::systemd::UnitRequest;
use crate::systemd::status::StatusRequest;

pub(super) const ENABLE_AFTER_HELP: &str = "\
Writes one drop-in, /etc/systemd/system/UNIT.d/zz-mptcpize-rs.conf (with
--user: ~/.config/systemd/user/UNIT.d/), that sets LD_PRELOAD to the shim
and adds multipathtcp=1 to GODEBUG. Preload libraries and Go settings the
unit already has (in its unit file or other drop-ins) are kept in the merged
values. The unit file and every other setting stay untouched, so package
upgrades keep the change; `disable` removes exactly this file.

The connection rules are those of `run` (see `mptcpize-rs run --help`):
loopback connections stay plain TCP unless --loopback; --exclude, --include,
their -port forms and --no-listen go into the drop-in as MPTCPIZE_RS_RULES
(with either engine: the shim reads it, and so does the wrapping `run` of
the seccomp engine). Enabling again with other rules (or none) replaces
them.

UNIT is a name as systemctl takes it: web, web.service, app@.service (all
instances), app@8081.service (one instance), or a socket, web.socket.

Engines: a static or Go daemon never reads LD_PRELOAD. --engine auto (the
default) reads the unit's ExecStart= binaries (inside --root too) as run
does: when one is statically linked or a Go program, the drop-in instead
replaces ExecStart= with the same lines run by `mptcpize-rs run --keep-pid
--engine auto --`: the program keeps systemd's main PID, so Type= (notify
with NotifyAccess=main too), PIDFile=, ExecReload=, ExecStop=, KillMode= and
the exit status keep their meaning. Prefixes (-, :, +, !, !!) are kept, @
becomes --argv0=, the arguments are copied as written, and a bare program
name gets its full path from systemd's search path. What would not read the
same once wrapped is refused, nothing written (a quoted or escaped first
word, a `;` word, RootDirectory=, ExecSearchPath=, a later drop-in setting
ExecStart=; the README lists them). --engine seccomp forces this, --engine
preload the environment drop-in. For a system service the launcher (and
with auto the shim) must be root's, like the shim (below).

Socket activation: for a service started by a .socket unit, systemd creates
the listener and passes it to the service, so the shim never sees it: the
listener stays TCP (the sockets the service opens itself become MPTCP).
`enable NAME.service` says so when a NAME.socket (or, for app@.service, an
Accept=yes app.socket) or the service's Sockets= activates it. `enable
NAME.socket` writes UNIT.d/zz-mptcpize-rs.conf with [Socket]
SocketProtocol=mptcp, so that systemd creates the listener as MPTCP; it needs
systemd 257 or later where the drop-in is read (systemctl --version; with
--root, the image's libsystemd-shared-NNN.so) and is refused (exit 1, nothing
written) on an older one; when the version cannot be told, --force writes it
anyway. A socket with only Unix listeners (ListenStream=/path) is refused.
To apply it, the socket must restart while its service is stopped (systemd
refuses to restart a socket whose service runs): --now stops the services it
triggers and restarts the socket; the service starts again on the next
connection. Connection rules do not apply to a socket.

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

--dry-run writes nothing and prints \"Would write PATH:\" then the file's exact
content. With --json it prints one JSON array instead, one object per file,
for configuration management (Ansible, Puppet, NixOS) to write the same file
on other hosts:
  [{\"path\": \"/etc/systemd/system/web.service.d/zz-mptcpize-rs.conf\",
    \"host_path\": PATH (with --root: where it is in DIR), \"mode\": \"0644\",
    \"content\": TEXT, \"unchanged\": bool (the file there already has it)}]

EXAMPLES:
  sudo mptcpize-rs enable nginx --now
  sudo mptcpize-rs enable app@8081 --dry-run
  mptcpize-rs enable --root /mnt/image nginx --dry-run --json
  sudo mptcpize-rs enable postgresql --exclude 10.0.0.0/8 --now
  mptcpize-rs enable --user syncthing
  mptcpize-rs enable --root /mnt/image web.service
  sudo mptcpize-rs enable ssh.socket      systemd 257 or later
  sudo mptcpize-rs enable --engine seccomp my-go-daemon --now";

pub(super) const STATUS_AFTER_HELP: &str = "\
Says whether UNIT is enabled and where its drop-in is, and whether the
drop-in still matches the unit's environment. When systemd runs the unit, it
also checks the main process: whether the shim is really loaded (with the
seccomp engine: whether it runs under the filter), and how many of its
TCP-family sockets are MPTCP (reading them needs root).

Without UNIT, lists every unit that has the mptcpize-rs drop-in
(zz-mptcpize-rs.conf in any unit drop-in directory systemd reads: under
/etc/systemd/system, /run/systemd/system, /usr/lib/systemd/system, ...; with
--user, the user's unit directories; with --root, inside DIR), each with its
state: current, out of date (enable would now write something else: run
enable again), masked, its unit file missing, or a drop-in that enable did
not write there (a shared directory such as service.d/, or another unit
directory); its rules; and, when systemd runs it, its main process. A
socket unit's drop-in (UNIT.socket.d/, from `enable NAME.socket`) is listed
the same way.

Exit status with UNIT: 0 enabled, 1 not enabled, 2 bad input.
Exit status without UNIT: 0 when every listed unit is current (also when no
unit is enabled: it says so), 1 when one is not, 2 bad input.

--json prints one document instead (the same with or without UNIT):
  {\"scope\": \"system\"|\"user\", \"root\": DIR|null, \"manager_running\": bool,
   \"all_current\": bool,
   \"units\": [{\"unit\": \"web.service\",
              \"state\": \"current\"|\"out-of-date\"|\"unchecked\"|\"masked\"|
                       \"unit-missing\"|\"not-enabled\"|\"elsewhere\"|\"unreadable\",
              \"dropin\": PATH, \"unit_file\": PATH|null, \"rules\": TEXT|null,
              \"detail\": TEXT|null, \"engine\": \"preload\"|\"seccomp\"|null,
              \"running\": null|{\"active_state\": \"active\", \"main_pid\": N|null,
                              \"shim_loaded\": bool|null (preload),
                              \"seccomp_filter\": bool|null (seccomp),
                              \"tcp_family_sockets\": N|null,
                              \"mptcp_sockets\": N|null, \"error\": TEXT|null}}]}
Every field is always present; unknown is null. The exit status is the same.

EXAMPLES:
  sudo mptcpize-rs status nginx
  sudo mptcpize-rs status                 every enabled unit on this host
  mptcpize-rs status --root /mnt/image --json";

// Where a unit lives: the running system, `--user`, or an offline `--root`.
// A plain comment: a doc comment here would become the `about` of every
// subcommand that flattens this, replacing theirs when they are built.
#[derive(Debug, Args)]
pub struct UnitScopeArgs {
    /// The unit: NAME or NAME.service, templates and instances too, or NAME.socket
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
    /// The unit (NAME, NAME.service or NAME.socket); without it, every unit with the drop-in
    #[arg(value_name = "UNIT")]
    pub unit: Option<String>,

    /// Your own user's systemd (~/.config/systemd/user)
    #[arg(long)]
    pub user: bool,

    /// Look in an offline tree or image mounted at DIR (like systemctl --root)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print one JSON document instead of text (schema below)
    #[arg(long)]
    pub json: bool,
}

impl StatusArgs {
    pub fn request(self) -> StatusRequest {
        StatusRequest {
            unit: self.unit,
            user: self.user,
            root: self.root,
            json: self.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    pub unit: UnitArgs,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// Use a shim that someone other than root could replace (with a warning);
    /// for a .socket, write it although systemd's version is unknown
    #[arg(long)]
    pub force: bool,

    /// With --dry-run: print [{"path", "content", ...}] as JSON, for tools
    #[arg(long, requires = "dry_run")]
    pub json: bool,

    /// How the service's sockets are reached: LD_PRELOAD, the seccomp engine
    /// (wraps ExecStart=), or chosen from the ExecStart= binary
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = EngineArg::Auto)]
    pub engine: EngineArg,
}

impl EnableArgs {
    pub fn request(self) -> UnitRequest {
        UnitRequest {
            force: self.force,
            rules: self.rules.options(),
            json: self.json,
            engine: self.engine.into(),
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
            json: false,
            engine: Default::default(),
        }
    }
}
