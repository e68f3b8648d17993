//! Which engine `enable` gives a service, and the drop-in it writes for it
//! (also what `status` compares the drop-in on disk with):
//!
//! - preload: `LD_PRELOAD` and `GODEBUG` in the service's environment
//!   ([`dropin::render`]);
//! - seccomp: the `ExecStart=` lines wrapped in `mptcpize-rs run
//!   --keep-pid` ([`dropin::render_seccomp`]).
//!
//! `--engine auto` (the default) chooses as `run` does, from the
//! `ExecStart=` binaries read inside the tree: seccomp when one is
//! statically linked or a Go program (and not set-ID), preload otherwise.
//! The target's kernel is not asked here (with `--root` it is not this
//! one): the wrapped lines say `--engine auto`, so a kernel without the
//! seccomp engine falls back to preload when the service starts.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::engine::preload::shim;
use crate::engine::{self, Engine, EngineOption, ProgramFacts, Reason};
use crate::failure::Failure;
use crate::run::elf;
use crate::run::program::PreloadObstacle;
use crate::systemd::in_root::{self, Tree};
use crate::systemd::unit_env::ServiceEnvironment;
use crate::systemd::unit_name::UnitName;
use crate::systemd::{dropin, exec_start};
use crate::terminal::printable;

/// The directories systemd (239+) searches for an `ExecStart=` executable
/// given without a path.
const EXEC_SEARCH_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The engine chosen for a service, and why, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub engine: Engine,
    /// "--engine seccomp", "/usr/bin/busybox is statically linked", ...
    pub why: String,
    /// `auto` only: binaries that could not be read, and why.
    pub unread: Vec<String>,
    /// `--engine preload` only: why the shim does not reach some of the
    /// binaries (static, Go), one warning sentence each: the drop-in does
    /// nothing for their sockets (Go >= 1.21's own MPTCP aside).
    pub unreached: Vec<String>,
}

/// The engine for `asked` (see the module's documentation).
pub fn choose(asked: EngineOption, tree: &Tree, env: &ServiceEnvironment) -> Chosen {
    let asked_for = |engine: Engine| Chosen {
        engine,
        why: format!("--engine {}", engine.name()),
        unread: Vec::new(),
        unreached: Vec::new(),
    };
    match asked {
        EngineOption::Preload => {
            return Chosen {
                unreached: beyond_preload(tree, env),
                ..asked_for(Engine::Preload)
            };
        }
        EngineOption::Seccomp => return asked_for(Engine::Seccomp),
        EngineOption::Auto => {}
    }
    let mut chosen = Chosen {
        engine: Engine::Preload,
        why: "its ExecStart= binaries are dynamically linked".into(),
        unread: Vec::new(),
        unreached: Vec::new(),
    };
    for binary in binaries(tree, env) {
        match binary {
            Ok((path, facts)) => {
                if let Some(reason) = seccomp_reason(&facts) {
                    chosen.engine = Engine::Seccomp;
                    chosen.why = reason.describe(Engine::Seccomp, printable(&path).as_ref());
                }
            }
            Err(why) => chosen.unread.push(why),
        }
    }
    if env.exec_start.is_empty() {
        chosen.why = "it has no ExecStart=".into();
    }
    chosen
}

/// Each `ExecStart=` binary: its path inside the tree and what `run` would
/// learn of it, or why it could not be read.
fn binaries(tree: &Tree, env: &ServiceEnvironment) -> Vec<Result<(String, ProgramFacts), String>> {
    (env.exec_start.iter())
        .map(|value| {
            let command = exec_start::parse(value)?;
            let path = locate(tree, env, command.executable)?;
            let facts = program_facts(tree, &path)?;
            Ok((path, facts))
        })
        .collect()
}

/// Why `auto` would give this binary the seccomp engine (static, Go and
/// not set-ID), if it would (pure).
fn seccomp_reason(facts: &ProgramFacts) -> Option<Reason> {
    let choice = engine::choose(EngineOption::Auto, facts, || Ok(())).ok()?;
    (choice.engine == Engine::Seccomp).then_some(choice.reason)
}

/// `--engine preload`: the binaries the shim does not reach, as `run`
/// warns of them. Binaries that cannot be read are not mentioned: the
/// engine was asked for, not chosen from them.
fn beyond_preload(tree: &Tree, env: &ServiceEnvironment) -> Vec<String> {
    (binaries(tree, env).into_iter().flatten())
        .filter_map(|(path, facts)| {
            let obstacle = match seccomp_reason(&facts)? {
                Reason::Go => PreloadObstacle::Go,
                _ => PreloadObstacle::StaticallyLinked,
            };
            Some(obstacle.describe(printable(&path).as_ref()))
        })
        .collect()
}

/// The file `ExecStart=`'s executable word names, inside the tree: an
/// absolute path as it is (systemd never expands `$` there); a bare name
/// looked up in systemd's default search path (not with `ExecSearchPath=`,
/// which mptcpize-rs does not follow); `%` specifiers cannot be.
fn locate(tree: &Tree, env: &ServiceEnvironment, executable: &str) -> Result<String, String> {
    let shown = printable(executable);
    if executable.contains('%') {
        return Err(format!("{shown} (specifiers are expanded only by systemd)"));
    }
    if executable.starts_with('/') {
        return Ok(executable.to_string());
    }
    if env.exec_search_path.is_some() {
        return Err(format!(
            "{shown} (the unit sets ExecSearchPath=; write the executable's full path)"
        ));
    }
    EXEC_SEARCH_PATH
        .iter()
        .map(|dir| format!("{dir}/{executable}"))
        .find(|candidate| tree.is_file(Path::new(candidate)))
        .ok_or_else(|| format!("{shown} (not found in systemd's search path; write its full path)"))
}

/// What `run` would learn of the executable at `path` (found by
/// [`locate`]), read inside the tree.
fn program_facts(tree: &Tree, path: &str) -> Result<ProgramFacts, String> {
    let shown = printable(path);
    let fd = tree
        .open_at(
            Path::new(path),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => format!("{shown} (not found)"),
            _ => format!("{shown} ({e})"),
        })?;
    let meta = in_root::fstat(fd.as_fd()).map_err(|e| format!("{shown} ({e})"))?;
    let elf = elf::inspect_open(&File::from(fd)).map_err(|e| format!("{shown} ({e})"))?;
    Ok(ProgramFacts {
        elf,
        set_id: meta.mode & (libc::S_ISUID | libc::S_ISGID) != 0,
    })
}

/// Where this mptcpize-rs and its shim are, found once per command; each
/// is needed only by its engine's drop-in, so a missing one is an error
/// only then.
pub struct Installed {
    pub shim: Result<PathBuf, shim::ShimError>,
    pub launcher: Result<PathBuf, String>,
}

impl Installed {
    pub fn here() -> Installed {
        Installed {
            shim: shim::locate(),
            launcher: std::env::current_exe()
                .map_err(|e| format!("cannot find this mptcpize-rs's own path: {e}")),
        }
    }

    /// The file the chosen engine's drop-in names (the shim, or the
    /// launcher that wraps `ExecStart=`), or why it cannot be found: in
    /// full, or (`short`) in a few words for `status`.
    pub fn for_engine(&self, engine: Engine, short: bool) -> Result<&Path, String> {
        match (engine, &self.shim, &self.launcher) {
            (Engine::Preload, Ok(shim), _) => Ok(shim),
            (Engine::Preload, Err(error), _) if short => {
                Err(format!("the shim {}", error.summary()))
            }
            (Engine::Preload, Err(error), _) => Err(error.to_string()),
            (Engine::Seccomp, _, Ok(launcher)) => Ok(launcher),
            (Engine::Seccomp, _, Err(error)) => Err(error.clone()),
        }
    }
}

/// What a drop-in is for: the engine chosen, the `--engine` asked (which
/// its first line records), and the connection rules (canonical text, in
/// `MPTCPIZE_RS_RULES`: the shim reads it, and so does `run` for the
/// seccomp engine).
pub struct Wanted<'a> {
    pub engine: Engine,
    pub asked: EngineOption,
    pub rules: Option<&'a str>,
}

/// The drop-in `enable` writes for `wanted` (the file it names is
/// `installed` for that engine: the shim or the launcher).
pub fn render(
    unit: &UnitName,
    tree: &Tree,
    env: &ServiceEnvironment,
    wanted: &Wanted<'_>,
    undo: &str,
    installed: &Path,
) -> Result<String, Failure> {
    let asked = wanted.asked;
    if wanted.engine == Engine::Preload {
        return dropin::render(unit, env, installed, wanted.rules, undo, asked);
    }
    let refuse = |why: String| Err(Failure::new(format!("{why}; nothing written")));
    if let Some(root) = &env.root_directory {
        return refuse(format!(
            "{unit} runs in RootDirectory=/RootImage= {}: its ExecStart= would look up \
             mptcpize-rs and the program in there, unchecked; the seccomp engine does not \
             support it",
            printable(root)
        ));
    }
    if !env.exec_start_after_ours.is_empty() {
        return refuse(format!(
            "{} sets ExecStart= and sorts after {}, so systemd would apply it after the \
             wrapped lines (running a command twice, or unwrapped); rename it to sort before \
             {}",
            env.exec_start_after_ours.join(", "),
            dropin::FILE_NAME,
            dropin::FILE_NAME
        ));
    }
    if env.exec_start.is_empty() {
        return refuse(format!(
            "{unit} has no ExecStart= for the seccomp engine to wrap"
        ));
    }
    let launcher = exec_start::launcher_word(installed).map_err(Failure::new)?;
    let mut lines = Vec::new();
    for value in &env.exec_start {
        let command = exec_start::parse(value);
        let wrapped = command.and_then(|command| {
            let resolved = match command.is_bare_name() {
                true => Some(locate(tree, env, command.executable)?),
                false => None,
            };
            exec_start::wrap(&command, &launcher, asked, resolved.as_deref())
        });
        match wrapped {
            Ok(line) => lines.push(line),
            Err(why) => return refuse(format!("cannot wrap {unit}'s {why}")),
        }
    }
    Ok(dropin::render_seccomp(
        unit,
        &lines,
        wanted.rules,
        undo,
        asked,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::elf::synthetic_elf64;
    use crate::test_support::ScratchDir;

    fn env_of(unit_text: &str) -> ServiceEnvironment {
        let mut env = ServiceEnvironment::default();
        env.apply(unit_text);
        env
    }

    /// `auto` reads the binaries inside the tree: a static one (no
    /// `PT_INTERP`) anywhere among the lines means seccomp; a dynamic one,
    /// a bare name found in systemd's search path, preload; a binary that
    /// cannot be read is named, and preload stays.
    #[test]
    fn auto_reads_the_execstart_binaries_inside_the_tree() {
        let scratch = ScratchDir::new("service-engine");
        scratch.file("img/usr/bin/static-d", &synthetic_elf64(&[1]), 0o755);
        scratch.file("img/usr/sbin/dynamic-d", &synthetic_elf64(&[3, 1]), 0o755);
        scratch.file("img/usr/bin/setid-d", &synthetic_elf64(&[1]), 0o4755);
        let tree = Tree::open(&scratch.dir("img")).unwrap();
        let auto = |text: &str| choose(EngineOption::Auto, &tree, &env_of(text));

        let chosen = auto("[Service]\nExecStart=-/usr/bin/static-d --serve\n");
        assert_eq!(chosen.engine, Engine::Seccomp);
        assert_eq!(chosen.why, "/usr/bin/static-d is statically linked");
        let chosen = auto("[Service]\nExecStart=dynamic-d\n");
        assert_eq!((chosen.engine, chosen.unread.len()), (Engine::Preload, 0));
        // Oneshot: several lines; one static is enough.
        let chosen = auto("[Service]\nExecStart=dynamic-d\nExecStart=@static-d x\n");
        assert_eq!(chosen.engine, Engine::Seccomp);
        // An empty ExecStart= resets the list, as in systemd.
        let chosen = auto("[Service]\nExecStart=static-d\nExecStart=\nExecStart=dynamic-d\n");
        assert_eq!(chosen.engine, Engine::Preload);
        // Set-ID: no_new_privs would drop its privileges.
        assert_eq!(
            auto("[Service]\nExecStart=/usr/bin/setid-d\n").engine,
            Engine::Preload
        );
        let chosen = auto("[Service]\nExecStart=/opt/none\nExecStart=%h/bin/x\n");
        assert_eq!(chosen.engine, Engine::Preload);
        assert_eq!(chosen.unread.len(), 2, "{:?}", chosen.unread);
        assert!(chosen.unread[0].contains("/opt/none (not found)"));
        // A link out of the tree is resolved inside it: not the host's.
        std::os::unix::fs::symlink("/usr/bin/busybox", scratch.path().join("img/usr/bin/bb"))
            .unwrap();
        let chosen = auto("[Service]\nExecStart=/usr/bin/bb\n");
        assert_eq!(chosen.engine, Engine::Preload, "{chosen:?}");
        assert_eq!(auto("[Service]\n").why, "it has no ExecStart=");
        // Asked: not read.
        let chosen = choose(EngineOption::Seccomp, &tree, &env_of("[Service]\n"));
        assert_eq!(
            (chosen.engine, chosen.why.as_str()),
            (Engine::Seccomp, "--engine seccomp")
        );
    }

    /// `--engine preload` is obeyed, and the binaries the shim does not
    /// reach are named (for enable's note); set-ID, dynamic and unreadable
    /// ones are not.
    #[test]
    fn preload_asked_names_the_binaries_it_does_not_reach() {
        let scratch = ScratchDir::new("service-engine-preload");
        scratch.file("img/usr/bin/static-d", &synthetic_elf64(&[1]), 0o755);
        scratch.file("img/usr/sbin/dynamic-d", &synthetic_elf64(&[3, 1]), 0o755);
        scratch.file("img/usr/bin/setid-d", &synthetic_elf64(&[1]), 0o4755);
        let tree = Tree::open(&scratch.dir("img")).unwrap();
        let preload = |text: &str| choose(EngineOption::Preload, &tree, &env_of(text));
        let chosen = preload(
            "[Service]\nType=oneshot\nExecStart=dynamic-d\nExecStart=/usr/bin/static-d\n\
             ExecStart=/usr/bin/setid-d\nExecStart=/opt/none\n",
        );
        assert_eq!(
            (chosen.engine, chosen.why.as_str()),
            (Engine::Preload, "--engine preload")
        );
        assert_eq!(
            chosen.unreached,
            [PreloadObstacle::StaticallyLinked.describe("/usr/bin/static-d".as_ref())]
        );
        assert!(chosen.unread.is_empty(), "{chosen:?}");
        assert!(
            preload("[Service]\nExecStart=dynamic-d\n")
                .unreached
                .is_empty()
        );
        let auto = choose(
            EngineOption::Auto,
            &tree,
            &env_of("[Service]\nExecStart=static-d\n"),
        );
        assert!(auto.unreached.is_empty(), "{auto:?}");
    }

    #[test]
    fn the_seccomp_dropin_wraps_every_line_after_a_reset() {
        let scratch = ScratchDir::new("seccomp-dropin");
        scratch.file("img/usr/sbin/daemon", &synthetic_elf64(&[1]), 0o755);
        let tree = Tree::open(&scratch.dir("img")).unwrap();
        let unit = UnitName::parse("web").unwrap();
        let undo = "mptcpize-rs disable web.service";
        let launcher = Path::new("/usr/bin/mptcpize-rs");
        let seccomp = |asked| Wanted {
            engine: Engine::Seccomp,
            asked,
            rules: None,
        };
        let render_text = |text: &str, asked| {
            render(&unit, &tree, &env_of(text), &seccomp(asked), undo, launcher)
        };
        let env_text = "[Service]\nType=oneshot\nExecStart=-/bin/a x\n\
                        ExecStart=@/bin/b b-name \"y z\"\nExecStart=daemon -f\n";
        let text = render_text(env_text, EngineOption::Seccomp).unwrap();
        assert!(text.starts_with("# Written by `mptcpize-rs enable --engine seccomp web.service`"));
        assert!(
            text.ends_with(
                "[Service]\nExecStart=\n\
                 ExecStart=-/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- /bin/a x\n\
                 ExecStart=/usr/bin/mptcpize-rs run --keep-pid --engine seccomp --argv0=b-name \
                 -- /bin/b \"y z\"\n\
                 ExecStart=/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- \
                 /usr/sbin/daemon -f\n"
            ),
            "a bare name resolved in systemd's search path inside the tree:\n{text}"
        );
        assert_eq!(dropin::asked_engine_of(&text), EngineOption::Seccomp);
        assert!(dropin::is_seccomp(&text));
        // Read back, the wrapped lines are the unit's ExecStart= now.
        let mut after = env_of(env_text);
        after.apply(&text);
        assert_eq!(after.exec_start.len(), 3);
        // What cannot be wrapped the same: refused.
        for bad in [
            "[Service]\n",
            "[Service]\nExecStart=\"/bin/a\"\n",
            "[Service]\nExecStart=nosuch -f\n",
            "[Service]\nExecSearchPath=/opt/bin\nExecStart=daemon\n",
            "[Service]\nRootDirectory=/srv/jail\nExecStart=/bin/a\n",
            "[Service]\nRootImage=/srv/img.raw\nExecStart=/bin/a\n",
        ] {
            let error = render_text(bad, EngineOption::Auto).unwrap_err();
            assert!(
                error.to_string().contains("nothing written"),
                "{bad}: {error}"
            );
        }
        let preload = dropin::render(
            &unit,
            &env_of(env_text),
            Path::new("/usr/lib/x.so"),
            None,
            undo,
            EngineOption::Preload,
        )
        .unwrap();
        assert_eq!(dropin::asked_engine_of(&preload), EngineOption::Preload);
        assert!(!dropin::is_seccomp(&preload));
    }
}
