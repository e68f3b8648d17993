//! Issue 15, findings 3 to 5 (the systemd side), each reproduced as it
//! was found, offline on a `--root` tree (the real binary, real files):
//! a linked drop-in directory leading out of the image, a unit value that
//! injects lines into the drop-in, a shim others could replace preloaded
//! into a root service, a masked unit. The same under a real systemd is in
//! `systemd.rs`. Root (the shim checks need chown).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use mptcpize_contract::env;
use mptcpize_rs_tests::*;

const DROPIN: &str = "zz-mptcpize-rs.conf";
const WEB_UNIT: &str = "[Service]\nEnvironment=FOO=bar\nExecStart=/bin/true\n";

/// `mptcpize-rs SUBCOMMAND --root ROOT ARGS...`, with `env` set.
fn run(root: &Path, subcommand: &str, args: &[&str], env: &[(&str, &Path)]) -> CmdOutput {
    let mut cmd = Command::new(launcher());
    clean_env(&mut cmd);
    cmd.arg(subcommand).arg("--root").arg(root).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_timeout(&mut cmd, SHORT)
}

/// The attack: the image's `web.service.d` is a link to a host directory
/// (a temporary directory outside the root, standing for the host's /etc).
/// `enable` must not write there, `disable` must not delete there, `status`
/// and `--dry-run` must not read there; each says why.
#[test]
fn linked_dropin_directory_cannot_lead_out_of_the_image() {
    let host = TempDir::new("host-etc");
    write_file(&host.join("passwd"), "root:x:0:0::/root:/bin/sh\n");
    // What the attacker wants removed: a file with the drop-in's name.
    write_file(&host.join(DROPIN), "the host's own file\n");
    let image = TempDir::new("image");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    symlink(host.path(), image.join("etc/systemd/system/web.service.d")).unwrap();
    let before = (snapshot(host.path()), snapshot(image.path()));

    for (subcommand, args) in [
        ("enable", &["web"][..]),
        ("enable", &["web", "--dry-run"]),
        ("disable", &["web"]),
        ("disable", &["web", "--dry-run"]),
        ("status", &["web"]),
    ] {
        let out = run(image.path(), subcommand, args, &[]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("is a symbolic link") && out.stderr.contains("web.service.d"),
            "{subcommand} {args:?}:\n{out}"
        );
        assert_eq!(
            (snapshot(host.path()), snapshot(image.path())),
            before,
            "{subcommand} {args:?} changed a file"
        );
    }

    // Links elsewhere in the image resolve inside it, as systemd resolves
    // them under --root: /etc/systemd/system linked to a host directory
    // means the image's copy of that path, never the host's.
    let image2 = TempDir::new("image-abs-link");
    fs::create_dir_all(image2.join("etc/systemd")).unwrap();
    symlink(host.path(), image2.join("etc/systemd/system")).unwrap();
    let inside = image2.join(host.path().strip_prefix("/").unwrap());
    write_file(&inside.join("web.service"), WEB_UNIT);
    let host_before = snapshot(host.path());
    run(image2.path(), "enable", &["web"], &[]).expect_code(0);
    assert!(inside.join("web.service.d").join(DROPIN).is_file());
    run(image2.path(), "disable", &["web"], &[]).expect_code(0);
    assert_eq!(
        snapshot(host.path()),
        host_before,
        "the host's directory untouched"
    );
}

/// Unit files linked the way systemd aliases them keep working, resolved
/// inside the image; a link to a unit file on the host does not read it.
#[test]
fn unit_file_links_resolve_inside_the_image() {
    let image = TempDir::new("image-alias");
    let unit = "[Service]\nEnvironment=LD_PRELOAD=/opt/vendor.so\nExecStart=/bin/true\n";
    write_file(&image.join("usr/lib/systemd/system/real.service"), unit);
    fs::create_dir_all(image.join("etc/systemd/system")).unwrap();
    symlink(
        "/usr/lib/systemd/system/real.service",
        image.join("etc/systemd/system/web.service"),
    )
    .unwrap();
    symlink(
        "../../../usr/lib/systemd/system/real.service",
        image.join("etc/systemd/system/rel.service"),
    )
    .unwrap();
    for name in ["web", "rel"] {
        run(image.path(), "enable", &[name], &[]).expect_code(0);
        let dropin =
            fs::read_to_string(image.join(format!("etc/systemd/system/{name}.service.d/{DROPIN}")))
                .unwrap();
        assert!(dropin.contains("LD_PRELOAD=/opt/vendor.so:"), "{dropin}");
    }

    // A unit file linked to a host file: read inside the image, where it
    // does not exist, so there is no unit.
    let host = TempDir::new("host-unit");
    write_file(&host.join("secret.service"), unit);
    symlink(
        host.join("secret.service"),
        image.join("etc/systemd/system/leak.service"),
    )
    .unwrap();
    let out = run(image.path(), "enable", &["leak"], &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no unit file for leak.service"),
        "{out}"
    );
}

/// The attack: a unit whose GODEBUG and LD_PRELOAD values carry escaped
/// line ends and a directive. systemd decodes them into values with real
/// newlines; the drop-in must carry them as values again, escaped, and
/// have no line of their making.
#[test]
fn unit_values_cannot_inject_lines() {
    let image = TempDir::new("image-inject");
    let unit = "[Service]\n\
                Environment=\"GODEBUG=x\\n[Service]\\nExecStartPre=/bin/touch /tmp/pwned\"\n\
                Environment=LD_PRELOAD=/opt/a.so\\x0aExecStartPre=/bin/id\\r\\012User=root\n\
                ExecStart=/bin/true\n";
    write_file(&image.join("etc/systemd/system/web.service"), unit);
    run(image.path(), "enable", &["web"], &[]).expect_code(0);
    let dropin =
        fs::read_to_string(image.join(format!("etc/systemd/system/web.service.d/{DROPIN}")))
            .unwrap();
    let lines: Vec<&str> = dropin.lines().collect();
    assert_eq!(lines.len(), 5, "{dropin}");
    assert!(
        lines[0].starts_with('#') && lines[1].starts_with('#'),
        "{dropin}"
    );
    assert_eq!(lines[2], "[Service]", "{dropin}");
    assert!(
        lines[3..].iter().all(|l| l.starts_with("Environment=\"")),
        "{dropin}"
    );
    assert!(!dropin.contains('\r'), "{dropin}");
    let shim = shim().canonicalize().unwrap();
    assert!(
        dropin.contains(&format!(
            "Environment=\"LD_PRELOAD=/opt/a.so\\nExecStartPre=/bin/id\\r\\nUser=root:{}\"",
            shim.display()
        )),
        "{dropin}"
    );
    assert!(
        dropin.contains(
            "Environment=\"GODEBUG=x\\n[Service]\\nExecStartPre=/bin/touch /tmp/pwned,multipathtcp=1\""
        ),
        "{dropin}"
    );
    // status reads it back as current.
    let status = run(image.path(), "status", &["web"], &[]);
    status.expect_code(0);
    assert!(!status.stdout.contains("out of date"), "{status}");
}

/// A copy of the shim at `path` inside `image`, in a directory of mode
/// `dir_mode`, owned by `uid`.
fn plant_shim(image: &Path, path: &Path, dir_mode: u32, uid: u32) {
    let inside = image.join(path.strip_prefix("/").unwrap());
    let dir = inside.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    fs::copy(shim(), &inside).unwrap();
    fs::set_permissions(&inside, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(dir_mode)).unwrap();
    std::os::unix::fs::chown(&inside, Some(uid), None).unwrap();
}

/// The attack: a system service gets a shim others can replace (here
/// through MPTCPIZE_RS_PRELOAD, as a user's build directory would give
/// one). Refused, with how to install it properly; --force uses it with a
/// warning; --user services are the user's own business.
#[test]
fn shim_others_could_replace_is_refused_for_system_units() {
    require_root("chown of the planted shims");
    let host = TempDir::new("host-shim");
    let shim_dir = host.join("lib");
    fs::create_dir_all(&shim_dir).unwrap();
    let planted = shim_dir.join("libmptcpize_preload.so");
    fs::copy(shim(), &planted).unwrap();
    let env = [(env::PRELOAD.name(), planted.as_path())];
    for (tag, dir_mode, uid, why) in [
        (
            "world-writable",
            0o777,
            0,
            "writable by its group and others",
        ),
        ("group-writable", 0o775, 0, "writable by its group"),
        ("nobody's", 0o755, 65534, "owned by uid 65534"),
    ] {
        let image = TempDir::new("image-shim");
        write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
        plant_shim(image.path(), &planted, dir_mode, uid);
        let before = snapshot(image.path());
        for args in [&["web"][..], &["web", "--dry-run"]] {
            let out = run(image.path(), "enable", args, &env);
            out.expect_code(1);
            for expected in ["refusing to preload", why, "make install", "--force"] {
                assert!(
                    out.stderr.contains(expected),
                    "{tag} {args:?}: {expected:?} in\n{out}"
                );
            }
            assert_eq!(snapshot(image.path()), before, "{tag}: nothing written");
        }
        let forced = run(image.path(), "enable", &["web", "--force"], &env);
        forced.expect_code(0);
        assert!(
            forced.stderr.contains("warning") && forced.stderr.contains(why),
            "{tag}:\n{forced}"
        );
        let dropin =
            fs::read_to_string(image.join(format!("etc/systemd/system/web.service.d/{DROPIN}")))
                .unwrap();
        assert!(
            dropin.contains(&format!("LD_PRELOAD={}", planted.display())),
            "{dropin}"
        );
    }

    // A root-owned shim in root-only directories is accepted without a word.
    let image = TempDir::new("image-shim-good");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    plant_shim(image.path(), &planted, 0o755, 0);
    let out = run(image.path(), "enable", &["web"], &env);
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{out}");
}

/// A unit linked to /dev/null (systemctl mask) is masked: `status` says
/// so, `enable` refuses and writes nothing, `disable` still cleans up.
#[test]
fn masked_unit_is_refused_and_reported() {
    let image = TempDir::new("image-masked");
    write_file(&image.join("usr/lib/systemd/system/web.service"), WEB_UNIT);
    fs::create_dir_all(image.join("etc/systemd/system")).unwrap();
    symlink("/dev/null", image.join("etc/systemd/system/web.service")).unwrap();
    let before = snapshot(image.path());
    for args in [&["web"][..], &["web", "--dry-run"], &["web", "--force"]] {
        let out = run(image.path(), "enable", args, &[]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("web.service is masked") && out.stderr.contains("nothing written"),
            "{args:?}:\n{out}"
        );
        assert_eq!(snapshot(image.path()), before, "{args:?}");
    }
    let status = run(image.path(), "status", &["web"], &[]);
    status.expect_code(1);
    assert!(status.stdout.contains("web.service: masked"), "{status}");

    // An empty unit file masks too, as in systemd; a drop-in left from
    // before the mask is named by status and removed by disable.
    fs::remove_file(image.join("etc/systemd/system/web.service")).unwrap();
    run(image.path(), "enable", &["web"], &[]).expect_code(0);
    write_file(&image.join("etc/systemd/system/web.service"), "");
    let status = run(image.path(), "status", &["web"], &[]);
    status.expect_code(1);
    assert!(
        status.stdout.contains("web.service: masked") && status.stdout.contains("still there"),
        "{status}"
    );
    run(image.path(), "disable", &["web"], &[]).expect_code(0);
    assert!(!image.join("etc/systemd/system/web.service.d").exists());
}
