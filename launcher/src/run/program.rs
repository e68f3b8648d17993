//! Finding the program to run the way execvp(3) would, and spotting
//! programs that LD_PRELOAD cannot reach.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::run::elf::{self, ElfInfo};

/// glibc's execvp fallback when PATH is unset.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o010;
const ANY_EXECUTE_BITS: u32 = 0o111;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Exec this path. It always contains a '/', so exec does no PATH
    /// search of its own. Errors `stat` could not classify (ENOTDIR,
    /// EACCES on a parent, ELOOP) are left for exec to report.
    Found(PathBuf),
    /// Nothing by that name (exit 127).
    NotFound,
    /// Something by that name exists but cannot be executed (exit 126).
    NotExecutable {
        path: PathBuf,
        reason: NotExecutableReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotExecutableReason {
    PermissionDenied,
    IsADirectory,
}

impl NotExecutableReason {
    /// The strerror-style text shells print.
    pub fn description(self) -> &'static str {
        match self {
            NotExecutableReason::PermissionDenied => "Permission denied",
            NotExecutableReason::IsADirectory => "Is a directory",
        }
    }
}

/// Whether `program` is a path (used as is) rather than a name to look up
/// in PATH — the same rule as execvp: it contains a '/'.
pub fn is_path(program: &OsStr) -> bool {
    program.as_bytes().contains(&b'/')
}

/// The directories execvp would search, in order. An empty element
/// (leading, trailing or doubled ':') means the current directory.
pub fn search_dirs(path_var: Option<&OsStr>) -> Vec<PathBuf> {
    let path_var = path_var.map_or(DEFAULT_PATH.as_bytes(), OsStr::as_bytes);
    path_var
        .split(|&b| b == b':')
        .map(|dir| match dir {
            b"" => PathBuf::from("."),
            dir => PathBuf::from(OsStr::from_bytes(dir)),
        })
        .collect()
}

/// What a `stat` of one candidate says about exec'ing it.
enum Candidate {
    Missing,
    Executable,
    NotExecutable(NotExecutableReason),
    /// stat failed for another reason; exec will give the real error.
    Unclassified,
}

fn classify(path: &Path) -> Candidate {
    match fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Candidate::Missing,
        Err(_) => Candidate::Unclassified,
        Ok(meta) if meta.is_dir() => Candidate::NotExecutable(NotExecutableReason::IsADirectory),
        // Mode bits rather than access(2): keeps this free of unsafe FFI.
        // A file executable only by another user slips through and exec
        // then fails with EACCES, which still maps to exit 126.
        Ok(meta) if meta.is_file() && meta.permissions().mode() & ANY_EXECUTE_BITS != 0 => {
            Candidate::Executable
        }
        Ok(_) => Candidate::NotExecutable(NotExecutableReason::PermissionDenied),
    }
}

/// Resolves `program` like execvp: a path is taken as is; a bare name is
/// looked up in each PATH directory, skipping non-executable hits in
/// favour of a later executable one. If only non-executable hits exist,
/// the first is reported.
pub fn resolve(program: &OsStr, path_var: Option<&OsStr>) -> Resolution {
    if program.is_empty() {
        return Resolution::NotFound;
    }
    if is_path(program) {
        let path = PathBuf::from(program);
        return match classify(&path) {
            Candidate::Missing => Resolution::NotFound,
            Candidate::Executable | Candidate::Unclassified => Resolution::Found(path),
            Candidate::NotExecutable(reason) => Resolution::NotExecutable { path, reason },
        };
    }
    let mut first_unexecutable = None;
    for dir in search_dirs(path_var) {
        let path = dir.join(program);
        match classify(&path) {
            Candidate::Executable => return Resolution::Found(path),
            Candidate::NotExecutable(reason) => {
                first_unexecutable.get_or_insert(Resolution::NotExecutable { path, reason });
            }
            // Unreadable PATH entries are skipped, as shells do.
            Candidate::Missing | Candidate::Unclassified => {}
        }
    }
    first_unexecutable.unwrap_or(Resolution::NotFound)
}

/// A reason the shim will not be loaded into a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreloadObstacle {
    /// The kernel runs the program in secure-execution mode, where ld.so
    /// ignores LD_PRELOAD entries containing a '/'.
    SetId { setuid: bool, setgid: bool },
    /// No PT_INTERP: ld.so never runs, so nothing reads LD_PRELOAD.
    StaticallyLinked,
    /// A Go program, static or dynamic: Go's runtime makes its socket()
    /// system calls itself, so the shim, even when loaded, never sees them.
    /// Only `GODEBUG=multipathtcp=1` reaches it (Go >= 1.21). Takes the
    /// place of [`PreloadObstacle::StaticallyLinked`] for a static one:
    /// one warning, the more precise.
    Go,
}

impl PreloadObstacle {
    /// The warning sentence, naming the program as the user typed it.
    pub fn describe(self, program: &OsStr) -> String {
        let program = Path::new(program).display();
        match self {
            PreloadObstacle::SetId { setuid, setgid } => {
                let what = match (setuid, setgid) {
                    (true, true) => "setuid and setgid",
                    (true, false) => "setuid",
                    _ => "setgid",
                };
                format!(
                    "{program} is {what}; the dynamic loader ignores LD_PRELOAD for it, \
                     so its sockets stay TCP"
                )
            }
            PreloadObstacle::StaticallyLinked => format!(
                "{program} is statically linked; LD_PRELOAD cannot reach it, \
                 so its sockets stay TCP"
            ),
            PreloadObstacle::Go => format!(
                "{program} is a Go program; Go makes its own system calls and the shim \
                 will not see them (only Go >= 1.21's own MPTCP, which GODEBUG turns on)"
            ),
        }
    }
}

/// Obstacles implied by a file's mode bits and ELF facts (pure).
pub fn preload_obstacles(mode: u32, elf: &ElfInfo) -> Vec<PreloadObstacle> {
    let mut obstacles = Vec::new();
    // Linux ignores set-ID bits on scripts, and non-ELF files are run via
    // an interpreter, so only ELF binaries start in secure-execution mode.
    let setuid = elf.is_elf && mode & S_ISUID != 0;
    // Without group-execute, S_ISGID means mandatory locking, not setgid.
    let setgid = elf.is_elf && mode & S_ISGID != 0 && mode & S_IXGRP != 0;
    if setuid || setgid {
        obstacles.push(PreloadObstacle::SetId { setuid, setgid });
    }
    if elf.is_go {
        obstacles.push(PreloadObstacle::Go);
    } else if elf.is_statically_linked() {
        obstacles.push(PreloadObstacle::StaticallyLinked);
    }
    obstacles
}

/// Reads `path` (following symlinks) and returns its obstacles. Files we
/// cannot stat or read yield none: the warning is advisory only.
pub fn inspect_obstacles(path: &Path) -> Vec<PreloadObstacle> {
    inspect(path).1
}

/// Reads `path` once (following symlinks): its ELF facts and the obstacles
/// they imply, for `run`, which needs both and sits in the start-up path of
/// the program. A file we cannot stat or read yields the defaults and no
/// obstacles.
pub fn inspect(path: &Path) -> (elf::ElfInfo, Vec<PreloadObstacle>) {
    let Ok(meta) = fs::metadata(path) else {
        return (elf::ElfInfo::default(), Vec::new());
    };
    let elf = elf::inspect_file(path).unwrap_or_default();
    let obstacles = preload_obstacles(meta.permissions().mode(), &elf);
    (elf, obstacles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;
    use std::ffi::OsString;

    fn path_var(dirs: &[&Path]) -> OsString {
        let joined: Vec<&OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
        joined.join(OsStr::new(":"))
    }

    #[test]
    fn search_dirs_defaults_and_empty_elements() {
        assert_eq!(
            search_dirs(None),
            vec![
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/usr/bin"),
                PathBuf::from("/bin")
            ]
        );
        assert_eq!(
            search_dirs(Some(OsStr::new(":/a::/b:"))),
            vec![
                PathBuf::from("."),
                PathBuf::from("/a"),
                PathBuf::from("."),
                PathBuf::from("/b"),
                PathBuf::from("."),
            ]
        );
        assert_eq!(search_dirs(Some(OsStr::new(""))), vec![PathBuf::from(".")]);
    }

    #[test]
    fn is_path_means_contains_slash() {
        assert!(is_path(OsStr::new("./x")));
        assert!(is_path(OsStr::new("a/b")));
        assert!(is_path(OsStr::new("/bin/sh")));
        assert!(!is_path(OsStr::new("sh")));
    }

    #[test]
    fn finds_executable_in_path() {
        let scratch = ScratchDir::new("resolve-found");
        let a = scratch.dir("a");
        let b = scratch.dir("b");
        let tool = scratch.file("b/tool", b"#!/bin/sh\n", 0o755);
        let got = resolve(OsStr::new("tool"), Some(&path_var(&[&a, &b])));
        assert_eq!(got, Resolution::Found(tool));
    }

    /// With PATH=a:b and an executable `b/tool`, `tool` resolves to it,
    /// whatever `a/tool` the caller put first.
    fn later_executable_is_found(scratch: &ScratchDir) {
        let tool = scratch.file("b/tool", b"#!/bin/sh\n", 0o755);
        let var = path_var(&[&scratch.path().join("a"), &scratch.path().join("b")]);
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&var)),
            Resolution::Found(tool)
        );
    }

    #[test]
    fn non_executable_earlier_is_skipped_for_executable_later() {
        let scratch = ScratchDir::new("resolve-skip");
        scratch.file("a/tool", b"data", 0o644);
        later_executable_is_found(&scratch);
    }

    #[test]
    fn directory_named_like_program_is_skipped_for_executable_later() {
        let scratch = ScratchDir::new("resolve-dir-skip");
        scratch.dir("a/tool");
        later_executable_is_found(&scratch);
    }

    #[test]
    fn only_non_executable_hits_report_the_first() {
        let scratch = ScratchDir::new("resolve-noexec");
        let first = scratch.file("a/tool", b"data", 0o644);
        scratch.dir("b/tool");
        let var = path_var(&[&scratch.path().join("a"), &scratch.path().join("b")]);
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&var)),
            Resolution::NotExecutable {
                path: first,
                reason: NotExecutableReason::PermissionDenied
            }
        );
    }

    #[test]
    fn only_directory_hit_is_a_directory() {
        let scratch = ScratchDir::new("resolve-only-dir");
        let dir = scratch.dir("a/tool");
        let var = path_var(&[&scratch.path().join("a")]);
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&var)),
            Resolution::NotExecutable {
                path: dir,
                reason: NotExecutableReason::IsADirectory
            }
        );
    }

    #[test]
    fn missing_everywhere_is_not_found() {
        let scratch = ScratchDir::new("resolve-missing");
        let var = path_var(&[&scratch.dir("a"), &scratch.path().join("does-not-exist")]);
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&var)),
            Resolution::NotFound
        );
        assert_eq!(resolve(OsStr::new(""), Some(&var)), Resolution::NotFound);
    }

    #[test]
    fn empty_path_element_yields_a_path_with_slash() {
        // Relies on the test's cwd (the crate dir) having a Cargo.toml that
        // is not executable, and no "mptcpize-rs-no-such-tool".
        let got = resolve(OsStr::new("Cargo.toml"), Some(OsStr::new("")));
        assert_eq!(
            got,
            Resolution::NotExecutable {
                path: PathBuf::from("./Cargo.toml"),
                reason: NotExecutableReason::PermissionDenied
            }
        );
        assert_eq!(
            resolve(OsStr::new("mptcpize-rs-no-such-tool"), Some(OsStr::new(""))),
            Resolution::NotFound
        );
    }

    #[test]
    fn paths_skip_the_search() {
        let scratch = ScratchDir::new("resolve-paths");
        let tool = scratch.file("tool", b"#!/bin/sh\n", 0o755);
        let data = scratch.file("data", b"x", 0o644);
        let dir = scratch.dir("dir");
        let empty_path = Some(OsStr::new("/nonexistent"));
        assert_eq!(
            resolve(tool.as_os_str(), empty_path),
            Resolution::Found(tool.clone())
        );
        assert_eq!(
            resolve(data.as_os_str(), empty_path),
            Resolution::NotExecutable {
                path: data.clone(),
                reason: NotExecutableReason::PermissionDenied
            }
        );
        assert_eq!(
            resolve(dir.as_os_str(), empty_path),
            Resolution::NotExecutable {
                path: dir.clone(),
                reason: NotExecutableReason::IsADirectory
            }
        );
        assert_eq!(
            resolve(scratch.path().join("missing").as_os_str(), empty_path),
            Resolution::NotFound
        );
        // stat says ENOTDIR: left for exec to report precisely.
        let below_file = data.join("x");
        assert_eq!(
            resolve(below_file.as_os_str(), empty_path),
            Resolution::Found(below_file.clone())
        );
    }

    #[test]
    fn setid_obstacles_from_mode_bits() {
        let dynamic = ElfInfo {
            is_elf: true,
            is_executable: true,
            has_interp: true,
            program_headers_complete: true,
            is_go: false,
        };
        assert_eq!(preload_obstacles(0o755, &dynamic), vec![]);
        assert_eq!(
            preload_obstacles(0o4755, &dynamic),
            vec![PreloadObstacle::SetId {
                setuid: true,
                setgid: false
            }]
        );
        assert_eq!(
            preload_obstacles(0o2755, &dynamic),
            vec![PreloadObstacle::SetId {
                setuid: false,
                setgid: true
            }]
        );
        assert_eq!(
            preload_obstacles(0o6755, &dynamic),
            vec![PreloadObstacle::SetId {
                setuid: true,
                setgid: true
            }]
        );
        // Set-group-ID without group execute is mandatory locking.
        assert_eq!(preload_obstacles(0o2745, &dynamic), vec![]);
    }

    #[test]
    fn static_obstacle_only_for_conclusive_static_elf() {
        let static_elf = ElfInfo {
            is_elf: true,
            is_executable: true,
            has_interp: false,
            program_headers_complete: true,
            is_go: false,
        };
        assert_eq!(
            preload_obstacles(0o755, &static_elf),
            vec![PreloadObstacle::StaticallyLinked]
        );
        assert_eq!(
            preload_obstacles(0o4755, &static_elf),
            vec![
                PreloadObstacle::SetId {
                    setuid: true,
                    setgid: false
                },
                PreloadObstacle::StaticallyLinked
            ]
        );
        let inconclusive = ElfInfo {
            program_headers_complete: false,
            ..static_elf
        };
        assert_eq!(preload_obstacles(0o755, &inconclusive), vec![]);
        assert_eq!(preload_obstacles(0o755, &ElfInfo::default()), vec![]);
    }

    #[test]
    fn go_obstacle_for_static_and_dynamic_go_programs() {
        let go = |has_interp| ElfInfo {
            is_elf: true,
            is_executable: true,
            has_interp,
            program_headers_complete: true,
            is_go: true,
        };
        // Static or not, the one obstacle is Go's own system calls.
        assert_eq!(
            preload_obstacles(0o755, &go(false)),
            vec![PreloadObstacle::Go]
        );
        assert_eq!(
            preload_obstacles(0o755, &go(true)),
            vec![PreloadObstacle::Go]
        );
        assert_eq!(
            PreloadObstacle::Go.describe(OsStr::new("./gofetch")),
            "./gofetch is a Go program; Go makes its own system calls and the shim will not \
             see them (only Go >= 1.21's own MPTCP, which GODEBUG turns on)"
        );
    }

    #[test]
    fn setuid_scripts_are_not_flagged() {
        assert_eq!(preload_obstacles(0o6755, &ElfInfo::default()), vec![]);
    }

    #[test]
    fn obstacle_messages() {
        let prog = OsStr::new("ping");
        assert_eq!(
            PreloadObstacle::SetId {
                setuid: true,
                setgid: false
            }
            .describe(prog),
            "ping is setuid; the dynamic loader ignores LD_PRELOAD for it, so its sockets stay TCP"
        );
        assert!(
            PreloadObstacle::SetId {
                setuid: false,
                setgid: true
            }
            .describe(prog)
            .starts_with("ping is setgid;")
        );
        assert!(
            PreloadObstacle::SetId {
                setuid: true,
                setgid: true
            }
            .describe(prog)
            .starts_with("ping is setuid and setgid;")
        );
        assert_eq!(
            PreloadObstacle::StaticallyLinked.describe(prog),
            "ping is statically linked; LD_PRELOAD cannot reach it, so its sockets stay TCP"
        );
    }

    #[test]
    fn inspect_obstacles_on_real_files() {
        assert_eq!(inspect_obstacles(Path::new("/bin/sh")), vec![]);
        let scratch = ScratchDir::new("obstacles");
        let script = scratch.file("script", b"#!/bin/sh\n", 0o755);
        assert_eq!(inspect_obstacles(&script), vec![]);
        let setuid_script = scratch.file("setuid-script", b"#!/bin/sh\n", 0o4755);
        assert_eq!(inspect_obstacles(&setuid_script), vec![]);
        // A copy of /bin/sh with the setuid bit (ours, so harmless).
        let sh = std::fs::read("/bin/sh").expect("read /bin/sh");
        let setuid_sh = scratch.file("setuid-sh", &sh, 0o4755);
        assert_eq!(
            inspect_obstacles(&setuid_sh),
            vec![PreloadObstacle::SetId {
                setuid: true,
                setgid: false
            }]
        );
        assert_eq!(inspect_obstacles(&scratch.path().join("missing")), vec![]);
    }
}
