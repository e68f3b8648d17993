//! Issue 15, findings 1, 2 and part of 5: nothing another local user
//! controls makes a wrapped process, or `run` itself, write where it should
//! not. Each test replays the attack as the review found it and checks that
//! nothing is created, appended, mapped, followed or blocked on:
//!
//! - secure execution (a setuid-root program started by `nobody`, the shim
//!   in `/etc/ld.so.preload` of a private mount namespace: the host's file is
//!   never touched) reads no `MPTCPIZE_RS_*` variable: no log file, no
//!   report table;
//! - the `run --report` table is a sealed memfd on an inherited descriptor:
//!   a forged `MPTCPIZE_RS_REPORT` naming anything else is refused, and what
//!   a program does to the real one (truncate, raise the capacity, close
//!   the descriptor, open a file on its number) crashes nothing and writes
//!   nowhere else; no file is left behind, however PROG ends;
//! - `MPTCPIZE_RS_LOG` naming a FIFO, a symlink or a missing directory
//!   neither blocks nor is followed, and is said once on stderr;
//! - `run --report FILE` replaces a symlink planted at FILE instead of
//!   truncating its target.
//!
//! Most of these need root (a second user, setuid, mounts): the suite runs
//! as root; a missing tool or capability fails with what is missing.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mptcpize_contract::env;
use mptcpize_rs::run::report::Table;
use mptcpize_rs::run::report::layout::{CAPACITY_AT, HEADER, MAGIC, SLOT};
use mptcpize_rs_tests::json::{array_at, parse, str_at, u64_at};
use mptcpize_rs_tests::*;

/// The attacker.
const NOBODY: u32 = 65534;
/// Where the shim finds the report table (the launcher's floor).
const TABLE_FD: RawFd = mptcpize_rs::run::report::TABLE_FD_FLOOR;
/// A wrapped program that is not blocked finishes in well under this.
const QUICK: Duration = Duration::from_secs(10);

/// A C program that opens one TCP socket and says what it got, and who it
/// runs as: `protocol P euid E uid U`.
const PROBE_C: &str = r#"
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0), p = -1;
    socklen_t len = sizeof p;
    getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &p, &len);
    printf("protocol %d euid %d uid %d\n", p, (int)geteuid(), (int)getuid());
    return 0;
}
"#;

/// `cmd` without any of the shim's variables from the host.
fn plain(cmd: &mut Command) -> &mut Command {
    clean_env(cmd);
    cmd
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A directory where a setuid program works and `nobody` can reach it:
/// the temporary directory, unless it is mounted nosuid or not searchable
/// by others, then one under the target directory.
fn setuid_dir(tag: &str) -> SetuidDir {
    let candidates = [std::env::temp_dir(), target_dir().join("setuid-tests")];
    for base in &candidates {
        let _ = fs::create_dir_all(base);
        if !allows_setuid(base) || !searchable_by_others(base) {
            continue;
        }
        let path = base.join(format!("mpz-hardening-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        chmod(&path, 0o755);
        return SetuidDir(path);
    }
    panic!(
        "missing prerequisite: a directory on a filesystem mounted without nosuid that \
         user nobody can search (tried {candidates:?}); set TMPDIR to one"
    );
}

fn allows_setuid(dir: &Path) -> bool {
    let path = std::ffi::CString::new(path_str(dir)).unwrap();
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs fills `st` when it returns 0.
    if unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statvfs succeeded.
    unsafe { st.assume_init() }.f_flag & libc::ST_NOSUID == 0
}

fn searchable_by_others(dir: &Path) -> bool {
    dir.ancestors()
        .all(|d| fs::metadata(d).is_ok_and(|m| m.mode() & 0o001 != 0))
}

/// Removed with its contents on drop.
struct SetuidDir(PathBuf);

impl SetuidDir {
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for SetuidDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Compiles `PROBE_C` into `dir/probe`, and a setuid-root copy
/// `dir/probe-suid`.
fn probes(dir: &SetuidDir) -> (PathBuf, PathBuf) {
    require_program("cc");
    let source = dir.join("probe.c");
    fs::write(&source, PROBE_C).unwrap();
    let probe = dir.join("probe");
    let mut cc = Command::new("cc");
    cc.arg("-o").arg(&probe).arg(&source);
    run_timeout(&mut cc, Duration::from_secs(120)).success();
    let suid = dir.join("probe-suid");
    fs::copy(&probe, &suid).unwrap();
    chown(&suid, 0, 0);
    chmod(&suid, 0o4755);
    (probe, suid)
}

/// `inner` in a private mount namespace whose /etc is an overlay with an
/// `ld.so.preload` naming the shim: every program started there loads it,
/// setuid ones too, as with the shim installed in the host's file. The
/// host's /etc is never written (the overlay's upper layer is in `dir`).
fn with_preload_file(dir: &SetuidDir, tag: &str, inner: &[OsString]) -> Command {
    require_program("unshare");
    require_program("mount");
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    assert!(
        filesystems.contains("overlay"),
        "missing prerequisite: overlayfs (modprobe overlay), to give /etc an \
         ld.so.preload in a private mount namespace only"
    );
    let layers = dir.join(&format!("etc-{tag}"));
    fs::create_dir(&layers).unwrap();
    let script = r#"set -e
mkdir "$1/upper" "$1/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
printf '%s\n' "$2" > /etc/ld.so.preload
shift 2
exec "$@""#;
    let mut cmd = Command::new("unshare");
    plain(&mut cmd);
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .arg(&layers)
    .arg(shim())
    .args(inner);
    cmd
}

/// `setpriv` to nobody, then `env -i VARS... PROG`: the variables reach
/// PROG alone (the tools on the way load the shim too).
fn as_nobody(vars: &[(&str, &str)], program: &Path) -> Vec<OsString> {
    require_program("setpriv");
    let mut args = vec![OsString::from("setpriv")];
    args.extend(SETPRIV_NOBODY.map(OsString::from));
    args.extend(["env", "-i"].map(OsString::from));
    args.extend(vars.iter().map(|(k, v)| OsString::from(format!("{k}={v}"))));
    args.push(program.into());
    args
}

/// `env -i VARS... PROG`, as root.
fn as_root(vars: &[(&str, &str)], program: &Path) -> Vec<OsString> {
    let mut args = vec![OsString::from("env"), OsString::from("-i")];
    args.extend(vars.iter().map(|(k, v)| OsString::from(format!("{k}={v}"))));
    args.push(program.into());
    args
}

/// A root-only directory with a root-only file in it, as the attacker's
/// targets.
fn root_only(dir: &SetuidDir) -> (PathBuf, PathBuf) {
    let secret = dir.join("secret");
    fs::create_dir(&secret).unwrap();
    chmod(&secret, 0o700);
    let existing = secret.join("existing");
    fs::write(&existing, "root's data\n").unwrap();
    chmod(&existing, 0o600);
    (secret, existing)
}

/// Finding 2, log: as nobody, `MPTCPIZE_RS_LOG` pointing into a root-only
/// directory made a setuid-root program create a root-owned file there,
/// and append to a root-only file. Now the setuid program converts its
/// socket and reads no variable: nothing is created or appended, nothing
/// is printed. The same program without setuid, as root, does log there:
/// the setup would have shown the attack.
#[test]
fn secure_execution_ignores_the_log_variable() {
    require_root("a setuid-root program, a second user and a private mount namespace");
    require_mptcp();
    let dir = setuid_dir("log");
    let (probe, suid) = probes(&dir);
    let (secret, existing) = root_only(&dir);
    let created = secret.join("created.log");
    let attack = |tag: &str, log: &Path| {
        let vars = [
            (env::LOG.name(), path_str(log)),
            (env::DEBUG.name(), "1"),
            (env::RULES.name(), "not rules at all"),
        ];
        let mut cmd = with_preload_file(&dir, tag, &as_nobody(&vars, &suid));
        run_timeout(&mut cmd, SHORT)
    };
    for (tag, log) in [("create", &created), ("append", &existing)] {
        let out = attack(tag, log);
        out.success();
        assert_eq!(
            out.stdout.trim(),
            "protocol 262 euid 0 uid 65534",
            "the setuid program ran with the shim, as root for nobody\n{out}"
        );
        assert!(
            !created.exists(),
            "no file was created in the root-only directory\n{out}"
        );
        assert_eq!(
            fs::read_to_string(&existing).unwrap(),
            "root's data\n",
            "nothing appended to root's file\n{out}"
        );
        assert_eq!(
            fs::read_dir(&secret).unwrap().count(),
            1,
            "nothing else appeared in {}\n{out}",
            secret.display()
        );
        assert!(
            !out.stderr.contains("mptcpize-rs"),
            "no debug line, no notice under secure execution\n{out}"
        );
    }

    let control = secret.join("control.log");
    let vars = [(env::LOG.name(), path_str(&control))];
    let mut cmd = with_preload_file(&dir, "control", &as_root(&vars, &probe));
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    let text = fs::read_to_string(&control).unwrap_or_default();
    assert!(
        text.contains("converted to MPTCP"),
        "without secure execution the same setup logs (control):\n{text}\n{out}"
    );
}

/// Finding 2, report: as nobody, `MPTCPIZE_RS_REPORT` made a setuid-root
/// program map and write a table of the caller's choosing. The table here
/// is a perfectly good one (root's own, as a root `run --report` leaves it
/// to its tree), inherited on its descriptor: under secure execution the
/// shim must not even look at it. Without setuid it would count.
#[test]
fn secure_execution_ignores_the_report_variable() {
    require_root("a setuid-root program, a second user and a private mount namespace");
    require_mptcp();
    let dir = setuid_dir("report");
    let (probe, suid) = probes(&dir);
    let run = |tag: &str, inner: Inner| {
        let table = Table::create().unwrap();
        let value = table.env_value().into_string().unwrap();
        let mut cmd = with_preload_file(&dir, tag, &inner(&[(env::REPORT.name(), &value)]));
        inherit(&mut cmd, table.fd());
        let out = run_timeout(&mut cmd, SHORT);
        out.success();
        (out, table.read().unwrap())
    };
    let (out, report) = run("attack", &|vars| as_nobody(vars, &suid));
    assert_eq!(out.stdout.trim(), "protocol 262 euid 0 uid 65534", "{out}");
    assert_eq!(
        report.processes,
        vec![],
        "the setuid program counted nothing"
    );
    assert_eq!(report.unrecorded, 0, "and claimed no slot");

    let (out, report) = run("control", &|vars| as_root(vars, &probe));
    assert!(out.stdout.starts_with("protocol 262"), "{out}");
    let programs: Vec<&str> = report
        .processes
        .iter()
        .map(|p| p.program.as_str())
        .collect();
    assert_eq!(
        programs,
        ["probe"],
        "without secure execution it counts (control)"
    );
    assert_eq!(report.processes[0].counts.converted, 1);
}

/// The command line run in the namespace, given PROG's variables.
type Inner<'a> = &'a dyn Fn(&[(&str, &str)]) -> Vec<OsString>;

/// `fd` stays open, at the same number, in the program `cmd` starts.
fn inherit(cmd: &mut Command, fd: RawFd) {
    // SAFETY: only fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
}

/// `source` on descriptor `TABLE_FD` in the program `cmd` starts.
fn on_table_fd(cmd: &mut Command, source: RawFd) {
    // SAFETY: only dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(source, TABLE_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
}

fn inode(fd: RawFd) -> u64 {
    // SAFETY: a borrowed descriptor of ours, only for fstat.
    let file = std::mem::ManuallyDrop::new(unsafe { fs::File::from_raw_fd(fd) });
    file.metadata().unwrap().ino()
}

/// `mptcpize-rs run sockprobe sockets` (no --report) with an inherited
/// `MPTCPIZE_RS_REPORT=VALUE`, as a daemon left behind by a reported run
/// would have it; `setup` puts a descriptor in place.
fn wrapped_probe(value: &str, setup: impl FnOnce(&mut Command)) -> CmdOutput {
    let mut cmd = launch(["run".as_ref(), sockprobe().as_os_str(), "sockets".as_ref()]);
    plain(&mut cmd).env(env::REPORT.name(), value);
    setup(&mut cmd);
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    assert_eq!(
        probe_protocol(&out.stdout, "tcp4"),
        MPTCP,
        "runs normally\n{out}"
    );
    out
}

/// Bytes that look like a table of 4 slots: magic, capacity, exact size.
fn table_lookalike() -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER + 4 * SLOT];
    bytes[..8].copy_from_slice(&MAGIC);
    bytes[CAPACITY_AT..CAPACITY_AT + 4].copy_from_slice(&4u32.to_ne_bytes());
    bytes
}

/// Finding 1: another user recreated the table a left-behind daemon's
/// variable named, with a capacity of their choosing, and the root daemon
/// mapped it. With the memfd there is no path; what remains is a variable
/// naming a descriptor, and whatever sits on that number must be refused
/// unless it is the sealed table itself: a file that looks like a table
/// (right magic and size, right inode in the variable), a pipe, a sealed
/// table owned by another user, an unsealed memfd, a real table under
/// another inode. The program runs normally and none of them is written.
#[test]
fn report_variable_naming_anything_but_our_table_is_refused() {
    require_root("chown of a table to another user");
    require_mptcp();
    let tmp = TempDir::new("forged-table");

    // An ordinary file with a table's magic and size.
    let path = tmp.join("lookalike");
    fs::write(&path, table_lookalike()).unwrap();
    chmod(&path, 0o600);
    let file = fs::File::options()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let value = format!("{TABLE_FD}:{}", inode(file.as_raw_fd()));
    wrapped_probe(&value, |cmd| on_table_fd(cmd, file.as_raw_fd()));
    assert!(
        fs::read(&path).unwrap() == table_lookalike(),
        "the file is untouched"
    );

    // A pipe (reading it would block; writing would reach whoever reads).
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    assert_eq!(rc, 0);
    // SAFETY: both are ours from here on.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let value = format!("{TABLE_FD}:{}", inode(writer.as_raw_fd()));
    wrapped_probe(&value, |cmd| on_table_fd(cmd, writer.as_raw_fd()));
    drop(writer);
    let mut got = Vec::new();
    let _ = fs::File::from(reader).read_to_end(&mut got);
    assert_eq!(got, b"", "nothing was written into the pipe");

    // A sealed table, but another user's.
    let theirs = Table::create().unwrap();
    // SAFETY: fchown on the table's descriptor.
    assert_eq!(unsafe { libc::fchown(theirs.fd(), NOBODY, NOBODY) }, 0);
    let value = theirs.env_value().into_string().unwrap();
    wrapped_probe(&value, |cmd| theirs.pass_to(cmd));
    assert_eq!(
        theirs.read().unwrap().processes,
        vec![],
        "nobody's table is not mapped"
    );

    // A memfd with the right header and size that could still shrink.
    let unsealed = unsealed_memfd(&table_lookalike());
    let value = format!("{TABLE_FD}:{}", inode(unsealed.as_raw_fd()));
    wrapped_probe(&value, |cmd| on_table_fd(cmd, unsealed.as_raw_fd()));
    let mut now = vec![0u8; table_lookalike().len()];
    std::os::unix::fs::FileExt::read_exact_at(&unsealed, &mut now, 0).unwrap();
    assert!(now == table_lookalike(), "the unsealed memfd is untouched");

    // Our own table, named with another inode.
    let table = Table::create().unwrap();
    let wrong = format!("{}:{}", table.fd(), inode(table.fd()) + 1);
    wrapped_probe(&wrong, |cmd| inherit(cmd, table.fd()));
    assert_eq!(table.read().unwrap().processes, vec![]);
    // ... and named right: counted (the control).
    let value = table.env_value().into_string().unwrap();
    wrapped_probe(&value, |cmd| inherit(cmd, table.fd()));
    let report = table.read().unwrap();
    assert_eq!(report.processes.len(), 1, "{report:?}");
    assert!(report.processes[0].counts.converted >= 6, "{report:?}");
}

fn unsealed_memfd(contents: &[u8]) -> fs::File {
    // SAFETY: memfd_create with a NUL-terminated name; the result is ours.
    let fd = unsafe { libc::memfd_create(c"lookalike".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: as above.
    let file = unsafe { fs::File::from_raw_fd(fd) };
    std::os::unix::fs::FileExt::write_all_at(&file, contents, 0).unwrap();
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .unwrap();
    file
}

/// Finding 1, from inside the tree: a program truncating the table (a
/// mapped file cut short gave SIGBUS), raising its capacity after the
/// others attached (they wrote past the mapping), closing its descriptor
/// (closefrom) or opening a file on that number. None crashes anything,
/// nothing is written into the file, and the report still comes out.
#[test]
fn report_table_survives_what_the_tree_does_to_it() {
    require_mptcp();
    require_program("bash");
    let python3 = require_program("python3");
    let tmp = TempDir::new("table-tree");
    let report = tmp.join("report.json");
    let reused = tmp.join("reused-number");
    // $1 sockprobe, $2 the file put on the table's number, $3 python3,
    // $4 where sockprobe's output goes (builtins only, besides those).
    let script = r#"
"$1" sockets > "$4/before"
"$3" -c '
import os, socket, struct
fd = int(os.environ["MPTCPIZE_RS_REPORT"].split(":")[0])
try:
    os.ftruncate(fd, 0)
    print("TRUNCATED")
except OSError as e:
    print("truncate refused", e.errno)
# capacity 4294967295, next free slot 4095 of the real 4096
os.pwrite(fd, struct.pack("=II", 0xFFFFFFFF, 4095), 8)
kids = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        socket.socket().close()
        os._exit(0)
    kids.append(pid)
bad = [s for s in (os.waitpid(k, 0)[1] for k in kids) if s != 0]
print("children", "ok" if not bad else bad)
'
exec 960>&-
"$1" sockets > "$4/closed"
exec 960>"$2"
"$1" sockets > "$4/reused"
echo done
"#;
    let mut cmd = launch([
        "run",
        "--report",
        path_str(&report),
        "--",
        "bash",
        "-c",
        script,
        "bash",
    ]);
    plain(&mut cmd)
        .arg(sockprobe())
        .arg(&reused)
        .arg(&python3)
        .arg(tmp.path());
    let out = run_timeout(&mut cmd, SHORT);
    out.success();
    assert!(
        out.stdout.contains("truncate refused 1\n"),
        "the sealed table cannot shrink (EPERM)\n{out}"
    );
    assert!(
        out.stdout.contains("children ok\n"),
        "no child crashed\n{out}"
    );
    for name in ["before", "closed", "reused"] {
        assert_eq!(
            probe_protocol(&tmp.read_text(name), "tcp4"),
            MPTCP,
            "{name}\n{out}"
        );
    }
    assert_eq!(
        fs::read(&reused).unwrap(),
        b"",
        "nothing written into the file on 960"
    );
    let json = fs::read_to_string(&report).unwrap();
    let d = parse(&json);
    // Only the sockprobe run before the descriptor was closed counted; the
    // children past the real capacity are unrecorded, not written.
    let sockprobes = array_at(&d, "/processes")
        .iter()
        .filter(|p| str_at(p, "/program") == "sockprobe")
        .count();
    assert_eq!(sockprobes, 1, "{json}");
    assert!(u64_at(&d, "/unrecorded_processes") >= 7, "{json}");
}

/// Finding 1: the table was left in $TMPDIR when PROG died of a signal.
/// Now there is no file at all, whatever way PROG ends.
#[test]
fn report_table_leaves_nothing_behind() {
    let tmp = TempDir::new("table-left");
    let tmpdir = tmp.join("tmpdir");
    fs::create_dir(&tmpdir).unwrap();
    let report = tmp.join("report.json");
    for script in ["exit 0", "exit 3", "kill -KILL $$", "kill -TERM $$"] {
        let mut cmd = launch(["run", "--report", path_str(&report), "sh", "-c", script]);
        plain(&mut cmd).env("TMPDIR", &tmpdir);
        let out = run_timeout(&mut cmd, SHORT);
        parse(&fs::read_to_string(&report).unwrap());
        let left: Vec<_> = fs::read_dir(&tmpdir).unwrap().collect();
        assert!(left.is_empty(), "{script}: left {left:?}\n{out}");
        let entries: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries.len(), 2, "{script}: only the report: {entries:?}");
    }
}

/// Finding 5, log: `MPTCPIZE_RS_LOG` naming a FIFO hung every wrapped
/// program until someone read it; a path that could not be opened turned
/// logging off without a word. Now: no wait (bounded here), nothing written
/// into a FIFO that has a reader, a symlink is not followed, and each
/// refusal is said once on stderr, where `-d` lines then go; with either
/// engine.
#[test]
fn log_that_is_a_fifo_a_symlink_or_missing_never_blocks_or_is_followed() {
    require_mptcp();
    let tmp = TempDir::new("log-fifo");
    let fifo = tmp.join("fifo");
    let c_fifo = std::ffi::CString::new(path_str(&fifo)).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    let target = tmp.join("target");
    fs::write(&target, "keep\n").unwrap();
    let link = tmp.join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    // Both engines: the shim opens the log in each process, the seccomp
    // supervisor once; the same rules and the same notice.
    let run_with_log = |engine: &[&str], log: &Path| {
        let mut cmd = launch(["run", "-d"]);
        cmd.args(engine).arg(sockprobe()).arg("sockets");
        plain(&mut cmd).env(env::LOG.name(), log);
        let out = run_timeout(&mut cmd, QUICK);
        out.success();
        assert_eq!(probe_protocol(&out.stdout, "tcp4"), MPTCP, "{out}");
        let notices: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("mptcpize-rs: cannot log to MPTCPIZE_RS_LOG: "))
            .collect();
        assert_eq!(notices.len(), 1, "one notice\n{out}");
        assert!(
            shim_lines(&out.stderr)
                .iter()
                .any(|l| l.contains("converted to MPTCP")),
            "-d lines go to stderr instead\n{out}"
        );
        notices[0].to_string()
    };
    let run = |log: &Path| {
        let shim = run_with_log(&[], log);
        let seccomp = run_with_log(&["--engine", "seccomp"], log);
        assert_eq!(shim, seccomp, "both engines say the same");
        shim
    };

    // No reader: open(2) would have waited for one.
    let notice = run(&fifo);
    assert!(notice.contains("FIFO without a reader"), "{notice}");

    // A reader that never reads: opens, but is refused as not a file.
    let reader = fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let notice = run(&fifo);
    assert!(
        notice.contains("not a regular file or a terminal"),
        "{notice}"
    );
    let mut got = Vec::new();
    let _ = (&reader).read_to_end(&mut got);
    assert_eq!(got, b"", "nothing written into the FIFO");

    let notice = run(&link);
    assert!(notice.contains("symbolic link"), "{notice}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");

    let notice = run(&tmp.join("no-such-dir/x.log"));
    assert!(notice.contains("errno 2"), "{notice}");
}

/// Finding 5, `--report FILE`: with FILE a symlink another user planted in
/// a directory they can write, a root `run --report` truncated and wrote
/// the link's target. Now the link is replaced by the report, the target
/// is untouched, and nothing else is left in the directory; with both
/// engines.
#[test]
fn report_file_symlink_is_replaced_not_followed() {
    require_root("a directory and a symlink owned by another user");
    let dir = setuid_dir("report-link");
    let (_, precious) = root_only(&dir);
    let theirs = dir.join("theirs");
    fs::create_dir(&theirs).unwrap();
    chown(&theirs, NOBODY, NOBODY);
    let report = theirs.join("report.json");
    for engine in ["preload", "seccomp"] {
        let mut plant = Command::new(require_program("setpriv"));
        plant
            .args(SETPRIV_NOBODY)
            .args(["ln", "-sfn"])
            .arg(&precious)
            .arg(&report);
        run_timeout(&mut plant, SHORT).success();
        assert!(
            fs::symlink_metadata(&report)
                .unwrap()
                .file_type()
                .is_symlink()
        );

        let mut cmd = launch([
            "run",
            "--engine",
            engine,
            "--report",
            path_str(&report),
            "--",
        ]);
        plain(&mut cmd).arg(sockprobe()).arg("sockets");
        let out = run_timeout(&mut cmd, SHORT);
        out.success();
        assert_eq!(
            fs::read_to_string(&precious).unwrap(),
            "root's data\n",
            "{engine}: the link's target is untouched\n{out}"
        );
        let meta = fs::symlink_metadata(&report).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{engine}: the link was replaced\n{out}"
        );
        assert_eq!(meta.uid(), 0);
        parse(&fs::read_to_string(&report).unwrap());
        let entries: Vec<_> = fs::read_dir(&theirs).unwrap().collect();
        assert_eq!(
            entries.len(),
            1,
            "{engine}: only the report in {}",
            theirs.display()
        );
    }
}
