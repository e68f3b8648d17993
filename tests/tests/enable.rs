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
        "web.socket",
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
