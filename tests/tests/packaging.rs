//! Installing like a system tool: `make install` into a staged DESTDIR (the
//! staged binary finds the staged shim and converts sockets; man pages and
//! completions are there; `make uninstall` leaves nothing), `make deb`
//! installed and removed with dpkg inside a throwaway systemd container
//! (never on the host), and the RPM spec parsing.
//!
//! The Makefile builds into its own target directory (`TARGET/packaging`):
//! it builds with `MPTCPIZE_RS_LIBDIR=/usr/lib/mptcpize-rs`, and sharing
//! `TARGET/release` with the other tests would rebuild (and replace) their
//! release binary back and forth. Both Makefile tests use the same settings,
//! so they share that build; cargo's lock serializes them, and every run
//! stages in its own temporary directory.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mptcpize_contract::env;
use mptcpize_rs_tests::prereq::find_program;
use mptcpize_rs_tests::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
const SHIM_PATH: &str = "/usr/lib/mptcpize-rs/libmptcpize_preload.so";
/// Visible subcommands: each gets a man page and appears in the completions.
const SUBCOMMANDS: &[&str] = &[
    "run", "enable", "disable", "status", "demo", "check", "inspect", "testnet",
];

fn packaging_target_dir() -> PathBuf {
    target_dir().join("packaging")
}

/// `make ARGS...` at the workspace root, into [`packaging_target_dir`];
/// panics unless it succeeds.
fn make(args: &[&str]) -> CmdOutput {
    let out = try_make(args);
    out.success();
    out
}

/// `make ARGS...` like [`make`]; status not checked.
fn try_make(args: &[&str]) -> CmdOutput {
    require_program("make");
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(workspace_root())
        .arg("--no-print-directory")
        .args(args)
        .arg(format!(
            "CARGO_TARGET_DIR={}",
            packaging_target_dir().display()
        ));
    run_timeout(&mut cmd, BUILD_TIMEOUT)
}

/// Every file and directory below `root`, relative, sorted.
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

fn expected_files(zsh_dir: &str, man_suffix: &str) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = [
        "usr/bin/mptcpize-rs",
        "usr/lib/mptcpize-rs/libmptcpize_preload.so",
        "usr/share/bash-completion/completions/mptcpize-rs",
        "usr/share/fish/vendor_completions.d/mptcpize-rs.fish",
        "usr/share/doc/mptcpize-rs/README.md",
        "usr/share/doc/mptcpize-rs/LICENSE-MIT",
        "usr/share/doc/mptcpize-rs/LICENSE-APACHE",
    ]
    .iter()
    .map(|f| f.to_string())
    .collect();
    files.insert(format!("usr/share/zsh/{zsh_dir}/_mptcpize-rs"));
    files.insert(format!("usr/share/man/man1/mptcpize-rs.1{man_suffix}"));
    for sub in SUBCOMMANDS {
        files.insert(format!(
            "usr/share/man/man1/mptcpize-rs-{sub}.1{man_suffix}"
        ));
    }
    files
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
        roff.contains(SHIM_PATH.replace('-', "\\-").as_str()),
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

#[test]
fn make_install_to_a_staged_destdir_then_uninstall() {
    require_mptcp();
    make(&["PREFIX=/usr"]);
    let tmp = TempDir::new("make-install");
    let stage = tmp.join("stage");
    let destdir = format!("DESTDIR={}", stage.display());

    // A build is installed only with the directories it was made for.
    let out = try_make(&["install", "PREFIX=/opt/mptcpize-rs", &destdir]);
    assert!(
        !out.status.success() && out.stderr.contains("the build is for BINDIR=/usr/bin"),
        "{out}"
    );
    assert!(
        !stage.exists(),
        "a refused install wrote {}",
        stage.display()
    );

    make(&["install", "PREFIX=/usr", &destdir]);

    let files: BTreeSet<String> = tree(&stage)
        .into_iter()
        .filter(|p| !p.ends_with('/'))
        .collect();
    assert_eq!(files, expected_files("site-functions", ""));
    let launcher = stage.join("usr/bin/mptcpize-rs");
    // make install's launcher is a static-pie executable (see the Makefile).
    assert!(!is_dynamically_linked(&launcher), "{}", launcher.display());

    // The staged binary finds the staged shim (relative layout).
    let mut version = Command::new(&launcher);
    version
        .arg("--version")
        .env_remove(env::PRELOAD.name())
        .env_remove("LD_PRELOAD");
    let out = run_timeout(&mut version, SHORT);
    let staged_shim = stage
        .join("usr/lib/mptcpize-rs/libmptcpize_preload.so")
        .canonicalize()
        .unwrap();
    assert_eq!(
        out.success().stdout,
        format!("mptcpize-rs {VERSION}\nshim: {}\n", staged_shim.display()),
        "{out}"
    );

    let mut probe = Command::new(&launcher);
    probe
        .env_remove(env::PRELOAD.name())
        .env_remove("LD_PRELOAD")
        .args(["run", "--engine", "preload"])
        .arg(sockprobe())
        .arg("sockets");
    let out = run_timeout(&mut probe, SHORT);
    assert_eq!(probe_protocol(&out.success().stdout, "tcp4"), 262, "{out}");

    check_main_man_page(&stage.join("usr/share/man/man1/mptcpize-rs.1"));
    let run_page = fs::read_to_string(stage.join("usr/share/man/man1/mptcpize-rs-run.1")).unwrap();
    assert!(
        run_page.contains(".SH ENGINES") && run_page.contains("\\-\\-engine"),
        "{run_page}"
    );
    check_completions(&stage, "site-functions");

    make(&["uninstall", "PREFIX=/usr", &destdir]);
    let left = tree(&stage);
    assert!(left.is_empty(), "left behind by uninstall: {left:?}");
}

fn dpkg_architecture() -> String {
    let out = run_timeout(Command::new("dpkg").arg("--print-architecture"), SHORT);
    out.success().stdout.trim().to_string()
}

#[test]
fn deb_installs_works_and_removes_cleanly_in_a_clean_debian() {
    require_root("the package is installed in a systemd-nspawn container");
    require_program("dpkg-deb");
    make(&["deb"]);
    let deb = packaging_target_dir()
        .join("debian")
        .join(format!("mptcpize-rs_{VERSION}_{}.deb", dpkg_architecture()));
    assert!(deb.is_file(), "{} missing", deb.display());

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

    let container = SystemdContainer::boot();
    container.install(&deb, "/root/mptcpize-rs.deb", 0o644);
    container
        .exec_timeout(
            &["dpkg", "-i", "/root/mptcpize-rs.deb"],
            Duration::from_secs(120),
        )
        .success();

    let version = container.exec_ok(&["/usr/bin/mptcpize-rs", "--version"]);
    assert_eq!(
        version.stdout,
        format!("mptcpize-rs {VERSION}\nshim: {SHIM_PATH}\n"),
        "{version}"
    );

    // What dpkg installed: the files among the paths it lists.
    let listed = container.exec_ok(&["dpkg", "-L", "mptcpize-rs"]).stdout;
    let files: Vec<&str> = listed
        .lines()
        .filter(|p| p.starts_with("/usr/") && container.exec(&["test", "-f", p]).status.success())
        .collect();
    let relative: BTreeSet<String> = files.iter().map(|p| p[1..].to_string()).collect();
    let mut expected = expected_files("vendor-completions", ".gz");
    expected.insert("usr/share/doc/mptcpize-rs/copyright".to_string());
    assert_eq!(relative, expected, "dpkg -L:\n{listed}");

    container.write(
        "/etc/systemd/system/web.service",
        "[Service]\nExecStart=/bin/sleep infinity\n",
    );
    container.daemon_reload();
    container.exec_ok(&["mptcpize-rs", "enable", "web.service"]);
    let dropin = container.read("/etc/systemd/system/web.service.d/zz-mptcpize-rs.conf");
    assert!(
        dropin.contains(&format!("LD_PRELOAD={SHIM_PATH}")),
        "{dropin}"
    );
    let environment = container.unit_property("web.service", "Environment");
    assert!(
        environment.contains(&format!("LD_PRELOAD={SHIM_PATH}")),
        "{environment}"
    );
    container.start("web.service");
    let pid = container.unit_property("web.service", "MainPID");
    let maps = container.read(&format!("/proc/{pid}/maps"));
    assert!(maps.contains(SHIM_PATH), "shim not loaded:\n{maps}");
    container.stop("web.service");
    container.exec_ok(&["mptcpize-rs", "disable", "web.service"]);

    container
        .exec_timeout(&["dpkg", "-r", "mptcpize-rs"], Duration::from_secs(120))
        .success();
    for file in &files {
        assert!(!container.exists(file), "{file} left behind by dpkg -r");
    }
    for dir in ["/usr/lib/mptcpize-rs", "/usr/share/doc/mptcpize-rs"] {
        assert!(!container.exists(dir), "{dir} left behind by dpkg -r");
    }
    let status = container.exec(&["dpkg-query", "-W", "-f=${Status}", "mptcpize-rs"]);
    assert!(
        !status.stdout.contains("installed") || status.stdout.contains("not-installed"),
        "{status}"
    );
}

#[test]
fn rpm_spec_parses_and_installs_the_same_layout() {
    require_program("rpmspec");
    let spec = workspace_root().join("packaging/mptcpize-rs.spec");
    let mut query = Command::new("rpmspec");
    query
        .args(["-q", "--srpm", "--qf", "%{version}\\n"])
        .arg(&spec);
    let out = run_timeout(&mut query, SHORT);
    assert_eq!(out.success().stdout.trim(), VERSION, "spec version: {out}");

    let mut parse = Command::new("rpmspec");
    parse.arg("-P").arg(&spec);
    let out = run_timeout(&mut parse, SHORT);
    let expanded = &out.success().stdout;
    assert!(
        expanded
            .lines()
            .any(|l| l.contains("make install DESTDIR=") && l.contains("PREFIX=/usr")),
        "{out}"
    );
    let files = expanded
        .split("%files")
        .nth(1)
        .and_then(|rest| rest.split("%changelog").next())
        .unwrap_or_else(|| panic!("no %files in:\n{expanded}"));
    for path in [
        "/usr/bin/mptcpize-rs",
        "/usr/lib/mptcpize-rs/libmptcpize_preload.so",
        "/usr/share/man/man1/mptcpize-rs.1*",
        "/usr/share/man/man1/mptcpize-rs-*.1*",
        "/usr/share/bash-completion/completions/mptcpize-rs",
        "/usr/share/zsh/site-functions/_mptcpize-rs",
        "/usr/share/fish/vendor_completions.d/mptcpize-rs.fish",
        "/usr/share/doc/mptcpize-rs/README.md",
        "/usr/share/doc/mptcpize-rs/LICENSE-MIT",
        "/usr/share/doc/mptcpize-rs/LICENSE-APACHE",
    ] {
        assert!(
            files
                .lines()
                .any(|l| l.split_whitespace().last() == Some(path)),
            "{path} not in %files:\n{files}"
        );
    }
}
