//! `enable`, `disable` and `status` offline, on a temporary `--root` tree
//! (like `systemctl --root`): the real binary, real files, no systemd.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mptcpize_rs_tests::*;

const DROPIN: &str = "zz-mptcpize-rs.conf";

/// A root tree with one system unit, `web.service`.
struct Tree {
    dir: TempDir,
}

impl Tree {
    fn new(tag: &str, unit_text: &str) -> Tree {
        let tree = Tree {
            dir: TempDir::new(tag),
        };
        tree.write("etc/systemd/system/web.service", unit_text);
        tree
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, relative: &str, text: &str) {
        write_file(&self.root().join(relative), text);
    }

    fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.root().join(relative)).unwrap_or_default()
    }

    /// Every file and its content: to prove a command wrote nothing.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        snapshot(self.root())
    }

    /// `mptcpize-rs SUBCOMMAND --root TREE ARGS...`
    fn run(&self, subcommand: &str, args: &[&str]) -> CmdOutput {
        let mut cmd = Command::new(launcher());
        cmd.arg(subcommand)
            .arg("--root")
            .arg(self.root())
            .args(args);
        run_timeout(&mut cmd, SHORT)
    }
}

const WEB_UNIT: &str = "[Unit]\nDescription=web\n\n[Service]\nEnvironment=FOO=bar\n\
                        ExecStart=/usr/bin/python3 -m http.server 8080\n";

fn shim_path() -> String {
    shim().canonicalize().unwrap().display().to_string()
}

fn expected_dropin(ld_preload: &str, godebug: &str) -> String {
    format!(
        "# Written by `mptcpize-rs enable web.service`: the service's TCP sockets become\n\
         # Multipath TCP. Undo with `mptcpize-rs disable web.service`.\n\
         [Service]\n\
         Environment=\"LD_PRELOAD={ld_preload}\"\n\
         Environment=\"GODEBUG={godebug}\"\n"
    )
}

#[test]
fn enable_writes_one_dropin_and_leaves_the_unit_alone() {
    let tree = Tree::new("enable", WEB_UNIT);
    let out = tree.run("enable", &["web.service"]);
    out.expect_code(0);
    let dropin = format!("etc/systemd/system/web.service.d/{DROPIN}");
    assert_eq!(
        tree.read(&dropin),
        expected_dropin(&shim_path(), "multipathtcp=1")
    );
    assert_eq!(
        tree.read("etc/systemd/system/web.service"),
        WEB_UNIT,
        "unit file untouched"
    );
    let mode = fs::metadata(tree.root().join(&dropin))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );
    assert!(
        out.stdout.contains("offline tree"),
        "says a reload is needed:\n{out}"
    );

    // Enabling again changes nothing and keeps a single file.
    let before = tree.snapshot();
    let again = tree.run("enable", &["web"]);
    again.expect_code(0);
    assert!(again.stdout.contains("already enabled"), "{again}");
    assert_eq!(tree.snapshot(), before);
    let files = fs::read_dir(tree.root().join("etc/systemd/system/web.service.d")).unwrap();
    assert_eq!(files.count(), 1);
}

#[test]
fn enable_merges_the_units_own_preload_and_go_settings() {
    // The quoted multi-assignment form in the unit, overridden by a drop-in
    // for LD_PRELOAD (the last assignment wins), GODEBUG kept from the unit.
    let unit =
        "[Service]\nEnvironment=\"LD_PRELOAD=/opt/a.so\" FOO=bar \"GODEBUG=http2client=0\"\n";
    let tree = Tree::new("merge", unit);
    tree.write(
        "etc/systemd/system/web.service.d/10-local.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/opt/b.so\n",
    );
    tree.run("enable", &["web"]).expect_code(0);
    let dropin = tree.read(&format!("etc/systemd/system/web.service.d/{DROPIN}"));
    let ld_preload = format!("/opt/b.so:{}", shim_path());
    assert_eq!(
        dropin,
        expected_dropin(&ld_preload, "http2client=0,multipathtcp=1")
    );
    assert_eq!(
        tree.read("etc/systemd/system/web.service.d/10-local.conf"),
        "[Service]\nEnvironment=LD_PRELOAD=/opt/b.so\n",
        "other drop-ins untouched"
    );
}

#[test]
fn disable_removes_exactly_what_enable_wrote() {
    let tree = Tree::new("disable", WEB_UNIT);
    let before = tree.snapshot();
    tree.run("enable", &["web"]).expect_code(0);
    let out = tree.run("disable", &["web"]);
    out.expect_code(0);
    assert!(out.stdout.contains("Removed"), "{out}");
    assert_eq!(
        tree.snapshot(),
        before,
        "the tree is as it was, directory included"
    );

    let again = tree.run("disable", &["web"]);
    again.expect_code(0);
    assert!(again.stdout.contains("not enabled"), "{again}");

    // Other drop-ins keep their directory.
    tree.write(
        "etc/systemd/system/web.service.d/10-local.conf",
        "[Service]\n",
    );
    tree.run("enable", &["web"]).expect_code(0);
    tree.run("disable", &["web"]).expect_code(0);
    assert!(
        tree.root()
            .join("etc/systemd/system/web.service.d/10-local.conf")
            .exists()
    );
}

#[test]
fn template_instances_get_their_own_dropin() {
    let tree = Tree::new("instance", WEB_UNIT);
    let template = "[Service]\nEnvironment=LD_PRELOAD=/opt/t.so\nExecStart=/bin/app %i\n";
    tree.write("usr/lib/systemd/system/app@.service", template);
    tree.run("enable", &["app@8081"]).expect_code(0);
    let dropin = tree.read(&format!("etc/systemd/system/app@8081.service.d/{DROPIN}"));
    assert!(
        dropin.contains(&format!("LD_PRELOAD=/opt/t.so:{}", shim_path())),
        "{dropin}"
    );
    assert!(dropin.contains("disable app@8081.service"), "{dropin}");

    tree.run("enable", &["app@.service"]).expect_code(0);
    assert!(
        tree.root()
            .join(format!("etc/systemd/system/app@.service.d/{DROPIN}"))
            .exists()
    );
    assert_eq!(tree.read("usr/lib/systemd/system/app@.service"), template);
}

#[test]
fn bad_names_and_missing_units_write_nothing() {
    let tree = Tree::new("bad-names", WEB_UNIT);
    let before = tree.snapshot();
    for name in [
        "",
        "../web",
        "a/b.service",
        "web.timer",
        ".socket",
        "web service",
        "@x",
        "a@b@c",
    ] {
        for subcommand in ["enable", "disable", "status"] {
            let out = tree.run(subcommand, &[name]);
            out.expect_code(2);
            assert!(
                out.stderr.contains("mptcpize-rs: "),
                "{subcommand} {name:?}:\n{out}"
            );
        }
    }
    let missing = tree.run("enable", &["nosuch"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("no unit file for nosuch.service"),
        "{missing}"
    );
    assert_eq!(tree.snapshot(), before, "nothing written");
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let tree = Tree::new("dry-run", WEB_UNIT);
    let before = tree.snapshot();
    let out = tree.run("enable", &["--dry-run", "web"]);
    out.expect_code(0);
    assert!(out.stdout.contains("Would write"), "{out}");
    assert!(
        out.stdout
            .contains(&expected_dropin(&shim_path(), "multipathtcp=1")),
        "{out}"
    );
    assert_eq!(tree.snapshot(), before);

    tree.run("enable", &["web"]).expect_code(0);
    let enabled = tree.snapshot();
    let out = tree.run("disable", &["--dry-run", "web"]);
    out.expect_code(0);
    assert!(out.stdout.contains("Would remove"), "{out}");
    assert_eq!(tree.snapshot(), enabled);
}

#[test]
fn status_offline() {
    let tree = Tree::new("status", WEB_UNIT);
    let out = tree.run("status", &["web"]);
    out.expect_code(1);
    assert!(out.stdout.contains("web.service: not enabled"), "{out}");
    tree.run("enable", &["web"]).expect_code(0);
    let out = tree.run("status", &["web"]);
    out.expect_code(0);
    assert!(out.stdout.contains("web.service: enabled"), "{out}");
    assert!(out.stdout.contains(DROPIN), "{out}");
    assert!(!out.stdout.contains("out of date"), "{out}");

    // A preload library added to the unit afterwards makes the drop-in stale.
    tree.write(
        "etc/systemd/system/web.service.d/10-x.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/x.so\n",
    );
    let out = tree.run("status", &["web"]);
    assert!(out.stdout.contains("out of date"), "{out}");
}

/// Drop-ins systemd reads for `web-app.service` besides its own: the dash
/// prefix's `web-.service.d/` and the top-level `service.d/`; for a file
/// name in both, the more specific directory wins (as in systemd), even
/// from a lower-priority unit directory.
#[test]
fn prefix_and_top_level_dropins_are_merged() {
    let tree = Tree::new("prefix-dropins", WEB_UNIT);
    tree.write("etc/systemd/system/web-app.service", WEB_UNIT);
    tree.write(
        "usr/lib/systemd/system/web-.service.d/10-lib.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/opt/prefix.so\n",
    );
    tree.write(
        "etc/systemd/system/service.d/10-lib.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/opt/generic.so\n",
    );
    tree.write(
        "etc/systemd/system/service.d/20-go.conf",
        "[Service]\nEnvironment=GODEBUG=http2client=0\n",
    );
    tree.run("enable", &["web-app"]).expect_code(0);
    let dropin = tree.read(&format!("etc/systemd/system/web-app.service.d/{DROPIN}"));
    for line in [
        format!("Environment=\"LD_PRELOAD=/opt/prefix.so:{}\"", shim_path()),
        "Environment=\"GODEBUG=http2client=0,multipathtcp=1\"".to_string(),
    ] {
        assert!(dropin.lines().any(|l| l == line), "{line} in:\n{dropin}");
    }
    let status = tree.run("status", &["web-app"]);
    assert!(!status.stdout.contains("out of date"), "{status}");
}

/// `enable`'s connection rules go into the drop-in; `status` reads them
/// back (they are not "out of date"); enabling without them removes them;
/// bad rules write nothing.
#[test]
fn rules_go_into_the_dropin() {
    let tree = Tree::new("rules", WEB_UNIT);
    let dropin = format!("etc/systemd/system/web.service.d/{DROPIN}");
    let rules = "loopback=0;listen=0;exclude=10.0.0.0/8,::1";
    let args = [
        "web",
        "--exclude",
        "10.0.0.0/8",
        "--exclude",
        "::1",
        "--no-listen",
    ];
    tree.run("enable", &args).expect_code(0);
    assert_eq!(
        tree.read(&dropin),
        expected_dropin(&shim_path(), "multipathtcp=1")
            + &format!("Environment=\"MPTCPIZE_RS_RULES={rules}\"\n")
    );
    let status = tree.run("status", &["web"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains(&format!("rules: {rules}")),
        "{status}"
    );
    assert!(!status.stdout.contains("out of date"), "{status}");

    tree.run("enable", &["web"]).expect_code(0);
    assert_eq!(
        tree.read(&dropin),
        expected_dropin(&shim_path(), "multipathtcp=1")
    );

    let before = tree.snapshot();
    let too_many: Vec<String> = (1..=17)
        .flat_map(|p| ["--exclude-port".into(), p.to_string()])
        .collect();
    let mut bad: Vec<&str> = vec!["web"];
    bad.extend(too_many.iter().map(String::as_str));
    for args in [
        &["web", "--exclude", "example.com"][..],
        &["web", "--include-port", "0"],
        &bad,
    ] {
        let out = tree.run("enable", args);
        out.expect_code(2);
        assert!(
            out.stderr.contains("mptcpize-rs: ") || out.stderr.contains("error:"),
            "{args:?}\n{out}"
        );
    }
    assert!(
        tree.run("disable", &["web", "--no-listen"]).code() == Some(2),
        "disable takes no rules"
    );
    assert_eq!(tree.snapshot(), before, "nothing written");
}

#[test]
fn user_units_live_in_the_home_directory() {
    let home = TempDir::new("user-home");
    let unit_dir = home.join(".config/systemd/user");
    fs::create_dir_all(&unit_dir).unwrap();
    fs::write(
        unit_dir.join("sync.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let user = |args: &[&str]| {
        let mut cmd = Command::new(launcher());
        cmd.args(args)
            .env("HOME", home.path())
            .env_remove("XDG_RUNTIME_DIR");
        run_timeout(&mut cmd, SHORT)
    };
    let out = user(&["enable", "--user", "sync"]);
    out.expect_code(0);
    let dropin = unit_dir.join(format!("sync.service.d/{DROPIN}"));
    let text = fs::read_to_string(&dropin).unwrap();
    assert!(
        text.contains("Undo with `mptcpize-rs disable --user sync.service`"),
        "{text}"
    );
    user(&["status", "--user", "sync"]).expect_code(0);
    user(&["disable", "--user", "sync"]).expect_code(0);
    assert!(!dropin.exists() && !dropin.parent().unwrap().exists());

    let both = Tree::new("user-root", WEB_UNIT);
    both.run("enable", &["--user", "web"]).expect_code(2);
}

/// `status --root TREE --json [UNIT]`, which must exit with `code`: the
/// document parsed.
fn status_json(tree: &Tree, args: &[&str], code: i32) -> json::Value {
    let mut argv = vec!["--json"];
    argv.extend_from_slice(args);
    let out = tree.run("status", &argv);
    out.expect_code(code);
    json::parse(&out.stdout)
}

/// The `(unit, state)` pairs of a `status --json` document, in order.
fn unit_states(document: &json::Value) -> Vec<(String, String)> {
    json::array_at(document, "/units")
        .iter()
        .map(|u| {
            let unit = json::str_at(u, "/unit").to_string();
            (unit, json::str_at(u, "/state").to_string())
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(u, s)| (u.to_string(), s.to_string()))
        .collect()
}

/// `status` without a unit: none enabled says so and exits 0; then it
/// lists exactly the enabled units, each with its state (current, out of
/// date, masked, unit file missing, a drop-in enable did not write there),
/// exits 1 while one is not current, and writes nothing.
#[test]
fn status_lists_every_enabled_unit() {
    let tree = Tree::new("status-all", WEB_UNIT);
    tree.write("usr/lib/systemd/system/api.service", WEB_UNIT);
    tree.write("usr/lib/systemd/system/db.service", WEB_UNIT);
    tree.write("usr/lib/systemd/system/idle.service", WEB_UNIT);

    let none = tree.run("status", &[]);
    none.expect_code(0);
    assert!(none.stdout.contains("No units are enabled"), "{none}");
    let d = status_json(&tree, &[], 0);
    assert!(json::array_at(&d, "/units").is_empty(), "{d:#}");
    assert_eq!(json::at(&d, "/all_current"), &json::json!(true));
    assert_eq!(json::str_at(&d, "/scope"), "system");

    tree.run("enable", &["web"]).expect_code(0);
    tree.run("enable", &["api", "--no-listen"]).expect_code(0);
    let out = tree.run("status", &[]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("web.service: enabled, current"),
        "{out}"
    );
    assert!(
        out.stdout.contains("api.service: enabled, current"),
        "{out}"
    );
    assert!(out.stdout.contains("rules: loopback=0;listen=0"), "{out}");
    assert!(!out.stdout.contains("idle.service"), "{out}");
    assert!(
        out.stdout.contains("2 units have the mptcpize-rs drop-in"),
        "{out}"
    );
    let d = status_json(&tree, &[], 0);
    assert_eq!(
        unit_states(&d),
        pairs(&[("api.service", "current"), ("web.service", "current")])
    );
    assert_eq!(json::str_at(&d, "/units/0/rules"), "loopback=0;listen=0");
    assert_eq!(json::at(&d, "/units/1/rules"), &json::Value::Null);
    assert!(
        json::str_at(&d, "/units/1/dropin")
            .ends_with(&format!("/etc/systemd/system/web.service.d/{DROPIN}")),
        "{d:#}"
    );
    assert!(
        json::str_at(&d, "/units/0/unit_file").ends_with("/usr/lib/systemd/system/api.service"),
        "{d:#}"
    );
    assert_eq!(json::at(&d, "/units/0/running"), &json::Value::Null);
    assert_eq!(json::at(&d, "/manager_running"), &json::json!(false));

    // Out of date, masked, unit file gone, and our file where enable does
    // not write it: each listed with its state; the verdict is 1.
    tree.run("enable", &["db"]).expect_code(0);
    tree.run("enable", &["idle"]).expect_code(0);
    tree.write(
        "etc/systemd/system/api.service.d/10-x.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/x.so\n",
    );
    std::os::unix::fs::symlink(
        "/dev/null",
        tree.root().join("etc/systemd/system/db.service"),
    )
    .unwrap();
    fs::remove_file(tree.root().join("usr/lib/systemd/system/idle.service")).unwrap();
    let stray = tree.read(&format!("etc/systemd/system/web.service.d/{DROPIN}"));
    tree.write(
        &format!("usr/lib/systemd/system/service.d/{DROPIN}"),
        &stray,
    );
    let before = tree.snapshot();
    let out = tree.run("status", &[]);
    out.expect_code(1);
    out.stdout_has(&[
        "api.service: enabled, OUT OF DATE",
        "run `mptcpize-rs enable api.service` again with the same rule options",
        "db.service: masked",
        "idle.service: drop-in left over: no unit file",
        "service: drop-in not written by enable here",
        "the top-level service.d/",
        "web.service: enabled, current",
        "5 units have the mptcpize-rs drop-in",
        "1 current",
    ]);
    let d = status_json(&tree, &[], 1);
    assert_eq!(
        unit_states(&d),
        pairs(&[
            ("api.service", "out-of-date"),
            ("db.service", "masked"),
            ("idle.service", "unit-missing"),
            ("service", "elsewhere"),
            ("web.service", "current"),
        ])
    );
    assert_eq!(json::at(&d, "/all_current"), &json::json!(false));
    assert!(
        json::str_at(&d, "/units/1/unit_file").ends_with("/etc/systemd/system/db.service"),
        "{d:#}"
    );
    assert!(
        json::str_at(&d, "/units/3/detail").contains("disable does not remove it"),
        "{d:#}"
    );
    assert_eq!(tree.snapshot(), before, "status writes nothing");

    // With UNIT, the same document holds that unit only; the exit status
    // is the single unit's (0 enabled, 1 not).
    let d = status_json(&tree, &["api"], 0);
    assert_eq!(unit_states(&d), pairs(&[("api.service", "out-of-date")]));
    let d = status_json(&tree, &["nosuch"], 1);
    assert_eq!(unit_states(&d), pairs(&[("nosuch.service", "not-enabled")]));
    let d = status_json(&tree, &["db"], 1);
    assert_eq!(unit_states(&d), pairs(&[("db.service", "masked")]));
}

/// Listing reads inside the tree only: a drop-in directory linked to a
/// host directory is resolved inside the tree (not listed from the host),
/// a FIFO in a drop-in's place is reported, never opened, and a name with
/// control characters is printed escaped.
#[test]
fn status_listing_stays_inside_the_tree() {
    let host = TempDir::new("status-host");
    write_file(
        &host.join(format!("evil.service.d/{DROPIN}")),
        "[Service]\n",
    );
    let tree = Tree::new("status-inside", WEB_UNIT);
    fs::create_dir_all(tree.root().join("run/systemd/system")).unwrap();
    std::os::unix::fs::symlink(
        host.join("evil.service.d"),
        tree.root().join("run/systemd/system/evil.service.d"),
    )
    .unwrap();
    let fifo_dir = tree.root().join("etc/systemd/system/fifo.service.d");
    fs::create_dir_all(&fifo_dir).unwrap();
    let fifo = std::ffi::CString::new(fifo_dir.join(DROPIN).into_os_string().into_encoded_bytes())
        .unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let evil = "e\u{1b}]0;x\u{7}.service.d";
    write_file(
        &tree
            .root()
            .join(format!("usr/lib/systemd/system/{evil}/{DROPIN}")),
        "[Service]\n",
    );
    let out = tree.run("status", &[]);
    out.expect_code(1);
    assert!(!out.stdout.contains("evil.service"), "{out}");
    assert!(out.stdout.contains("fifo.service: cannot be read"), "{out}");
    assert!(out.stdout.contains("a FIFO"), "{out}");
    assert!(!out.stdout.contains('\u{1b}'), "{out:?}");
    assert!(out.stdout.contains("e\\u{1b}]0;x\\u{7}"), "{out}");
    let d = status_json(&tree, &[], 1);
    assert_eq!(
        unit_states(&d),
        pairs(&[
            ("e\\u{1b}]0;x\\u{7}.service", "elsewhere"),
            ("fifo.service", "unreadable"),
        ])
    );
}

/// `enable --dry-run --json`: one object per file, the path on the target
/// system and the exact content `enable` then writes; nothing written.
/// `--json` without `--dry-run` is refused.
#[test]
fn dry_run_json_gives_path_and_content() {
    let tree = Tree::new("dry-run-json", WEB_UNIT);
    let before = tree.snapshot();
    let out = tree.run("enable", &["web", "--dry-run", "--json", "--no-listen"]);
    out.expect_code(0);
    assert_eq!(tree.snapshot(), before, "nothing written");
    let d = json::parse(&out.stdout);
    assert_eq!(json::array_at(&d, "").len(), 1, "{d:#}");
    assert_eq!(
        json::str_at(&d, "/0/path"),
        format!("/etc/systemd/system/web.service.d/{DROPIN}")
    );
    assert_eq!(
        json::str_at(&d, "/0/host_path"),
        tree.root()
            .canonicalize()
            .unwrap()
            .join(format!("etc/systemd/system/web.service.d/{DROPIN}"))
            .display()
            .to_string()
    );
    assert_eq!(json::str_at(&d, "/0/mode"), "0644");
    assert_eq!(json::at(&d, "/0/unchanged"), &json::json!(false));
    let content = json::str_at(&d, "/0/content").to_string();
    tree.run("enable", &["web", "--no-listen"]).expect_code(0);
    assert_eq!(
        tree.read(&format!("etc/systemd/system/web.service.d/{DROPIN}")),
        content,
        "enable writes exactly what the dry run printed"
    );
    let again = tree.run("enable", &["web", "--dry-run", "--json", "--no-listen"]);
    again.expect_code(0);
    assert_eq!(
        json::at(&json::parse(&again.stdout), "/0/unchanged"),
        &json::json!(true)
    );

    let enabled = tree.snapshot();
    let refused = tree.run("enable", &["web", "--json"]);
    refused.expect_code(2);
    assert!(refused.stderr.contains("--dry-run"), "{refused}");
    assert_eq!(tree.snapshot(), enabled);
}

const WEB_SOCKET: &str = "[Socket]\nListenStream=8080\n\n[Install]\nWantedBy=sockets.target\n";

const SOCKET_DROPIN: &str = "# Written by `mptcpize-rs enable web.socket`: systemd (257 or later) creates this\n\
     # socket's listeners as Multipath TCP. Undo with `mptcpize-rs disable web.socket`.\n\
     [Socket]\n\
     SocketProtocol=mptcp\n";

/// A tree whose systemd is `version`, as the image's own
/// libsystemd-shared-NNN.so names it (what `enable NAME.socket` reads).
fn socket_tree(tag: &str, version: u32) -> Tree {
    let tree = Tree::new(tag, WEB_UNIT);
    tree.write("etc/systemd/system/web.socket", WEB_SOCKET);
    // Debian's multiarch place for 252, the plain one for 257: both read.
    let dir = match version {
        252 => "usr/lib/x86_64-linux-gnu/systemd",
        _ => "usr/lib/systemd",
    };
    tree.write(&format!("{dir}/libsystemd-shared-{version}.so"), "elf");
    tree
}

/// systemd 257: `enable web.socket` writes the [Socket] drop-in (exact
/// content, same name and mode as a service's), idempotently; `status`
/// reports it, alone and in the listing; `disable` removes it and its
/// directory.
#[test]
fn socket_units_get_socket_protocol_mptcp_on_systemd_257() {
    let tree = socket_tree("socket-257", 257);
    let dropin = format!("etc/systemd/system/web.socket.d/{DROPIN}");
    let out = tree.run("enable", &["web.socket"]);
    out.expect_code(0);
    assert_eq!(tree.read(&dropin), SOCKET_DROPIN);
    assert_eq!(tree.read("etc/systemd/system/web.socket"), WEB_SOCKET);
    let mode = fs::metadata(tree.root().join(&dropin))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );
    let before = tree.snapshot();
    let again = tree.run("enable", &["web.socket"]);
    again.expect_code(0);
    assert!(again.stdout.contains("already enabled"), "{again}");
    assert_eq!(tree.snapshot(), before);

    let status = tree.run("status", &["web.socket"]);
    status.expect_code(0);
    assert!(status.stdout.contains("web.socket: enabled"), "{status}");
    tree.run("enable", &["web"]).expect_code(0);
    let all = tree.run("status", &[]);
    all.expect_code(0);
    assert!(all.stdout.contains("web.socket: enabled, current"), "{all}");
    assert!(
        all.stdout.contains("2 units have the mptcpize-rs drop-in"),
        "{all}"
    );
    let d = status_json(&tree, &[], 0);
    assert_eq!(
        unit_states(&d),
        pairs(&[("web.service", "current"), ("web.socket", "current")])
    );
    // Changed by hand: out of date.
    tree.write(&dropin, "[Socket]\nSocketProtocol=mptcp\n");
    let d = status_json(&tree, &["web.socket"], 0);
    assert_eq!(unit_states(&d), pairs(&[("web.socket", "out-of-date")]));
    let out = tree.run("status", &["web.socket"]);
    assert!(
        out.stdout
            .contains("run `mptcpize-rs enable web.socket` again"),
        "{out}"
    );

    let off = tree.run("disable", &["web.socket"]);
    off.expect_code(0);
    assert!(!tree.root().join("etc/systemd/system/web.socket.d").exists());
    tree.run("status", &["web.socket"]).expect_code(1);
    // Rules belong to a service's own sockets: refused for a socket.
    let rules = tree.run("enable", &["web.socket", "--no-listen"]);
    rules.expect_code(2);
    assert!(rules.stderr.contains("without them"), "{rules}");
    // A socket with only a Unix listener has nothing to make MPTCP.
    tree.write(
        "etc/systemd/system/bus.socket",
        "[Socket]\nListenStream=/run/bus.sock\n",
    );
    let before = tree.snapshot();
    let unix = tree.run("enable", &["bus.socket"]);
    unix.expect_code(1);
    assert!(unix.stderr.contains("only on Unix"), "{unix}");
    assert_eq!(tree.snapshot(), before, "nothing written");
}

/// systemd 252 (Debian 12): refused, exit 1, nothing written, the message
/// names 257 and the alternatives. An image whose version cannot be told
/// is refused too, unless --force.
#[test]
fn socket_units_are_refused_before_systemd_257() {
    let tree = socket_tree("socket-252", 252);
    let before = tree.snapshot();
    for args in [
        &["web.socket"][..],
        &["web.socket", "--dry-run"],
        &["web.socket", "--force"],
    ] {
        let out = tree.run("enable", args);
        out.expect_code(1);
        for expected in [
            "needs systemd 257",
            "systemd 252",
            "own listener",
            "upgrade systemd",
        ] {
            assert!(
                out.stderr.contains(expected),
                "{expected:?} in {args:?}:\n{out}"
            );
        }
    }
    assert_eq!(tree.snapshot(), before, "nothing written");

    let unknown = Tree::new("socket-unknown", WEB_UNIT);
    unknown.write("etc/systemd/system/web.socket", WEB_SOCKET);
    let before = unknown.snapshot();
    let out = unknown.run("enable", &["web.socket"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("unknown") && out.stderr.contains("--force"),
        "{out}"
    );
    assert_eq!(unknown.snapshot(), before, "nothing written");
    let forced = unknown.run("enable", &["web.socket", "--force"]);
    forced.expect_code(0);
    assert_eq!(
        unknown.read(&format!("etc/systemd/system/web.socket.d/{DROPIN}")),
        SOCKET_DROPIN
    );
}

/// `enable SERVICE` on a socket-activated service says so: on 252 that the
/// listener stays TCP, on 257 to enable the socket too; an Accept=yes
/// socket's template is found; a plain service says nothing of sockets.
#[test]
fn enabling_a_socket_activated_service_says_so() {
    let old = socket_tree("activated-252", 252);
    let out = old.run("enable", &["web"]);
    out.expect_code(0);
    for expected in [
        "web.service is socket-activated by web.socket",
        "stays TCP",
        "opens itself",
    ] {
        assert!(out.stdout.contains(expected), "{expected:?}:\n{out}");
    }
    assert!(!old.root().join("etc/systemd/system/web.socket.d").exists());

    let new = socket_tree("activated-257", 257);
    new.write(
        "etc/systemd/system/echo@.service",
        "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
    );
    new.write(
        "etc/systemd/system/echo.socket",
        "[Socket]\nListenStream=7\nAccept=yes\n",
    );
    let out = new.run("enable", &["web"]);
    out.expect_code(0);
    assert!(out.stdout.contains("enable --root "), "{out}");
    assert!(out.stdout.contains(" web.socket` too"), "{out}");
    let out = new.run("enable", &["echo@.service"]);
    out.expect_code(0);
    assert!(out.stdout.contains("echo.socket (Accept=yes"), "{out}");

    let plain = Tree::new("not-activated", WEB_UNIT);
    let out = plain.run("enable", &["web"]);
    out.expect_code(0);
    assert!(!out.stdout.contains("socket"), "{out}");
}

/// A static daemon in the image: `auto` reads it there and wraps
/// `ExecStart=` for the seccomp engine; `--engine` on a socket is refused
/// with nothing written; rules go into the drop-in's `MPTCPIZE_RS_RULES`
/// (which `run` applies under the seccomp engine) and `status` reads them
/// back; `status` names the engine and `disable` restores the unit's own
/// `ExecStart=`.
#[test]
fn static_services_get_the_seccomp_engine() {
    let busybox = mptcpize_rs_tests::seccomp::static_busybox();
    let unit = "[Service]\nType=notify\nExecStart=-@/usr/bin/busybox httpd -f -p \"80\" $OPTS %i\n\
                ExecReload=/bin/kill -HUP $MAINPID\n";
    let tree = Tree::new("enable-seccomp", unit);
    let image_busybox = tree.root().join("usr/bin/busybox");
    fs::create_dir_all(image_busybox.parent().unwrap()).unwrap();
    fs::copy(&busybox, &image_busybox).unwrap();
    let before = tree.snapshot();

    let launcher_path = launcher().canonicalize().unwrap().display().to_string();
    let expected_line = format!(
        "ExecStart=-{launcher_path} run --keep-pid --engine auto --argv0=httpd -- \
         /usr/bin/busybox -f -p \"80\" $OPTS %i\n"
    );
    // `@`: the word after the path ("httpd") is argv[0].
    let dry = tree.run("enable", &["web", "--dry-run"]);
    dry.expect_code(0).stdout_has(&[
        "Engine for web.service: seccomp (/usr/bin/busybox is statically linked).",
        "\n[Service]\nExecStart=\n",
        &expected_line,
    ]);
    for (args, why) in [
        (
            &["web.socket", "--engine", "seccomp"][..],
            "--engine applies to a service",
        ),
        (&["web", "--engine", "ptrace"], "invalid value"),
    ] {
        tree.run("enable", args).expect_code(2).stderr_has(&[why]);
    }
    assert_eq!(tree.snapshot(), before, "refusals write nothing");

    let rules = "loopback=0;listen=0;exclude=10.0.0.0/8";
    tree.run(
        "enable",
        &[
            "web",
            "--engine",
            "seccomp",
            "--no-listen",
            "--exclude",
            "10.0.0.0/8",
        ],
    )
    .expect_code(0);
    let dropin = tree.read(&format!("etc/systemd/system/web.service.d/{DROPIN}"));
    assert!(
        dropin.contains(&expected_line.replace("--engine auto", "--engine seccomp"))
            && dropin.ends_with(&format!("Environment=\"MPTCPIZE_RS_RULES={rules}\"\n")),
        "{dropin}"
    );
    let document = status_json(&tree, &[], 0);
    assert_eq!(document["units"][0]["rules"], rules, "{document}");
    assert_eq!(document["units"][0]["state"], "current", "{document}");

    tree.run("enable", &["web"]).expect_code(0);
    let dropin = tree.read(&format!("etc/systemd/system/web.service.d/{DROPIN}"));
    assert!(
        dropin.starts_with("# Written by `mptcpize-rs enable web.service`"),
        "{dropin}"
    );
    assert_eq!(tree.read("etc/systemd/system/web.service"), unit);
    let status = tree.run("status", &["web"]);
    status
        .expect_code(0)
        .stdout_has(&["web.service: enabled", "engine: seccomp"]);
    let document = status_json(&tree, &[], 0);
    assert_eq!(document["units"][0]["engine"], "seccomp", "{document}");
    assert_eq!(document["units"][0]["state"], "current", "{document}");
    // --engine preload is recorded: status compares with it, not with auto.
    tree.run("enable", &["web", "--engine", "preload"])
        .expect_code(0);
    let dropin = tree.read(&format!("etc/systemd/system/web.service.d/{DROPIN}"));
    assert!(dropin.contains("LD_PRELOAD="), "{dropin}");
    let document = status_json(&tree, &[], 0);
    assert_eq!(document["units"][0]["engine"], "preload", "{document}");
    assert_eq!(document["units"][0]["state"], "current", "{document}");
    // The binary replaced by a dynamically linked one: auto's drop-in is
    // out of date.
    tree.run("enable", &["web"]).expect_code(0);
    fs::copy(launcher(), &image_busybox).unwrap();
    let document = status_json(&tree, &[], 1);
    assert_eq!(document["units"][0]["state"], "out-of-date", "{document}");

    tree.run("disable", &["web"]).expect_code(0);
    assert!(
        !tree
            .root()
            .join("etc/systemd/system/web.service.d")
            .exists()
    );
    assert_eq!(tree.read("etc/systemd/system/web.service"), unit);
}

/// What the seccomp engine cannot wrap the same is refused with nothing
/// written, saying why: a later drop-in that sets `ExecStart=` (systemd
/// would apply it after the wrapped lines), `RootDirectory=`, a prefix
/// written as an escape (`\x2b` is `+` to systemd), a program named `;`,
/// and a bare name that is not in systemd's search path. A bare name that
/// is gets its full path.
#[test]
fn execstart_lines_the_seccomp_engine_cannot_wrap_the_same_are_refused() {
    let busybox = mptcpize_rs_tests::seccomp::static_busybox();
    let tree = Tree::new(
        "enable-seccomp-refusals",
        "[Service]\nExecStart=busybox httpd -f\n",
    );
    let image_busybox = tree.root().join("usr/bin/busybox");
    fs::create_dir_all(image_busybox.parent().unwrap()).unwrap();
    fs::copy(&busybox, &image_busybox).unwrap();
    let dry = tree.run("enable", &["web", "--dry-run"]);
    dry.expect_code(0)
        .stdout_has(&["--engine auto -- /usr/bin/busybox httpd -f\n"]);

    // (the unit, other files, what the refusal says)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            "[Service]\nExecStart=/usr/bin/busybox httpd\n",
            &[(
                "etc/systemd/system/web.service.d/zzz-local.conf",
                "[Service]\nExecStart=\n",
            )],
            "zzz-local.conf sets ExecStart= and sorts after zz-mptcpize-rs.conf",
        ),
        (
            "[Service]\nRootDirectory=/srv/jail\nExecStart=/usr/bin/busybox httpd\n",
            &[],
            "RootDirectory=/RootImage= /srv/jail",
        ),
        (
            "[Service]\nExecStart=\\x2b/usr/bin/busybox httpd\n",
            &[],
            "its first word is quoted or escaped",
        ),
        (
            "[Service]\nExecStart=-; /usr/bin/busybox echo\n",
            &[],
            "a program named `;`",
        ),
        (
            "[Service]\nExecStart=nosuchd -f\n",
            &[],
            "not found in systemd's search path",
        ),
    ];
    for (unit, extra, why) in cases {
        tree.write("etc/systemd/system/web.service", unit);
        for (path, text) in extra {
            tree.write(path, text);
        }
        let before = tree.snapshot();
        tree.run("enable", &["web", "--engine", "seccomp"])
            .expect_code(1)
            .stderr_has(&[why, "nothing written"]);
        assert_eq!(tree.snapshot(), before, "{unit}");
        for (path, _) in extra {
            fs::remove_file(tree.root().join(path)).unwrap();
        }
    }
}
