//! Issue 15, findings 3 to 5 (the systemd side), each reproduced as it
//! was found, offline on a `--root` tree (the real binary, real files):
//! a linked drop-in directory leading out of the image, a unit value that
//! injects lines into the drop-in, a shim others could replace preloaded
//! into a root service, a masked unit. The same under a real systemd is in
//! `systemd.rs`. Root (the shim checks need chown).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
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

/// `mptcpize-rs ARGS...` without `--root`, with `env` set (HOME for
/// `--user`).
fn run_plain(args: &[&str], env: &[(&str, &Path)]) -> CmdOutput {
    let mut cmd = Command::new(launcher());
    clean_env(&mut cmd);
    cmd.args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_timeout(&mut cmd, SHORT)
}

/// The review's `--root` swap (finding 1): whatever DIR is replaced with
/// after the command opened it changes nothing (the launcher's unit test
/// `a_root_swapped_after_the_open_changes_nothing` swaps between the
/// steps); replaced before, with a link to `/`, the command refuses it and
/// says to use no --root. Messages name the directory as resolved.
#[test]
fn a_root_that_resolves_to_the_host_is_refused() {
    let dir = TempDir::new("root-link");
    let link = dir.join("img");
    symlink("/", &link).unwrap();
    let unit = "mptcpize-rs-test-nosuch";
    for (subcommand, args) in [
        ("enable", &[unit, "--dry-run"][..]),
        ("disable", &[unit, "--dry-run"]),
        ("status", &[unit]),
    ] {
        for root in [Path::new("/"), &link] {
            let out = run(root, subcommand, args, &[]);
            out.expect_code(2);
            assert!(
                out.stderr.contains("resolves to /") && out.stderr.contains("without --root"),
                "{subcommand} {}:\n{out}",
                root.display()
            );
        }
    }
    // A link to a real image works, and messages name the image itself.
    let image = TempDir::new("root-target");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    fs::remove_file(&link).unwrap();
    symlink(image.path(), &link).unwrap();
    let out = run(&link, "enable", &["web", "--dry-run"], &[]);
    out.expect_code(0);
    let resolved = image.path().canonicalize().unwrap();
    assert!(
        out.stdout.contains(&format!(
            "Would write {}/etc/systemd/system/web.service.d/{DROPIN}",
            resolved.display()
        )),
        "{out}"
    );
}

/// The largest resident set of any child waited for so far, in KiB.
fn children_max_rss_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: a valid out-pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: getrusage succeeded.
    unsafe { usage.assume_init() }.ru_maxrss
}

/// The review's sparse drop-in (finding 2): a 64 MiB file of NUL bytes,
/// which costs the image nothing, made `status --root` use 2.7 GB. Unit
/// files and drop-ins over 1 MiB are refused, named, without reading them.
#[test]
fn huge_sparse_unit_files_are_refused_by_name() {
    let image = TempDir::new("image-sparse");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    let sparse = |path: &Path| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::File::create(path).unwrap().set_len(64 << 20).unwrap();
    };
    let other = image.join("etc/systemd/system/web.service.d/10-big.conf");
    sparse(&other);
    let ours = image.join(format!("etc/systemd/system/web.service.d/{DROPIN}"));
    sparse(&ours);
    let before = snapshot_sizes(image.path());
    for (subcommand, args, named) in [
        ("status", &["web"][..], DROPIN),
        ("enable", &["web"], "10-big.conf"),
        ("enable", &["web", "--dry-run"], "10-big.conf"),
    ] {
        let out = run(image.path(), subcommand, args, &[]);
        out.expect_code(1);
        assert!(
            out.stderr.contains(named) && out.stderr.contains("is larger than 1024 KiB"),
            "{subcommand} {args:?}:\n{out}"
        );
    }
    // Our own drop-in read fine, the other one is still refused.
    fs::write(&ours, "").unwrap();
    let out = run(image.path(), "status", &["web"], &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("10-big.conf is larger than 1024 KiB"),
        "{out}"
    );
    fs::File::create(&ours).unwrap().set_len(64 << 20).unwrap();
    assert_eq!(snapshot_sizes(image.path()), before, "nothing written");
    // A unit file too: named, refused.
    fs::remove_dir_all(image.join("etc/systemd/system/web.service.d")).unwrap();
    sparse(&image.join("etc/systemd/system/web.service"));
    let out = run(image.path(), "enable", &["web"], &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("web.service is larger than 1024 KiB"),
        "{out}"
    );
    let rss = children_max_rss_kib();
    assert!(rss < 200 * 1024, "a child used {rss} KiB");
}

/// Every entry under `dir` and its size (the sparse files are not read).
fn snapshot_sizes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(dir: &Path, into: &mut BTreeMap<PathBuf, u64>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                walk(&entry.path(), into);
            }
            into.insert(entry.path(), meta.len());
        }
    }
    let mut sizes = BTreeMap::new();
    walk(dir, &mut sizes);
    sizes
}

/// A FIFO at `path` with a writer blocked opening it. The returned
/// function releases the writer and says whether anyone had opened the
// The launcher's unit tests (systemd/in_root.rs) have their own copy:
// they cannot use this crate's helpers, nor this crate theirs.
/// FIFO for reading before (which would have let the writer through).
fn fifo_with_writer(path: &Path) -> impl FnOnce() -> bool + use<> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    let opened = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&opened);
    let writer_path = path.to_path_buf();
    let writer = std::thread::spawn(move || {
        let file = fs::OpenOptions::new().write(true).open(&writer_path);
        flag.store(true, Ordering::SeqCst);
        drop(file);
    });
    let path = path.to_path_buf();
    move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let before = opened.load(Ordering::SeqCst);
        let reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        writer.join().unwrap();
        drop(reader);
        before
    }
}

/// A character device with a major number no driver has here: opening
/// it fails with ENXIO, so an open would show in the message.
fn unused_char_device(path: &Path) {
    let used = fs::read_to_string("/proc/devices").unwrap();
    let used: Vec<u32> = used
        .lines()
        .take_while(|line| !line.starts_with("Block"))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect();
    // The majors Linux keeps for local and experimental use.
    let major = (60..=63)
        .chain(120..=127)
        .chain(240..=254)
        .find(|m| !used.contains(m))
        .expect("a free experimental character major");
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path; makedev has no preconditions.
    let made = unsafe {
        libc::mknod(
            name.as_ptr(),
            libc::S_IFCHR | 0o644,
            libc::makedev(major, 0),
        )
    };
    assert_eq!(made, 0, "mknod: {}", std::io::Error::last_os_error());
}

/// The review's device node (finding 3): a FIFO or device planted at the
/// drop-in's path, or among the unit's drop-ins or as its unit file, is
/// never opened (a writer waiting on the FIFO stays blocked; the device's
/// open would fail with ENXIO); at the drop-in's path each command says
/// what is there, without hanging.
#[test]
fn devices_and_fifos_in_an_image_are_never_opened() {
    require_root("mknod of a character device");
    let image = TempDir::new("image-fifo");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    let dir = image.join("etc/systemd/system/web.service.d");
    fs::create_dir_all(&dir).unwrap();
    let release = fifo_with_writer(&dir.join(DROPIN));
    let other = fifo_with_writer(&dir.join("10-other.conf"));
    for (subcommand, args) in [
        ("enable", &["web"][..]),
        ("enable", &["web", "--dry-run"]),
        ("status", &["web"]),
    ] {
        let out = run(image.path(), subcommand, args, &[]);
        out.expect_code(1);
        assert!(
            out.stderr
                .contains(&format!("{DROPIN} is a FIFO, not a regular file")),
            "{subcommand} {args:?}:\n{out}"
        );
    }
    assert!(!release(), "the drop-in FIFO was opened for reading");
    assert!(!other(), "a FIFO among the drop-ins was opened for reading");

    fs::remove_file(dir.join(DROPIN)).unwrap();
    fs::remove_file(dir.join("10-other.conf")).unwrap();
    unused_char_device(&dir.join(DROPIN));
    for (subcommand, args) in [("enable", &["web"][..]), ("status", &["web"])] {
        let out = run(image.path(), subcommand, args, &[]);
        out.expect_code(1);
        assert!(
            out.stderr.contains(&format!(
                "{DROPIN} is a character device, not a regular file"
            )) && !out.stderr.contains("No such device"),
            "{subcommand} {args:?}:\n{out}"
        );
    }
    // disable removes it without opening it.
    run(image.path(), "disable", &["web"], &[]).expect_code(0);
    assert!(!dir.exists());

    // As the unit file: a FIFO is no unit (and is not opened).
    fs::remove_file(image.join("etc/systemd/system/web.service")).unwrap();
    let unit = fifo_with_writer(&image.join("etc/systemd/system/web.service"));
    let out = run(image.path(), "enable", &["web"], &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("no unit file for web.service"), "{out}");
    assert!(!unit(), "the unit file FIFO was opened for reading");
}

/// Finding 4: text from the image reaches the terminal escaped: a linked
/// drop-in directory's target and the shim check's path, both holding
/// ESC and BEL, come out without a raw control character.
#[test]
fn image_text_in_messages_is_escaped() {
    require_root("the shim planted root-owned");
    let evil = "x\u{1b}]0;owned\u{7}";
    let image = TempDir::new("image-esc");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    symlink(
        format!("/{evil}"),
        image.join("etc/systemd/system/web.service.d"),
    )
    .unwrap();
    for (subcommand, args) in [
        ("enable", &["web"][..]),
        ("status", &["web"]),
        ("disable", &["web"]),
    ] {
        let out = run(image.path(), subcommand, args, &[]);
        out.expect_code(1);
        assert!(out.stderr.contains("is a symbolic link"), "{out}");
        assert!(
            !out.stderr.contains(['\u{1b}', '\u{7}']) && !out.stdout.contains(['\u{1b}', '\u{7}']),
            "{subcommand}: raw control characters in\n{out:?}"
        );
        assert!(out.stderr.contains("\\u{1b}]0;owned\\u{7}"), "{out}");
    }

    // The shim, in the image, a link into a world-writable directory
    // whose name holds ESC: the refusal names it, escaped.
    let host = TempDir::new("host-shim-esc");
    let shim_path = host.join("libmptcpize_preload.so");
    fs::copy(shim(), &shim_path).unwrap();
    let image = TempDir::new("image-shim-esc");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    let inside = image.join(shim_path.strip_prefix("/").unwrap());
    fs::create_dir_all(inside.parent().unwrap()).unwrap();
    let target_dir = image.join(evil);
    fs::create_dir_all(&target_dir).unwrap();
    fs::set_permissions(&target_dir, fs::Permissions::from_mode(0o777)).unwrap();
    fs::copy(shim(), target_dir.join("lib.so")).unwrap();
    symlink(format!("/{evil}/lib.so"), &inside).unwrap();
    let out = run(
        image.path(),
        "enable",
        &["web"],
        &[("MPTCPIZE_RS_PRELOAD", &shim_path)],
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("refusing to preload")
            && out.stderr.contains("\\u{1b}]0;owned\\u{7} is writable by"),
        "{out}"
    );
    assert!(!out.stderr.contains(['\u{1b}', '\u{7}']), "{out:?}");
}

/// Finding 5: a `%` in the shim's path is written `%%`, so systemd's
/// specifier expansion gives the path back (`/opt/50%off` would otherwise
/// lose a character or fail); a path that is not UTF-8 is refused, not
/// rewritten into another path.
#[test]
fn shim_path_is_written_as_systemd_reads_it() {
    require_root("the shim planted root-owned");
    let host = TempDir::new("host-shim-pct");
    let shim_dir = host.join("50%off");
    fs::create_dir_all(&shim_dir).unwrap();
    let planted = shim_dir.join("libmptcpize_preload.so");
    fs::copy(shim(), &planted).unwrap();
    let image = TempDir::new("image-shim-pct");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    plant_shim(image.path(), &planted, 0o755, 0);
    let env = [("MPTCPIZE_RS_PRELOAD", planted.as_path())];
    let out = run(image.path(), "enable", &["web"], &env);
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{out}");
    let dropin =
        fs::read_to_string(image.join(format!("etc/systemd/system/web.service.d/{DROPIN}")))
            .unwrap();
    let escaped = format!("{}/50%%off/libmptcpize_preload.so", host.path().display());
    assert!(
        dropin.contains(&format!("Environment=\"LD_PRELOAD={escaped}\"\n")),
        "{dropin}"
    );
    let status = run(image.path(), "status", &["web"], &env);
    status.expect_code(0);
    assert!(!status.stdout.contains("out of date"), "{status}");

    use std::os::unix::ffi::OsStrExt;
    let odd = host.join(std::ffi::OsStr::from_bytes(b"bad\xffname"));
    fs::create_dir_all(&odd).unwrap();
    let planted = odd.join("libmptcpize_preload.so");
    fs::copy(shim(), &planted).unwrap();
    let image = TempDir::new("image-shim-utf8");
    write_file(&image.join("etc/systemd/system/web.service"), WEB_UNIT);
    plant_shim(image.path(), &planted, 0o755, 0);
    let before = snapshot(image.path());
    for args in [&["web"][..], &["web", "--dry-run"]] {
        let out = run(
            image.path(),
            "enable",
            args,
            &[("MPTCPIZE_RS_PRELOAD", &planted)],
        );
        out.expect_code(1);
        assert!(out.stderr.contains("is not valid UTF-8"), "{out}");
        assert_eq!(snapshot(image.path()), before, "nothing written");
    }
}

/// Finding 6: root with another user's HOME (`sudo -E`) would read and
/// write as root under that user's ~/.config: `--user` is refused unless
/// the effective user owns HOME.
#[test]
fn user_scope_needs_ones_own_home() {
    require_root("chown of the home directory");
    let home = TempDir::new("other-home");
    let units = home.join(".config/systemd/user");
    write_file(&units.join("sync.service"), WEB_UNIT);
    std::os::unix::fs::chown(home.path(), Some(65534), Some(65534)).unwrap();
    let before = snapshot(home.path());
    for args in [
        &["enable", "--user", "sync"][..],
        &["disable", "--user", "sync"],
        &["status", "--user", "sync"],
    ] {
        let out = run_plain(args, &[("HOME", home.path())]);
        out.expect_code(1);
        assert!(
            out.stderr
                .contains("belongs to uid 65534, not to you (uid 0)")
                && out.stderr.contains("without sudo"),
            "{args:?}:\n{out}"
        );
        assert_eq!(snapshot(home.path()), before, "{args:?}: nothing written");
    }
    // One's own home works.
    std::os::unix::fs::chown(home.path(), Some(0), Some(0)).unwrap();
    run_plain(&["enable", "--user", "sync"], &[("HOME", home.path())]).expect_code(0);
    assert!(units.join("sync.service.d").join(DROPIN).is_file());
}
