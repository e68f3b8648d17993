//! Finding the LD_PRELOAD shim, `libmptcpize_preload.so`.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::engine::preload::environment::is_preloadable;

pub const SHIM_FILE_NAME: &str = "libmptcpize_preload.so";

/// Full path to the shim; when set it is the only place looked at.
pub const OVERRIDE_VAR: &str = mptcpize_contract::env::PRELOAD.name();

/// The shim's installed directory, fixed at build time so packagers can set
/// it (the Makefile passes its `PKGLIBDIR`: `/usr/lib/x86_64-linux-gnu/mptcpize-rs`
/// for the deb, `/usr/lib64/mptcpize-rs` for the rpm). The last place looked.
pub const DEFAULT_LIBDIR: &str = match option_env!("MPTCPIZE_RS_LIBDIR") {
    Some(dir) => dir,
    None => "/usr/local/lib/mptcpize-rs",
};

/// The launcher's installed directory, fixed at build time with
/// [`DEFAULT_LIBDIR`] (the Makefile passes its `BINDIR`): the launcher first
/// looks for the shim where [`DEFAULT_LIBDIR`] is relative to it, so a tree
/// staged with `DESTDIR` (or moved as a whole) uses its own shim.
pub const DEFAULT_BINDIR: &str = match option_env!("MPTCPIZE_RS_BINDIR") {
    Some(dir) => dir,
    None => "/usr/local/bin",
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimError {
    /// `MPTCPIZE_RS_PRELOAD` names something that is not an existing file.
    OverrideMissing { path: PathBuf },
    /// No candidate location holds the shim.
    NotFound { searched: Vec<PathBuf> },
    /// The shim exists but its path contains a space or colon, which
    /// LD_PRELOAD treats as separators.
    Unpreloadable { path: PathBuf },
}

impl ShimError {
    /// One-line form for `--version`, after "shim: ".
    pub fn summary(&self) -> String {
        match self {
            ShimError::OverrideMissing { path } => {
                format!(
                    "not found ({OVERRIDE_VAR}={} does not exist)",
                    path.display()
                )
            }
            ShimError::NotFound { searched } => {
                let places: Vec<String> =
                    searched.iter().map(|p| p.display().to_string()).collect();
                format!("not found (looked in: {})", places.join(", "))
            }
            ShimError::Unpreloadable { path } => format!(
                "unusable ({} contains a space or colon, which LD_PRELOAD cannot express)",
                path.display()
            ),
        }
    }
}

impl fmt::Display for ShimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShimError::OverrideMissing { path } => write!(
                f,
                "{OVERRIDE_VAR} is set to {}, but no such file exists; \
                 point it at {SHIM_FILE_NAME} or unset it to search the default places",
                path.display()
            ),
            ShimError::NotFound { searched } => {
                writeln!(f, "cannot find the MPTCP shim {SHIM_FILE_NAME}; looked in:")?;
                for place in searched {
                    writeln!(f, "  {}", place.display())?;
                }
                write!(
                    f,
                    "Build it with `cargo build --release` in the mptcpize-rs workspace \
                     (it lands next to the mptcpize-rs binary), \
                     or set {OVERRIDE_VAR} to its full path."
                )
            }
            ShimError::Unpreloadable { path } => write!(
                f,
                "the shim path {} contains a space or colon, which LD_PRELOAD treats as \
                 a separator; move the shim or set {OVERRIDE_VAR} to a path without them",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ShimError {}

/// `to` as seen from `from`, both absolute and without `..`
/// (`/usr/bin`, `/usr/lib64/mptcpize-rs` → `../lib64/mptcpize-rs`); `None`
/// otherwise, since `..` after a symlink need not lead back.
pub fn relative_dir(from: &Path, to: &Path) -> Option<PathBuf> {
    fn parts(path: &Path) -> Option<Vec<Component<'_>>> {
        if !path.is_absolute() {
            return None;
        }
        path.components()
            .filter(|part| *part != Component::CurDir)
            .map(|part| (part != Component::ParentDir).then_some(part))
            .collect()
    }
    let (from, to) = (parts(from)?, parts(to)?);
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = from[common..].iter().map(|_| "..").collect();
    relative.extend(&to[common..]);
    Some(relative)
}

/// Where to look when no override is set, in order: next to the launcher
/// (cargo's `target/{debug,release}/`), the installed layout (`libdir` as
/// seen from `bindir`, from the launcher's directory: `../lib/mptcpize-rs/`
/// for `make install`'s defaults), then `libdir`.
pub fn candidate_paths(exe_dir: Option<&Path>, bindir: &Path, libdir: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::with_capacity(3);
    if let Some(dir) = exe_dir {
        candidates.push(dir.join(SHIM_FILE_NAME));
        if let Some(relative) = relative_dir(bindir, libdir) {
            candidates.push(dir.join(relative).join(SHIM_FILE_NAME));
        }
    }
    candidates.push(libdir.join(SHIM_FILE_NAME));
    candidates
}

/// Locates the shim given explicit inputs (testable core of [`locate`]).
/// An empty override counts as unset. Returns an absolute path.
pub fn locate_with(
    override_path: Option<&OsStr>,
    exe_dir: Option<&Path>,
    bindir: &Path,
    libdir: &Path,
) -> Result<PathBuf, ShimError> {
    let found = match override_path.filter(|value| !value.is_empty()) {
        Some(value) => {
            let path = Path::new(value);
            // Absolute so it still resolves if the program changes directory
            // before starting children; the user's spelling is otherwise kept.
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            if !path.is_file() {
                return Err(ShimError::OverrideMissing { path });
            }
            path
        }
        None => {
            let searched = candidate_paths(exe_dir, bindir, libdir);
            let Some(hit) = searched.iter().find(|path| path.is_file()) else {
                return Err(ShimError::NotFound { searched });
            };
            // Resolves the `..` of the installed layout and relative libdirs.
            hit.canonicalize().unwrap_or_else(|_| hit.clone())
        }
    };
    if !is_preloadable(&found) {
        return Err(ShimError::Unpreloadable { path: found });
    }
    Ok(found)
}

/// Locates the shim for this process: `MPTCPIZE_RS_PRELOAD`, then the
/// places around the running executable, then [`DEFAULT_LIBDIR`].
pub fn locate() -> Result<PathBuf, ShimError> {
    let override_path = std::env::var_os(OVERRIDE_VAR);
    // On Linux this reads /proc/self/exe, so symlinks to the launcher
    // (e.g. /usr/bin/mptcpize-rs) resolve to its real install directory.
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    locate_with(
        override_path.as_deref(),
        exe_dir,
        Path::new(DEFAULT_BINDIR),
        Path::new(DEFAULT_LIBDIR),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;

    /// The build-time directories of a test that is not about them.
    const BINDIR: &str = "/usr/local/bin";
    const NOWHERE: &str = "/nonexistent";

    fn locate_nowhere(
        override_path: Option<&OsStr>,
        exe_dir: Option<&Path>,
    ) -> Result<PathBuf, ShimError> {
        locate_with(
            override_path,
            exe_dir,
            Path::new(BINDIR),
            Path::new(NOWHERE),
        )
    }

    #[test]
    fn candidates_are_in_documented_order() {
        let got = candidate_paths(
            Some(Path::new("/p/bin")),
            Path::new("/usr/local/bin"),
            Path::new("/usr/local/lib/mptcpize-rs"),
        );
        assert_eq!(
            got,
            vec![
                PathBuf::from("/p/bin/libmptcpize_preload.so"),
                PathBuf::from("/p/bin/../lib/mptcpize-rs/libmptcpize_preload.so"),
                PathBuf::from("/usr/local/lib/mptcpize-rs/libmptcpize_preload.so"),
            ]
        );
        assert_eq!(
            candidate_paths(None, Path::new(BINDIR), Path::new("/lib/x")),
            vec![PathBuf::from("/lib/x/libmptcpize_preload.so")]
        );
    }

    #[test]
    fn the_installed_layout_follows_the_build_time_directories() {
        let from_bin = |bindir: &str, libdir: &str| {
            candidate_paths(
                Some(Path::new("/p/bin")),
                Path::new(bindir),
                Path::new(libdir),
            )[1]
            .clone()
        };
        assert_eq!(
            from_bin("/usr/bin", "/usr/lib/x86_64-linux-gnu/mptcpize-rs"),
            Path::new("/p/bin/../lib/x86_64-linux-gnu/mptcpize-rs/libmptcpize_preload.so")
        );
        assert_eq!(
            from_bin("/usr/bin", "/usr/lib64/mptcpize-rs"),
            Path::new("/p/bin/../lib64/mptcpize-rs/libmptcpize_preload.so")
        );
        assert_eq!(
            from_bin("/opt/m/bin/", "/opt/m/./lib/mptcpize-rs/"),
            Path::new("/p/bin/../lib/mptcpize-rs/libmptcpize_preload.so")
        );
        assert_eq!(
            from_bin("/usr/local/bin", "/usr/lib/mptcpize-rs"),
            Path::new("/p/bin/../../lib/mptcpize-rs/libmptcpize_preload.so")
        );
    }

    #[test]
    fn relative_dirs_need_absolute_paths_without_dot_dot() {
        assert_eq!(
            relative_dir(Path::new("/usr/bin"), Path::new("/usr/lib64/m")),
            Some(PathBuf::from("../lib64/m"))
        );
        assert_eq!(
            relative_dir(Path::new("/a"), Path::new("/a")),
            Some(PathBuf::new())
        );
        assert_eq!(relative_dir(Path::new("bin"), Path::new("/usr/lib")), None);
        assert_eq!(relative_dir(Path::new("/usr/bin"), Path::new("lib")), None);
        assert_eq!(
            relative_dir(Path::new("/usr/bin"), Path::new("/usr/bin/../lib")),
            None
        );
        // Without a usable relative place, the build-time directory remains.
        assert_eq!(
            candidate_paths(Some(Path::new("/p/bin")), Path::new("bin"), Path::new("/l")),
            vec![
                PathBuf::from("/p/bin/libmptcpize_preload.so"),
                PathBuf::from("/l/libmptcpize_preload.so"),
            ]
        );
    }

    #[test]
    fn override_wins_when_it_exists() {
        let scratch = ScratchDir::new("shim-override");
        let custom = scratch.file("custom/anything.so", b"", 0o644);
        scratch.file("bin/libmptcpize_preload.so", b"", 0o644);
        let got = locate_nowhere(Some(custom.as_os_str()), Some(&scratch.path().join("bin")));
        assert_eq!(got, Ok(custom));
    }

    #[test]
    fn missing_override_is_an_error_naming_the_variable() {
        let scratch = ScratchDir::new("shim-override-missing");
        scratch.file("bin/libmptcpize_preload.so", b"", 0o644);
        let missing = scratch.path().join("nope.so");
        let err = locate_nowhere(Some(missing.as_os_str()), Some(&scratch.path().join("bin")))
            .unwrap_err();
        assert_eq!(
            err,
            ShimError::OverrideMissing {
                path: missing.clone()
            }
        );
        assert!(err.to_string().contains(OVERRIDE_VAR));
        assert!(err.summary().contains(OVERRIDE_VAR));
    }

    #[test]
    fn override_pointing_at_a_directory_is_an_error() {
        let scratch = ScratchDir::new("shim-override-dir");
        let err = locate_nowhere(Some(scratch.path().as_os_str()), None);
        assert!(matches!(err, Err(ShimError::OverrideMissing { .. })));
    }

    #[test]
    fn relative_override_is_made_absolute() {
        let scratch = ScratchDir::new("shim-override-relative");
        scratch.file("lib.so", b"", 0o644);
        let cwd = std::env::current_dir().unwrap();
        // Build a relative path to the scratch file from the test's cwd.
        let relative = pathdiff(&scratch.path().join("lib.so"), &cwd);
        let got = locate_nowhere(Some(relative.as_os_str()), None).unwrap();
        assert!(got.is_absolute(), "{}", got.display());
        assert!(got.is_file());
    }

    /// `target` relative to `base` via enough `..` to reach the root.
    fn pathdiff(target: &Path, base: &Path) -> PathBuf {
        let mut relative = PathBuf::new();
        for _ in base.components().skip(1) {
            relative.push("..");
        }
        relative.join(target.strip_prefix("/").unwrap())
    }

    #[test]
    fn empty_override_counts_as_unset() {
        let scratch = ScratchDir::new("shim-override-empty");
        let shim = scratch.file("bin/libmptcpize_preload.so", b"", 0o644);
        let got = locate_nowhere(Some(OsStr::new("")), Some(&scratch.path().join("bin")));
        assert_eq!(got, Ok(shim.canonicalize().unwrap()));
    }

    #[test]
    fn next_to_executable_comes_first() {
        let scratch = ScratchDir::new("shim-next-to-exe");
        let beside = scratch.file("bin/libmptcpize_preload.so", b"", 0o644);
        scratch.file("lib/mptcpize-rs/libmptcpize_preload.so", b"", 0o644);
        let libdir = scratch.dir("libdir");
        scratch.file("libdir/libmptcpize_preload.so", b"", 0o644);
        let got = locate_with(
            None,
            Some(&scratch.path().join("bin")),
            Path::new("/usr/local/bin"),
            &libdir,
        );
        assert_eq!(got, Ok(beside.canonicalize().unwrap()));
    }

    #[test]
    fn installed_layout_is_normalised() {
        let scratch = ScratchDir::new("shim-installed");
        let bin = scratch.dir("usr/bin");
        let installed = scratch.file("usr/lib64/mptcpize-rs/libmptcpize_preload.so", b"", 0o644);
        // As an rpm's launcher staged under DESTDIR: its build-time libdir
        // does not exist, the one relative to it does.
        let got = locate_with(
            None,
            Some(&bin),
            Path::new("/usr/bin"),
            Path::new("/nonexistent/lib64/mptcpize-rs"),
        );
        assert_eq!(
            got,
            Err(ShimError::NotFound {
                searched: candidate_paths(
                    Some(&bin),
                    Path::new("/usr/bin"),
                    Path::new("/nonexistent/lib64/mptcpize-rs"),
                )
            })
        );
        let got = locate_with(
            None,
            Some(&bin),
            Path::new("/usr/bin"),
            Path::new("/usr/lib64/mptcpize-rs"),
        )
        .unwrap();
        assert_eq!(got, installed.canonicalize().unwrap());
        assert!(!got.to_string_lossy().contains(".."));
    }

    #[test]
    fn libdir_is_the_last_resort() {
        let scratch = ScratchDir::new("shim-libdir");
        let bin = scratch.dir("bin");
        let libdir = scratch.dir("libdir");
        let shim = scratch.file("libdir/libmptcpize_preload.so", b"", 0o644);
        let got = locate_with(None, Some(&bin), Path::new(BINDIR), &libdir);
        assert_eq!(got, Ok(shim.canonicalize().unwrap()));
    }

    #[test]
    fn not_found_lists_every_place_and_the_remedy() {
        let scratch = ScratchDir::new("shim-none");
        let bin = scratch.dir("bin");
        let libdir = scratch.path().join("libdir");
        let err = locate_with(None, Some(&bin), Path::new(BINDIR), &libdir).unwrap_err();
        let searched = candidate_paths(Some(&bin), Path::new(BINDIR), &libdir);
        assert_eq!(
            err,
            ShimError::NotFound {
                searched: searched.clone()
            }
        );
        let message = err.to_string();
        for place in &searched {
            assert!(message.contains(&place.display().to_string()), "{message}");
        }
        assert!(message.contains("cargo build --release"));
        assert!(message.contains(OVERRIDE_VAR));
        let summary = err.summary();
        assert!(summary.starts_with("not found (looked in: "), "{summary}");
        assert!(!summary.contains('\n'));
    }

    #[test]
    fn path_with_space_is_rejected() {
        let scratch = ScratchDir::new("shim-space");
        let shim = scratch.file("My Dir/libmptcpize_preload.so", b"", 0o644);
        let err = locate_nowhere(Some(shim.as_os_str()), None);
        assert_eq!(err, Err(ShimError::Unpreloadable { path: shim }));
    }
}
