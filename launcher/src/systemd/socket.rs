//! Socket activation: the `[Socket]` drop-in `enable NAME.socket` writes
//! (`SocketProtocol=mptcp`, which systemd 257 and later understand), the
//! systemd version that will read it, and how `enable NAME.service` finds
//! the sockets that activate a service.
//!
//! A socket-activated service gets its listener from systemd (PID 1), which
//! created it: the shim preloaded into the service never sees that
//! `socket()` call, so only `SocketProtocol=mptcp` in the socket unit makes
//! the listener MPTCP.

use std::io;
use std::path::{Path, PathBuf};

use crate::check::SOCKET_PROTOCOL_MPTCP_SINCE as SINCE;
use crate::failure::Failure;
use crate::systemd::in_root::Tree;
use crate::systemd::unit_name::UnitName;
use crate::systemd::{Scope, UnitFile};
use crate::terminal::printable;

/// The drop-in for the socket unit `unit`; `undo` is the command that
/// removes it.
pub fn render(unit: &UnitName, undo: &str) -> String {
    format!(
        "# Written by `mptcpize-rs enable {unit}`: systemd (257 or later) creates this\n\
         # socket's listeners as Multipath TCP. Undo with `{undo}`.\n\
         [Socket]\n\
         SocketProtocol=mptcp\n"
    )
}

/// The version of the systemd that will read the drop-in, and where it was
/// learned (printable), or why it is unknown. On the running system:
/// `systemctl --version`. Under `--root`: the image's own systemd, from the
/// name of its `libsystemd-shared-NNN.so` (every systemd since 231 ships
/// one, named after its version), looked up inside the tree.
pub fn target_version(scope: &Scope, tree: &Tree) -> Result<(u32, String), String> {
    if scope.root.is_none() {
        return crate::check::host_systemd_version()
            .map(|(version, text)| (version, format!("this host ({})", printable(&text))));
    }
    image_version(tree)
}

/// Directories an image's `libsystemd-shared-NNN.so` is in (Arch, older
/// Debian: /usr/lib/systemd; Fedora, RHEL, SUSE: /usr/lib64/systemd); the
/// multiarch ones (Debian, Ubuntu: /usr/lib/x86_64-linux-gnu/systemd) are
/// found by [`shared_library_dirs`].
const SHARED_LIBRARY_DIRS: &[&str] = &[
    "/usr/lib/systemd",
    "/usr/lib64/systemd",
    "/lib/systemd",
    "/lib64/systemd",
];

/// [`SHARED_LIBRARY_DIRS`] and `/usr/lib/TRIPLET/systemd` for each
/// multiarch directory (`x86_64-linux-gnu`, `aarch64-linux-gnu`, ...).
fn shared_library_dirs(tree: &Tree) -> io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = SHARED_LIBRARY_DIRS.iter().map(PathBuf::from).collect();
    let mut triplets: Vec<_> = tree
        .list(Path::new("/usr/lib"))?
        .into_iter()
        .filter(|name| name.to_string_lossy().contains("-linux-"))
        .collect();
    triplets.sort();
    dirs.extend(
        triplets
            .iter()
            .map(|triplet| Path::new("/usr/lib").join(triplet).join("systemd")),
    );
    Ok(dirs)
}

fn image_version(tree: &Tree) -> Result<(u32, String), String> {
    let top = tree.show(Path::new("/"));
    let unreadable = |dir: &Path, e: io::Error| {
        format!(
            "cannot list {}: {}",
            tree.show(dir),
            printable(&e.to_string())
        )
    };
    let dirs = shared_library_dirs(tree).map_err(|e| unreadable(Path::new("/usr/lib"), e))?;
    for dir in &dirs {
        let names = tree.list(dir).map_err(|e| unreadable(dir, e))?;
        let found = names
            .iter()
            .filter_map(|name| shared_library_version(&name.to_string_lossy()))
            .max();
        if let Some(version) = found {
            return Ok((
                version,
                format!(
                    "{top} (its {}/libsystemd-shared-{version}*.so)",
                    printable(&dir.to_string_lossy())
                ),
            ));
        }
    }
    Err(format!(
        "no libsystemd-shared-NNN.so in {top}'s {}, or /usr/lib/*-linux-*/systemd",
        SHARED_LIBRARY_DIRS.join(", ")
    ))
}

/// `libsystemd-shared-252.so` → 252; Fedora's
/// `libsystemd-shared-255.13-1.fc40.so` → 255.
fn shared_library_version(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("libsystemd-shared-")?;
    if !rest.ends_with(".so") {
        return None;
    }
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `enable NAME.socket`'s check: the systemd that will read the drop-in
/// must be 257 or later. An older one is refused (an older systemd only
/// logs "Unknown key" and keeps TCP); an unknown one too, unless `force`.
pub fn check_supported(
    unit: &UnitName,
    version: &Result<(u32, String), String>,
    force: bool,
) -> Result<(), Failure> {
    match version {
        Ok((version, _)) if *version >= SINCE => Ok(()),
        Ok((version, place)) => Err(Failure::new(format!(
            "{unit}: SocketProtocol=mptcp needs systemd {SINCE} or later, and {place} has \
             systemd {version}, which ignores it; nothing written. The listener systemd \
             creates for {unit} stays TCP. Either let the service open its own listener (stop \
             using the socket, systemctl disable --now {unit}, and enable the service: \
             mptcpize-rs enable SERVICE), so that the shim makes it MPTCP, or upgrade systemd \
             to {SINCE} or later."
        ))),
        Err(why) if force => {
            eprintln!(
                "mptcpize-rs: warning: the systemd version is unknown ({why}); writing \
                 SocketProtocol=mptcp for {unit} anyway (--force): systemd before {SINCE} \
                 ignores it and keeps TCP."
            );
            Ok(())
        }
        Err(why) => Err(Failure::new(format!(
            "{unit}: SocketProtocol=mptcp needs systemd {SINCE} or later, and the version \
             of the systemd that will read it is unknown ({why}); nothing written. \
             --force writes it anyway (systemd before {SINCE} ignores it)."
        ))),
    }
}

/// `enable NAME.socket`'s other check: a socket whose unit file listens
/// only on Unix or vsock stream sockets (`ListenStream=/run/x.sock`) has no
/// TCP listener to make MPTCP, so it is refused. (Listeners set only in
/// drop-ins count: systemd reads them.)
pub fn check_has_tcp_listener(scope: &Scope, tree: &Tree, unit: &UnitName) -> Result<(), Failure> {
    let text = unit_text(scope, tree, unit.as_str())
        .map_err(|e| Failure::new(format!("cannot read {unit}'s files: {e}")))?;
    if text.as_deref().and_then(tcp_listener) == Some(false) {
        return Err(Failure::new(format!(
            "{unit} listens only on Unix (or vsock) sockets (ListenStream= with a path), \
             which are never TCP: SocketProtocol=mptcp has nothing to change there; \
             nothing written."
        )));
    }
    Ok(())
}

/// Whether a socket unit's `ListenStream=` lines include a TCP one (a port
/// or an address, not a path, `@abstract` or `vsock:` name); `None`
/// without any.
fn tcp_listener(text: &[String]) -> Option<bool> {
    let values = setting_values(text, "Socket", "ListenStream");
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .any(|v| !(v.starts_with('/') || v.starts_with('@') || v.starts_with("vsock:"))),
    )
}

/// A socket unit that activates a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    /// The socket unit's name (printable).
    pub socket: String,
    /// `Accept=yes`: systemd accepts each connection and starts one
    /// instance of the service's template for it.
    pub accept: bool,
    /// Named in the service's `Sockets=` (rather than found by name).
    pub named: bool,
}

/// The socket units that activate the service `unit`: those its unit file
/// names in `Sockets=`, and the socket of the same name (`web.socket` for
/// `web.service` unless that socket has `Accept=yes`; `app.socket` with
/// `Accept=yes` for `app@.service` and its instances).
pub fn activating_sockets(
    scope: &Scope,
    tree: &Tree,
    unit: &UnitName,
) -> io::Result<Vec<Activation>> {
    let mut found: Vec<Activation> = Vec::new();
    let names: Vec<String> = [Some(unit.to_string()), unit.template()]
        .into_iter()
        .flatten()
        .collect();
    let mut service_text = None;
    for name in &names {
        if let Some(text) = unit_text(scope, tree, name)? {
            service_text = Some(text);
            break;
        }
    }
    if let Some(text) = service_text {
        for value in setting_values(&text, "Service", "Sockets") {
            for socket in value.split_whitespace() {
                let Ok(socket_unit) = UnitName::parse(socket) else {
                    continue;
                };
                let accept = match unit_text(scope, tree, socket_unit.as_str())? {
                    Some(text) if tcp_listener(&text) != Some(false) => accepts(&text),
                    _ => continue,
                };
                if !found.iter().any(|a| a.socket == socket_unit.as_str()) {
                    found.push(Activation {
                        socket: printable(socket_unit.as_str()),
                        accept,
                        named: true,
                    });
                }
            }
        }
    }
    let (prefix, templated) = match unit.stem().split_once('@') {
        Some((prefix, _)) => (prefix, true),
        None => (unit.stem(), false),
    };
    let own = format!("{prefix}.socket");
    if !found.iter().any(|a| a.socket == own)
        && let Some(text) = unit_text(scope, tree, &own)?
        && tcp_listener(&text) != Some(false)
    {
        let accept = accepts(&text);
        if accept == templated {
            found.push(Activation {
                socket: printable(&own),
                accept,
                named: false,
            });
        }
    }
    Ok(found)
}

/// The texts systemd reads for unit `name`: its unit file, then its
/// drop-ins in systemd's order (mptcpize-rs's own left out); `None` when
/// there is no unit file or it is masked.
fn unit_text(scope: &Scope, tree: &Tree, name: &str) -> io::Result<Option<Vec<String>>> {
    let Ok(unit) = UnitName::parse(name) else {
        return Ok(None);
    };
    let (texts, unit_file) = scope.unit_texts_without_ours(tree, &unit)?;
    Ok(matches!(unit_file, UnitFile::Found(_)).then(|| {
        texts
            .iter()
            .map(|(_, text)| String::from_utf8_lossy(text).into_owned())
            .collect()
    }))
}

/// The values of `key=` in `[section]` over the unit's texts in order; an
/// empty assignment resets the list, as systemd does for list settings.
/// (Simple lines only: enough for `Sockets=`, `Accept=` and
/// `ListenStream=`, which are never continued.)
fn setting_values(texts: &[String], section: &str, key: &str) -> Vec<String> {
    let mut values = Vec::new();
    for text in texts {
        // Each file starts outside any section.
        let mut current = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.to_string();
                continue;
            }
            if current != section {
                continue;
            }
            if let Some((k, v)) = line.split_once('=')
                && k.trim() == key
            {
                let v = v.trim();
                if v.is_empty() {
                    values.clear();
                } else {
                    values.push(v.to_string());
                }
            }
        }
    }
    values
}

/// Whether a socket unit's text sets `Accept=yes` (the last assignment wins).
fn accepts(text: &[String]) -> bool {
    setting_values(text, "Socket", "Accept")
        .last()
        .is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "yes" | "y" | "true" | "t" | "on" | "1"
            )
        })
}

/// What `enable SERVICE` says when systemd activates the service through
/// `sockets`: the listener is systemd's, and what to do about it with the
/// systemd `version` there. `enable_socket` is the command that enables
/// one socket, with the socket's name appended.
pub fn activation_note(
    unit: &UnitName,
    sockets: &[Activation],
    version: &Result<(u32, String), String>,
    enable_socket: &str,
) -> String {
    let described: Vec<String> = sockets
        .iter()
        .map(|a| {
            let mut text = a.socket.clone();
            match (a.named, a.accept) {
                (true, true) => text += " (Sockets=, Accept=yes)",
                (true, false) => text += " (Sockets=)",
                (false, true) => text += " (Accept=yes: one instance per connection)",
                (false, false) => {}
            }
            text
        })
        .collect();
    let names: Vec<&str> = sockets.iter().map(|a| a.socket.as_str()).collect();
    let commands: Vec<String> = names
        .iter()
        .map(|name| format!("`{enable_socket}{name}`"))
        .collect();
    let mut note = format!(
        "Note: {unit} is socket-activated by {}: systemd creates that listener and passes it \
         to the service, so the shim cannot make it MPTCP; the sockets {unit} opens itself \
         (its own listeners, outgoing connections) do become MPTCP. ",
        described.join(", ")
    );
    match version {
        Ok((version, _)) if *version >= SINCE => {
            note += &format!(
                "systemd {version} can create the listener as MPTCP: run {} too (with --now \
                 to apply it at once: the socket restarts and {unit} starts again on the next \
                 connection).",
                commands.join(" and ")
            );
        }
        Ok((version, _)) => {
            note += &format!(
                "systemd {version} cannot (SocketProtocol=mptcp needs systemd {SINCE}): the \
                 listener passed by systemd stays TCP. For an MPTCP listener, let the service \
                 open its own listener (without {}), or upgrade systemd.",
                names.join(", ")
            );
        }
        Err(_) => {
            note += &format!(
                "With systemd {SINCE} or later, {} makes the listener MPTCP too.",
                commands.join(" and ")
            );
        }
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;

    #[test]
    fn socket_dropin() {
        let unit = UnitName::parse("web.socket").unwrap();
        assert_eq!(
            render(&unit, "mptcpize-rs disable web.socket"),
            "# Written by `mptcpize-rs enable web.socket`: systemd (257 or later) creates this\n\
             # socket's listeners as Multipath TCP. Undo with `mptcpize-rs disable web.socket`.\n\
             [Socket]\n\
             SocketProtocol=mptcp\n"
        );
    }

    #[test]
    fn versions_from_library_names() {
        assert_eq!(
            shared_library_version("libsystemd-shared-252.so"),
            Some(252)
        );
        assert_eq!(
            shared_library_version("libsystemd-shared-255.13-1.fc40.so"),
            Some(255)
        );
        assert_eq!(shared_library_version("libsystemd-shared.so"), None);
        assert_eq!(shared_library_version("libsystemd-core-257.so"), None);
        assert_eq!(shared_library_version("libsystemd-shared-257.so.0x"), None);
    }

    #[test]
    fn image_versions() {
        let scratch = ScratchDir::new("socket-image-version");
        let tree = Tree::open(scratch.path()).unwrap();
        let error = image_version(&tree).unwrap_err();
        assert!(error.contains("no libsystemd-shared-NNN.so"), "{error}");
        // Debian and Ubuntu: the multiarch directory.
        let debian = "usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so";
        scratch.file(debian, b"elf", 0o644);
        let (version, place) = image_version(&tree).unwrap();
        assert_eq!(version, 252);
        assert!(place.contains("x86_64-linux-gnu"), "{place}");
        scratch.file(
            "usr/lib64/systemd/libsystemd-shared-257.1-1.fc42.so",
            b"elf",
            0o644,
        );
        assert_eq!(image_version(&tree).unwrap().0, 257);
    }

    #[test]
    fn version_rule() {
        let unit = UnitName::parse("web.socket").unwrap();
        let v = |n| Ok((n, "here".to_string()));
        assert!(check_supported(&unit, &v(257), false).is_ok());
        assert!(check_supported(&unit, &v(258), false).is_ok());
        let old = check_supported(&unit, &v(252), true)
            .unwrap_err()
            .to_string();
        assert!(
            old.contains("needs systemd 257") && old.contains("systemd 252"),
            "{old}"
        );
        assert!(old.contains("own listener") && old.contains("upgrade systemd"));
        let unknown = Err("no idea".to_string());
        let error = check_supported(&unit, &unknown, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown") && error.contains("--force"),
            "{error}"
        );
        assert!(check_supported(&unit, &unknown, true).is_ok());
    }

    #[test]
    fn finds_the_sockets_that_activate_a_service() {
        let scratch = ScratchDir::new("socket-activation");
        let dir = "etc/systemd/system";
        let file = |name: &str, text: &str| {
            scratch.file(&format!("{dir}/{name}"), text.as_bytes(), 0o644);
        };
        file("web.service", "[Service]\nExecStart=/bin/web\n");
        file("web.socket", "[Socket]\nListenStream=80\n");
        file("echo@.service", "[Service]\nExecStart=/bin/cat\n");
        file("echo.socket", "[Socket]\nListenStream=7\nAccept=yes\n");
        file("echo.service", "[Service]\nExecStart=/bin/cat\n");
        file(
            "multi.service",
            "[Service]\nSockets=a.socket b.socket\nExecStart=/bin/x\n",
        );
        file("a.socket", "[Socket]\nListenStream=1\n");
        file("b.socket", "[Socket]\nListenStream=2\n");
        file("plain.service", "[Service]\nExecStart=/bin/x\n");
        // A Unix socket's listener is no TCP: not reported.
        file("bus.service", "[Service]\nExecStart=/bin/x\n");
        file("bus.socket", "[Socket]\nListenStream=/run/bus.sock\n");
        // Settings in drop-ins count, as systemd reads them: Sockets= in
        // the service's, Accept= and ListenStream= in the socket's.
        file("dd.service", "[Service]\nExecStart=/bin/x\n");
        file("dd.service.d/sockets.conf", "[Service]\nSockets=c.socket\n");
        file("c.socket", "[Socket]\nListenStream=/run/c.sock\n");
        file(
            "c.socket.d/tcp.conf",
            "[Socket]\nListenStream=8080\nAccept=yes\n",
        );
        file("unixed.service", "[Service]\nExecStart=/bin/x\n");
        file("unixed.socket", "[Socket]\nListenStream=80\n");
        file(
            "unixed.socket.d/unix.conf",
            "[Socket]\nListenStream=\nListenStream=/run/u\n",
        );
        let tree = Tree::open(scratch.path()).unwrap();
        let scope = Scope {
            root: Some(scratch.path().to_path_buf()),
            user: None,
        };
        let find = |name: &str| {
            let unit = UnitName::parse(name).unwrap();
            activating_sockets(&scope, &tree, &unit).unwrap()
        };
        let socket = |name: &str, accept, named| Activation {
            socket: name.to_string(),
            accept,
            named,
        };
        assert_eq!(find("web"), [socket("web.socket", false, false)]);
        assert_eq!(find("echo@.service"), [socket("echo.socket", true, false)]);
        assert_eq!(find("echo@3.service"), [socket("echo.socket", true, false)]);
        // An Accept=yes socket starts echo@.service, not echo.service.
        assert_eq!(find("echo"), []);
        assert_eq!(
            find("multi"),
            [
                socket("a.socket", false, true),
                socket("b.socket", false, true)
            ]
        );
        assert_eq!(find("plain"), []);
        assert_eq!(find("bus"), []);
        assert_eq!(find("dd"), [socket("c.socket", true, true)]);
        assert_eq!(find("unixed"), []);
        // A drop-in's section starts afresh: a file without one sets nothing.
        let texts = [
            "[Socket]\n".to_string(),
            "ListenStream=/run/x\n".to_string(),
        ];
        assert_eq!(tcp_listener(&texts), None);
        assert_eq!(
            tcp_listener(&["[Socket]\nListenStream=/run/a\nListenStream=@b\n".into()]),
            Some(false)
        );
        assert_eq!(
            tcp_listener(&["[Socket]\nListenStream=/run/a\nListenStream=[::]:80\n".into()]),
            Some(true)
        );
        assert_eq!(
            tcp_listener(&["[Socket]\nListenStream=127.0.0.1:80\n".into()]),
            Some(true)
        );
        assert_eq!(
            tcp_listener(&["[Socket]\nListenDatagram=53\n".into()]),
            None
        );
        let note = activation_note(
            &UnitName::parse("web").unwrap(),
            &find("web"),
            &Ok((252, "x".into())),
            "mptcpize-rs enable ",
        );
        assert!(
            note.contains("stays TCP") && note.contains("opens itself"),
            "{note}"
        );
        let note = activation_note(
            &UnitName::parse("web").unwrap(),
            &find("web"),
            &Ok((257, "x".into())),
            "mptcpize-rs enable ",
        );
        assert!(note.contains("`mptcpize-rs enable web.socket`"), "{note}");
    }
}
