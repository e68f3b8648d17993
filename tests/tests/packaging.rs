//! Installing like a system tool: `make install` into a staged DESTDIR (the
//! staged binary finds the staged shim and converts sockets; man pages and
//! completions are there; `make uninstall` leaves nothing); `make deb`
//! installed, used and purged with dpkg inside a throwaway systemd container
//! over the cached Debian root (never on the host); `make rpm` installed
//! and erased with `rpm --root` in a temporary root; lintian and rpmlint
//! report nothing beyond the allowed lists in packaging/.
//!
//! The Makefile builds into its own target directories: the `make install`
//! tests into `TARGET/packaging` (the default directories, a static
//! launcher), the packages into `TARGET/packaging-dist` (the distributions'
//! library directories, a dynamic launcher). Sharing one would rebuild the
//! launcher back and forth, and `make install` would refuse a build made
//! for the other's directories. Each package is built once per test
//! process and shared by its tests.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use mptcpize_rs_tests::prereq::find_program;
use mptcpize_rs_tests::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
/// Bound for a linter's run over the packages.
const LINT_TIMEOUT: Duration = Duration::from_secs(300);
/// Where `make install PREFIX=/usr` puts the shim.
const INSTALL_SHIM: &str = "/usr/lib/mptcpize-rs/libmptcpize_preload.so";
/// Visible subcommands: each gets a man page and appears in the completions.
const SUBCOMMANDS: &[&str] = &[
    "run", "enable", "disable", "status", "demo", "check", "inspect", "testnet",
];

fn install_target_dir() -> PathBuf {
    target_dir().join("packaging")
}

fn dist_target_dir() -> PathBuf {
    target_dir().join("packaging-dist")
}

/// `make ARGS...` at the workspace root, into `target`; panics unless it
/// succeeds.
fn make_in(target: &Path, args: &[&str]) -> CmdOutput {
    let out = try_make_in(target, args);
    out.success();
    out
}

/// `make ARGS...` at the workspace root, into `target`; status not checked.
fn try_make_in(target: &Path, args: &[&str]) -> CmdOutput {
    require_program("make");
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(workspace_root())
        .arg("--no-print-directory")
        .args(args)
        .arg(format!("CARGO_TARGET_DIR={}", target.display()));
    run_timeout(&mut cmd, BUILD_TIMEOUT)
}

/// Every file and directory below `root`, relative, sorted (directories
/// end with `/`).
fn tree(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.insert(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn files_of(tree: BTreeSet<String>) -> BTreeSet<String> {
    tree.into_iter().filter(|p| !p.ends_with('/')).collect()
}

/// Where an installation puts what differs between `make install` and the
/// distributions (paths relative to `/`).
struct Layout {
    /// The shim's directory.
    pkglibdir: String,
    /// Below `usr/share/zsh/`.
    zsh_dir: &'static str,
    /// `.gz` when the man pages are compressed.
    man_suffix: &'static str,
    /// The licence texts' directory.
    licensedir: &'static str,
}

impl Layout {
    fn make_install() -> Layout {
        Layout {
            pkglibdir: "usr/lib/mptcpize-rs".to_string(),
            zsh_dir: "site-functions",
            man_suffix: "",
            licensedir: "usr/share/doc/mptcpize-rs",
        }
    }

    fn deb() -> Layout {
        Layout {
            pkglibdir: format!("usr/lib/{}/mptcpize-rs", deb_multiarch()),
            zsh_dir: "vendor-completions",
            man_suffix: ".gz",
            licensedir: "usr/share/doc/mptcpize-rs",
        }
    }

    fn rpm() -> Layout {
        Layout {
            pkglibdir: format!("{}/mptcpize-rs", rpm_libdir().trim_start_matches('/')),
            zsh_dir: "site-functions",
            man_suffix: ".gz",
            licensedir: "usr/share/licenses/mptcpize-rs",
        }
    }

    /// The shim's absolute path.
    fn shim(&self) -> String {
        format!("/{}/libmptcpize_preload.so", self.pkglibdir)
    }

    /// The files every installation has: launcher, shim, man pages,
    /// completions, README and licences.
    fn files(&self) -> BTreeSet<String> {
        let mut files: BTreeSet<String> = [
            "usr/bin/mptcpize-rs",
            "usr/share/bash-completion/completions/mptcpize-rs",
            "usr/share/fish/vendor_completions.d/mptcpize-rs.fish",
            "usr/share/doc/mptcpize-rs/README.md",
        ]
        .iter()
        .map(|f| f.to_string())
        .collect();
        files.insert(self.shim()[1..].to_string());
        files.insert(format!("{}/LICENSE-MIT", self.licensedir));
        files.insert(format!("{}/LICENSE-APACHE", self.licensedir));
        files.insert(format!("usr/share/zsh/{}/_mptcpize-rs", self.zsh_dir));
        let man = self.man_suffix;
        files.insert(format!("usr/share/man/man1/mptcpize-rs.1{man}"));
        for sub in SUBCOMMANDS {
            files.insert(format!("usr/share/man/man1/mptcpize-rs-{sub}.1{man}"));
        }
        files
    }
}

/// Debian's multiarch directory name, as `make deb` works it out.
fn deb_multiarch() -> String {
    static MULTIARCH: OnceLock<String> = OnceLock::new();
    MULTIARCH
        .get_or_init(|| {
            let out = match find_program("dpkg-architecture") {
                Some(tool) => run_timeout(Command::new(tool).arg("-qDEB_HOST_MULTIARCH"), SHORT),
                None => run_timeout(
                    Command::new(require_program("cc")).arg("-print-multiarch"),
                    SHORT,
                ),
            };
            let multiarch = out.success().stdout.trim().to_string();
            assert!(!multiarch.is_empty(), "no multiarch name:\n{out}");
            multiarch
        })
        .clone()
}

/// rpm's `%{_libdir}` here (`/usr/lib64` on x86_64).
fn rpm_libdir() -> String {
    let out = run_timeout(
        Command::new(require_program("rpm")).args(["--eval", "%{_libdir}"]),
        SHORT,
    );
    let libdir = out.success().stdout.trim().to_string();
    assert!(libdir.starts_with("/usr/"), "%{{_libdir}} = {libdir:?}");
    libdir
}

/// The roff source is a man page for the command and lists every visible
/// subcommand (and not the demo's hidden peer).
fn check_main_man_page(page: &Path) {
    let roff = fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    assert!(
        roff.lines().any(|l| l.starts_with(".TH MPTCPIZE-RS 1 ")),
        "{roff}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH FILES"] {
        assert!(roff.contains(section), "{section} missing:\n{roff}");
    }
    for sub in SUBCOMMANDS {
        assert!(
            roff.contains(&format!("mptcpize\\-rs\\-{sub}(1)")),
            "no {sub} in:\n{roff}"
        );
    }
    assert!(!roff.contains("demo\\-peer"), "{roff}");
    assert!(
        roff.contains(INSTALL_SHIM.replace('-', "\\-").as_str())
            && roff.contains("(../lib/mptcpize\\-rs/)"),
        "{roff}"
    );
    if find_program("man").is_some() {
        // man-db formats it as a reader would see it (warnings to stderr).
        let mut man = Command::new("man");
        man.arg("-l")
            .arg(page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8");
        let out = run_timeout(&mut man, SHORT);
        out.success();
        let text = out.stdout.replace("\u{2010}", "-");
        assert!(
            text.contains("SUBCOMMANDS") && text.contains("mptcpize-rs-enable(1)"),
            "{out}"
        );
        assert!(!out.stderr.contains("warning"), "{out}");
    }
}

fn check_completions(stage: &Path, zsh_dir: &str) {
    let share = stage.join("usr/share");
    let read =
        |rel: &str| fs::read_to_string(share.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let zsh = read(&format!("zsh/{zsh_dir}/_mptcpize-rs"));
    assert!(zsh.starts_with("#compdef mptcpize-rs"), "{zsh}");
    let fish = read("fish/vendor_completions.d/mptcpize-rs.fish");
    assert!(fish.contains("complete -c mptcpize-rs"), "{fish}");
    assert!(!zsh.contains("demo-peer") && !fish.contains("demo-peer"));
    for sub in SUBCOMMANDS {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh lacks {sub}");
        assert!(fish.contains(&format!(" -a \"{sub}\"")), "fish lacks {sub}");
    }
    // bash loads it, and completes a subcommand's options and values (what
    // clap_complete gets wrong for hyphenated names without gen's fix).
    let bash_file = share.join("bash-completion/completions/mptcpize-rs");
    let script = r#"set -e
source "$1"
fn=$(complete -p mptcpize-rs | sed 's/.*-F \([^ ]*\).*/\1/')
complete_words() {
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
    "$fn" mptcpize-rs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    echo "${COMPREPLY[*]}"
}
complete_words mptcpize-rs ''
complete_words mptcpize-rs run --en
complete_words mptcpize-rs run --engine ''
"#;
    let mut bash = Command::new("bash");
    bash.arg("-c").arg(script).arg("bash").arg(&bash_file);
    let out = run_timeout(&mut bash, SHORT);
    let lines: Vec<&str> = out.success().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for sub in SUBCOMMANDS {
        assert!(lines[0].split(' ').any(|w| w == *sub), "{out}");
    }
    assert!(!lines[0].contains("demo-peer"), "{out}");
    assert_eq!(lines[1], "--engine", "{out}");
    assert_eq!(lines[2], "auto preload seccomp", "{out}");
}

/// `LAUNCHER --version` with no shim override: its stdout.
/// `LAUNCHER run --engine preload sockprobe sockets` gets MPTCP sockets:
/// the launcher found its shim.
fn assert_runs_sockprobe_over_mptcp(launcher: &Path) {
    let mut probe = Command::new(launcher);
    clean_env(&mut probe);
    probe
        .args(["run", "--engine", "preload"])
        .arg(sockprobe())
        .arg("sockets");
    let out = run_timeout(&mut probe, SHORT);
    assert_eq!(
        probe_protocol(&out.success().stdout, "tcp4"),
        MPTCP,
        "{out}"
    );
}

fn version_of(launcher: &Path) -> String {
    let mut version = Command::new(launcher);
    version.arg("--version");
    clean_env(&mut version);
    run_timeout(&mut version, SHORT).success().stdout.clone()
}

#[test]
fn make_install_to_a_staged_destdir_then_uninstall() {
    require_mptcp();
    let target = install_target_dir();
    make_in(&target, &["PREFIX=/usr"]);
    let tmp = TempDir::new("make-install");
    let stage = tmp.join("stage");
    let destdir = format!("DESTDIR={}", stage.display());

    // A build is installed only with the directories it was made for.
    let out = try_make_in(&target, &["install", "PREFIX=/opt/mptcpize-rs", &destdir]);
    assert!(
        !out.status.success() && out.stderr.contains("the build is for BINDIR=/usr/bin"),
        "{out}"
    );
    assert!(
        !stage.exists(),
        "a refused install wrote {}",
        stage.display()
    );

    make_in(&target, &["install", "PREFIX=/usr", &destdir]);
    let files = files_of(tree(&stage));
    assert_eq!(files, Layout::make_install().files());
    let launcher = stage.join("usr/bin/mptcpize-rs");
    // make install's launcher is a static-pie executable (see the Makefile).
    assert!(!is_dynamically_linked(&launcher), "{}", launcher.display());

    // The staged binary finds the staged shim (relative layout).
    let staged_shim = stage.join(&INSTALL_SHIM[1..]).canonicalize().unwrap();
    assert_eq!(
        version_of(&launcher),
        format!("mptcpize-rs {VERSION}\nshim: {}\n", staged_shim.display()),
    );

    assert_runs_sockprobe_over_mptcp(&launcher);

    check_main_man_page(&stage.join("usr/share/man/man1/mptcpize-rs.1"));
    let run_page = fs::read_to_string(stage.join("usr/share/man/man1/mptcpize-rs-run.1")).unwrap();
    assert!(
        run_page.contains(".SH ENGINES") && run_page.contains("\\-\\-engine"),
        "{run_page}"
    );
    check_completions(&stage, "site-functions");

    make_in(&target, &["uninstall", "PREFIX=/usr", &destdir]);
    let left = tree(&stage);
    assert!(left.is_empty(), "left behind by uninstall: {left:?}");
}

/// `make deb`, once per test process: the .deb's path.
fn deb_package() -> PathBuf {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        require_program("dpkg-deb");
        let target = dist_target_dir();
        make_in(&target, &["deb"]);
        let arch = run_timeout(Command::new("dpkg").arg("--print-architecture"), SHORT)
            .success()
            .stdout
            .trim()
            .to_string();
        let deb = target
            .join("debian")
            .join(format!("mptcpize-rs_{VERSION}_{arch}.deb"));
        assert!(deb.is_file(), "{} missing after make deb", deb.display());
        deb
    })
    .clone()
}

/// The rpms `make rpm` made, once per test process.
struct Rpms {
    binary: PathBuf,
    source: PathBuf,
}

fn rpm_packages() -> &'static Rpms {
    static RPMS: OnceLock<Rpms> = OnceLock::new();
    RPMS.get_or_init(|| {
        require_program("rpmbuild");
        require_program("git");
        let target = dist_target_dir();
        let out = make_in(&target, &["rpm"]);
        // make rpm prints the paths of what it made (the release may carry
        // a dist tag: .fc41, .el9...).
        let made: Vec<PathBuf> = out
            .stdout
            .lines()
            .map(PathBuf::from)
            .filter(|p| p.starts_with(target.join("rpm")) && p.is_file())
            .collect();
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        let prefix = format!("mptcpize-rs-{VERSION}-1");
        let source: Vec<&PathBuf> = made
            .iter()
            .filter(|p| name(p).starts_with(&prefix) && name(p).ends_with(".src.rpm"))
            .collect();
        let binary: Vec<&PathBuf> = made
            .iter()
            .filter(|p| name(p).starts_with(&prefix) && !name(p).ends_with(".src.rpm"))
            .collect();
        assert!(
            source.len() == 1 && binary.len() == 1 && made.len() == 2,
            "make rpm did not make one binary and one source rpm:\n{out}"
        );
        Rpms {
            binary: binary[0].clone(),
            source: source[0].clone(),
        }
    })
}

/// Every path below `/` inside the container, but for the directories that
/// change under a running system (or hold dpkg's own records).
fn container_paths(container: &SystemdContainer) -> BTreeSet<String> {
    let script = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run \
                  -o -path /tmp -o -path /var/tmp -o -path /var/log -o -path /var/cache \
                  -o -path /var/lib/dpkg -o -path /var/lib/systemd -o -path /root \\) \
                  -prune -o -print";
    container
        .exec_ok(&["sh", "-c", script])
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

/// A real program over MPTCP: python3 connects to itself over loopback
/// (hence `--loopback`, which loopback needs to be MPTCP), then prints the
/// three sockets' protocols and whether the connection is still MPTCP
/// (`MPTCP_INFO`, level `SOL_MPTCP`, fails once it fell back to TCP).
const PYTHON_OVER_MPTCP: &str = r#"
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
cli = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()
cli.sendall(b"ping")
assert conn.recv(4) == b"ping"
protocols = [s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) for s in (srv, cli, conn)]
try:
    cli.getsockopt(284, 1, 256)
    state = "mptcp"
except OSError as e:
    state = "fell back to TCP: " + e.strerror
print(*protocols, state)
"#;

#[test]
fn deb_installs_works_and_purges_cleanly_in_a_clean_debian() {
    require_root("the package is installed in a systemd-nspawn container");
    let deb = deb_package();
    let layout = Layout::deb();
    let shim = layout.shim();

    let field = |name: &str| {
        let mut cmd = Command::new("dpkg-deb");
        cmd.arg("--field").arg(&deb).arg(name);
        run_timeout(&mut cmd, SHORT)
            .success()
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "mptcpize-rs");
    assert_eq!(field("Version"), VERSION);
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>= 2."), "Depends: {depends}");
    let mut contents = Command::new("dpkg-deb");
    contents.arg("--contents").arg(&deb);
    let listing = run_timeout(&mut contents, SHORT).success().stdout.clone();
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "not root-owned: {line}");
    }
    let mut control = Command::new("dpkg-deb");
    control.arg("--info").arg(&deb);
    let info = run_timeout(&mut control, SHORT).success().stdout.clone();
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        assert!(!info.contains(script), "unexpected {script}:\n{info}");
    }
    assert!(info.contains(" md5sums"), "no md5sums:\n{info}");

    let container = SystemdContainer::boot();
    container.install(&deb, "/root/mptcpize-rs.deb", 0o644);
    container.write(
        "/etc/systemd/system/web.service",
        "[Service]\nExecStart=/bin/sleep infinity\n",
    );
    let before = container_paths(&container);
    container
        .exec_timeout(
            &["dpkg", "-i", "/root/mptcpize-rs.deb"],
            Duration::from_secs(120),
        )
        .success();
    let installed = container_paths(&container);
    let added: BTreeSet<&String> = installed.difference(&before).collect();

    // What dpkg installed: exactly the expected files (and dpkg agrees).
    let listed = container.exec_ok(&["dpkg", "-L", "mptcpize-rs"]).stdout;
    let files: BTreeSet<String> = listed
        .lines()
        .filter(|p| p.starts_with("/usr/") && container.exec(&["test", "-f", p]).status.success())
        .map(|p| p[1..].to_string())
        .collect();
    let mut expected = layout.files();
    expected.insert("usr/share/doc/mptcpize-rs/changelog.gz".to_string());
    expected.insert("usr/share/doc/mptcpize-rs/copyright".to_string());
    assert_eq!(files, expected, "dpkg -L:\n{listed}");
    for file in &files {
        assert!(added.contains(&format!("/{file}")), "/{file} not new");
    }
    container.exec_ok(&["dpkg", "--verify", "mptcpize-rs"]);

    // The launcher finds the packaged shim with no environment variable.
    let version = container.exec_ok(&["mptcpize-rs", "--version"]);
    assert_eq!(
        version.stdout,
        format!("mptcpize-rs {VERSION}\nshim: {shim}\n"),
        "{version}"
    );
    let check = container.exec(&["mptcpize-rs", "check"]);
    check.expect_code(0);
    assert!(
        check.stdout.contains(&format!("preload: {shim}")) && !check.stdout.contains("[error]"),
        "{check}"
    );
    let python = container.exec_ok(&[
        "mptcpize-rs",
        "run",
        "--loopback",
        "python3",
        "-c",
        PYTHON_OVER_MPTCP,
    ]);
    assert_eq!(python.stdout.trim(), "262 262 262 mptcp", "{python}");

    container.daemon_reload();
    container.exec_ok(&["mptcpize-rs", "enable", "web.service"]);
    let dropin = container.read("/etc/systemd/system/web.service.d/zz-mptcpize-rs.conf");
    assert!(dropin.contains(&format!("LD_PRELOAD={shim}")), "{dropin}");
    let environment = container.unit_property("web.service", "Environment");
    assert!(
        environment.contains(&format!("LD_PRELOAD={shim}")),
        "{environment}"
    );
    container.start("web.service");
    let pid = container.unit_property("web.service", "MainPID");
    let maps = container.read(&format!("/proc/{pid}/maps"));
    assert!(maps.contains(&shim), "shim not loaded:\n{maps}");
    container.stop("web.service");
    container.exec_ok(&["mptcpize-rs", "disable", "web.service"]);

    container
        .exec_timeout(
            &["dpkg", "--purge", "mptcpize-rs"],
            Duration::from_secs(120),
        )
        .success();
    let purged = container_paths(&container);
    let left: Vec<&&String> = added.iter().filter(|p| purged.contains(**p)).collect();
    assert!(left.is_empty(), "left behind by dpkg --purge: {left:?}");
    let status = container.exec(&["dpkg-query", "-W", "-f=${Status}", "mptcpize-rs"]);
    assert!(
        !status.stdout.contains("installed") || status.stdout.contains("not-installed"),
        "{status}"
    );
}

/// `rpm --root ROOT --dbpath /var/lib/rpm ARGS...`; status not checked.
fn rpm_in(root: &Path, args: &[&str]) -> CmdOutput {
    let mut cmd = Command::new("rpm");
    cmd.arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"])
        .args(args);
    run_timeout(&mut cmd, Duration::from_secs(120))
}

/// What rpm itself puts in a root: its database, and the build-id links
/// it adds to packages with ELF files.
fn is_rpm_own(path: &str) -> bool {
    path.starts_with("var/lib/rpm/") || path.starts_with("usr/lib/.build-id/")
}

#[test]
fn rpm_builds_installs_into_a_root_and_erases_cleanly() {
    require_root("rpm installs as root, with a root-owned shim");
    require_mptcp();
    let rpms = rpm_packages();
    let layout = Layout::rpm();

    // The source rpm is the spec and the two source tarballs: what
    // rebuilding it needs, with no network.
    let out = run_timeout(Command::new("rpm").arg("-qlp").arg(&rpms.source), SHORT);
    let sources: BTreeSet<&str> = out.success().stdout.lines().collect();
    let expected_sources: BTreeSet<String> = [
        "mptcpize-rs.spec".to_string(),
        format!("mptcpize-rs-{VERSION}.tar.gz"),
        format!("mptcpize-rs-{VERSION}-vendor.tar.xz"),
    ]
    .into();
    assert_eq!(
        sources,
        expected_sources.iter().map(String::as_str).collect(),
        "{out}"
    );

    let out = run_timeout(Command::new("rpm").arg("-qlp").arg(&rpms.binary), SHORT);
    let listed: BTreeSet<String> = out
        .success()
        .stdout
        .lines()
        .map(|p| p.trim_start_matches('/').to_string())
        .filter(|p| !is_rpm_own(&format!("{p}/")))
        .collect();
    let files = layout.files();
    let own_dirs: BTreeSet<String> = [
        layout.pkglibdir.clone(),
        "usr/share/doc/mptcpize-rs".to_string(),
        layout.licensedir.to_string(),
    ]
    .into();
    assert_eq!(
        listed,
        files.union(&own_dirs).cloned().collect(),
        "rpm -qlp:\n{out}"
    );

    let root = TempDir::new("rpm-root");
    rpm_in(root.path(), &["--initdb"]).success();
    let empty = tree(root.path());
    // --nodeps: this root has no glibc package to satisfy libc.so.6.
    rpm_in(root.path(), &["-i", "--nodeps", path_str(&rpms.binary)]).success();
    let installed = tree(root.path());
    let added: BTreeSet<String> = files_of(installed.difference(&empty).cloned().collect())
        .into_iter()
        .filter(|p| !is_rpm_own(p))
        .collect();
    assert_eq!(added, files);
    rpm_in(root.path(), &["-q", "mptcpize-rs"]).success();

    // The distributions' launcher is dynamically linked (see the Makefile)
    // and finds the packaged shim with no environment variable: here
    // relative to itself, at its compiled-in directory once moved away.
    let launcher = root.join("usr/bin/mptcpize-rs");
    assert!(is_dynamically_linked(&launcher), "{}", launcher.display());
    let rooted_shim = root.join(&layout.shim()[1..]).canonicalize().unwrap();
    assert_eq!(
        version_of(&launcher),
        format!("mptcpize-rs {VERSION}\nshim: {}\n", rooted_shim.display())
    );
    let elsewhere = TempDir::new("rpm-launcher");
    let moved = elsewhere.join("mptcpize-rs");
    fs::copy(&launcher, &moved).unwrap();
    let version = version_of(&moved);
    assert!(
        version.ends_with(&format!(", {})\n", layout.shim())),
        "the compiled-in directory is not {}:\n{version}",
        layout.pkglibdir
    );

    assert_runs_sockprobe_over_mptcp(&launcher);
    let ns = netns(true);
    let mut check = ns.cmd(&launcher);
    clean_env(&mut check);
    let out = run_timeout(check.arg("check"), SHORT);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains(&format!("preload: {}", rooted_shim.display())),
        "{out}"
    );

    rpm_in(root.path(), &["-e", "mptcpize-rs"]).success();
    let left: Vec<String> = files_of(tree(root.path()))
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/rpm/"))
        .collect();
    assert!(left.is_empty(), "left behind by rpm -e: {left:?}");
    for dir in &own_dirs {
        assert!(!root.join(dir).exists(), "{dir} left behind by rpm -e");
    }
}

/// The findings a linter printed (`E:`/`W:` lines, as `keep` selects and
/// normalises them) compared with `packaging/ALLOWED`: any error, any
/// finding not listed and any listed finding no longer reported fail.
/// The version appears as `VERSION` in the list.
fn compare_findings(
    linter: &str,
    output: &str,
    allowed: &str,
    keep: impl Fn(&str) -> Option<String>,
) {
    let allowed_path = workspace_root().join("packaging").join(allowed);
    let text = fs::read_to_string(&allowed_path)
        .unwrap_or_else(|e| panic!("{}: {e}", allowed_path.display()));
    let allowed: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let found: BTreeSet<String> = output
        .lines()
        .filter_map(|l| keep(l.trim()))
        .map(|l| l.replace(VERSION, "VERSION"))
        .collect();
    let errors: Vec<&String> = found.iter().filter(|f| f.contains("E: ")).collect();
    let new: Vec<&String> = found
        .iter()
        .filter(|f| !allowed.contains(f.as_str()))
        .collect();
    let stale: Vec<&&str> = allowed.iter().filter(|a| !found.contains(**a)).collect();
    let mut problems = Vec::new();
    if !errors.is_empty() {
        problems.push(format!("errors (never allowed): {errors:#?}"));
    }
    if !new.is_empty() {
        problems.push(format!(
            "findings not in {} (fix them, or list them there with the reason \
             in packaging/README.md): {new:#?}",
            allowed_path.display()
        ));
    }
    if !stale.is_empty() {
        problems.push(format!(
            "listed in {} but no longer reported (remove them): {stale:#?}",
            allowed_path.display()
        ));
    }
    assert!(
        problems.is_empty(),
        "{linter}: {}\n--- {linter} output ---\n{output}",
        problems.join("\n")
    );
}

#[test]
fn deb_is_lintian_clean_but_for_the_allowed_findings() {
    let deb = deb_package();
    let mut lintian = Command::new(require_program("lintian"));
    lintian.arg(&deb);
    let out = run_timeout(&mut lintian, LINT_TIMEOUT);
    // 0: clean, 1: a finding at or above --fail-on (errors); 2: it failed.
    assert!(
        matches!(out.code(), Some(0 | 1)),
        "lintian did not run:\n{out}"
    );
    compare_findings("lintian", &out.stdout, "lintian-allowed", |line| {
        (line.starts_with("E: ") || line.starts_with("W: ")).then(|| line.to_string())
    });
}

#[test]
fn rpms_are_rpmlint_clean_but_for_the_allowed_findings() {
    let rpms = rpm_packages();
    let mut rpmlint = Command::new(require_program("rpmlint"));
    rpmlint
        .arg("-c")
        .arg(workspace_root().join("packaging/rpmlint.toml"))
        .arg(&rpms.binary)
        .arg(&rpms.source);
    let out = run_timeout(&mut rpmlint, LINT_TIMEOUT);
    // 0: clean, 64: errors, 66: over the badness threshold; else it failed.
    assert!(
        matches!(out.code(), Some(0 | 64 | 66)) && out.stdout.contains("packages and"),
        "rpmlint did not run:\n{out}"
    );
    compare_findings("rpmlint", &out.stdout, "rpmlint-allowed", |line| {
        let (what, finding) = line.split_once(": ")?;
        if !(finding.starts_with("E: ") || finding.starts_with("W: ")) {
            return None;
        }
        // A spec finding names its line and a binary rpm's its
        // architecture: the list should depend on neither.
        let what = what.split(':').next().unwrap_or(what);
        let what = match what.rsplit_once('.') {
            Some((name, arch)) if arch != "src" && arch != "spec" => format!("{name}.ARCH"),
            _ => what.to_string(),
        };
        Some(format!("{what}: {finding}"))
    });
}

/// The spec's and the Debian changelog's newest entries are for this
/// version, and the spec installs the layout that `make rpm` is tested
/// for: the distribution's library directory, the licences apart.
#[test]
fn package_metadata_names_this_version_and_layout() {
    require_program("rpmspec");
    let spec = workspace_root().join("packaging/mptcpize-rs.spec");
    let mut query = Command::new("rpmspec");
    query
        .args(["-q", "--srpm", "--qf", "%{version}-%{release}\\n"])
        .arg(&spec);
    let out = run_timeout(&mut query, SHORT);
    let version_release = out.success().stdout.trim().to_string();
    assert_eq!(
        version_release,
        format!("{VERSION}-1"),
        "spec version: {out}"
    );

    let mut parse = Command::new("rpmspec");
    parse.arg("-P").arg(&spec);
    let out = run_timeout(&mut parse, SHORT);
    let expanded = &out.success().stdout;
    let libdir = rpm_libdir();
    assert!(
        expanded.lines().any(|l| l.contains("make install DESTDIR=")
            && l.contains("PREFIX=/usr")
            && l.contains(&format!("LIBDIR={libdir}"))),
        "{out}"
    );
    let changelog = expanded
        .split("%changelog")
        .nth(1)
        .unwrap_or_else(|| panic!("no %changelog in:\n{expanded}"));
    let newest = changelog.lines().find(|l| l.starts_with('*')).unwrap_or("");
    assert!(
        newest.ends_with(&format!(" - {version_release}")),
        "newest %changelog entry: {newest:?}"
    );
    let files = expanded
        .split("%files")
        .nth(1)
        .and_then(|rest| rest.split("%changelog").next())
        .unwrap_or_else(|| panic!("no %files in:\n{expanded}"));
    let layout = Layout::rpm();
    for file in layout.files() {
        // %files spells man pages without their compression suffix.
        let path = format!("/{}", file.trim_end_matches(".gz"));
        let man = path.starts_with("/usr/share/man/man1/mptcpize-rs-");
        assert!(
            files.lines().any(|l| {
                let listed = l.split_whitespace().last().unwrap_or("");
                listed == path
                    || (listed.ends_with('*') && path.starts_with(listed.trim_end_matches('*')))
                    || (man && listed == "/usr/share/man/man1/mptcpize-rs-*.1*")
            }),
            "{path} not in %files:\n{files}"
        );
    }

    let debian = fs::read_to_string(workspace_root().join("packaging/changelog")).unwrap();
    assert!(
        debian.starts_with(&format!("mptcpize-rs ({VERSION}) ")),
        "packaging/changelog does not start with this version:\n{debian}"
    );
}
