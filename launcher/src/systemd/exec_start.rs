//! A service's `ExecStart=` lines, wrapped so that the seccomp engine
//! starts the program: `PREFIXES LAUNCHER run --keep-pid --engine E --
//! COMMAND...` (pure; the drop-in is [`crate::systemd::dropin`]'s).
//!
//! The program keeps the PID systemd started (`run --keep-pid`), so the
//! unit's `Type=`, `NotifyAccess=`, `PIDFile=`, `ExecReload=`, `ExecStop=`
//! and `KillMode=` keep their meaning, untouched. Each line keeps its
//! prefixes (`-` ignore failure, `:` no variable expansion, `+` `!` `!!`
//! privileges); `@` (the second word is `argv[0]`) becomes `--argv0=`.
//! The arguments are copied as written, never re-quoted, so systemd reads
//! them (quotes, escapes, `$VAR`, `%` specifiers) exactly as before; their
//! boundaries are found with systemd's own word grammar
//! ([`extract_first_word`]).
//!
//! What systemd reads differently once it is an argument, or could not
//! read the same way, is refused rather than guessed (systemd 252-257's
//! `config_parse_exec`):
//! - the first word must be plain (no quote, no escape): systemd takes the
//!   prefixes after undoing them, and `\x2b/bin/x` means `+/bin/x`;
//! - the prefixes are taken as systemd takes them (each once, `+` and `!`
//!   exclusive, `!!`); the path must then be absolute and normalized, or a
//!   plain file name (which the caller resolves: systemd's search path is
//!   not the program's `$PATH`);
//! - the executable's `$` is written `$$` (systemd never expands variables
//!   in the path it executes; as an argument it would), and an `argv[0]`
//!   word with `$` is refused (systemd splits an unbraced `$VAR` there);
//! - a `;` word (a command separator) anywhere, control characters, and
//!   the Unicode line and paragraph separators are refused.

use crate::engine::EngineOption;
use crate::systemd::unit_env::extract_first_word;
use crate::terminal::printable;

/// systemd's longest unit file line (`LONG_LINE_MAX`, 1 MiB).
const LONG_LINE_MAX: usize = 1024 * 1024;

/// One `ExecStart=` value, split where the wrapper goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// The prefixes as written (and read by systemd), `@` included.
    pub prefixes: &'a str,
    /// The executable: an absolute path, or a plain file name systemd looks
    /// up in its search path (as written: the word is plain).
    pub executable: &'a str,
    /// With `@`: the `argv[0]` word as written.
    pub argv0: Option<&'a str>,
    /// The arguments as written (after the executable and `argv[0]`).
    pub arguments: &'a str,
}

impl Command<'_> {
    /// Whether systemd expands `$VAR` in the arguments (no `:` prefix).
    fn expands_variables(&self) -> bool {
        !self.prefixes.contains(':')
    }

    /// A plain file name: systemd looks it up in its own search path.
    pub fn is_bare_name(&self) -> bool {
        !self.executable.contains('/')
    }
}

/// Splits one `ExecStart=` value (stripped, as the unit reader keeps it).
/// The error says, for the user, why it cannot be wrapped.
pub fn parse(value: &[u8]) -> Result<Command<'_>, String> {
    let shown = || printable(&String::from_utf8_lossy(value));
    let text = std::str::from_utf8(value)
        .map_err(|_| format!("ExecStart={} is not valid UTF-8", shown()))?;
    if let Some(c) = text.chars().find(|&c| {
        (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
    }) {
        return Err(format!(
            "ExecStart={}: it holds the control character U+{:04X}",
            shown(),
            u32::from(c)
        ));
    }
    // Every word must be one systemd reads, and none a separator.
    let mut check = text.as_bytes();
    while let Some(word) = extract_first_word(&mut check)
        .map_err(|_| format!("ExecStart={}: an unclosed quote or a bad escape", shown()))?
    {
        if word == b";" {
            return Err(format!(
                "ExecStart={}: several commands on one line (`;`) are not supported",
                shown()
            ));
        }
    }
    let mut rest = text.as_bytes();
    let Some(word) = raw_word(&mut rest) else {
        return Err("an empty ExecStart= value".into());
    };
    if word.contains(['\\', '"', '\'']) {
        return Err(format!(
            "ExecStart={}: its first word is quoted or escaped; write the prefixes and \
             the path plainly (systemd reads the prefixes after undoing the quotes)",
            shown()
        ));
    }
    let (prefixes, executable) = word.split_at(prefix_length(word));
    if executable == ";" {
        // A program named `;`, which as an argument would separate commands.
        return Err(format!(
            "ExecStart={}: a program named `;` is not supported",
            shown()
        ));
    }
    check_executable(executable).map_err(|why| format!("ExecStart={}: {why}", shown()))?;
    let argv0 = match prefixes.contains('@') {
        true => Some(
            raw_word(&mut rest)
                .ok_or_else(|| format!("ExecStart={}: `@` without an argv[0] word", shown()))?,
        ),
        false => None,
    };
    let command = Command {
        prefixes,
        executable,
        argv0,
        arguments: &text[text.len() - rest.len()..],
    };
    if command.expands_variables() && argv0.is_some_and(|word| word.contains('$')) {
        return Err(format!(
            "ExecStart={}: a `$` in the argv[0] word (after `@`) would be expanded \
             differently once it is an option; use the `:` prefix, or no variable there",
            shown()
        ));
    }
    Ok(command)
}

/// The length of the prefixes systemd takes from a plain first word: its
/// loop in `config_parse_exec` (each of `-`, `@`, `:` once; `+` or `!`,
/// not both; a second `!` makes `!!`).
fn prefix_length(word: &str) -> usize {
    let (mut ignore, mut argv0, mut no_env) = (false, false, false);
    let (mut privileged, mut no_setuid, mut ambient) = (false, false, false);
    let mut length = 0;
    for c in word.chars() {
        let privileges_free = !(privileged || no_setuid || ambient);
        match c {
            '-' if !ignore => ignore = true,
            '@' if !argv0 => argv0 = true,
            ':' if !no_env => no_env = true,
            '+' if privileges_free => privileged = true,
            '!' if privileges_free => no_setuid = true,
            '!' if no_setuid && !privileged && !ambient => {
                no_setuid = false;
                ambient = true;
            }
            _ => break,
        }
        length += c.len_utf8();
    }
    length
}

/// systemd's checks of the executable: an absolute, normalized path that
/// names no directory, or a valid file name.
fn check_executable(path: &str) -> Result<(), &'static str> {
    let Some(absolute) = path.strip_prefix('/') else {
        let valid = !path.is_empty() && !path.contains('/') && path != "." && path != "..";
        return match valid && path.len() <= 255 {
            true => Ok(()),
            false => Err("neither an absolute path nor a file name"),
        };
    };
    let normalized = !absolute.is_empty()
        && absolute
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    match normalized {
        true => Ok(()),
        false => Err("the executable's path is not normalized or names a directory"),
    }
}

/// The next word of `rest` as written (quotes and escapes kept), `rest`
/// advanced past it and the white space after; `None` at the end. Only for
/// a text whose words [`extract_first_word`] has read.
fn raw_word<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let white = |b: &u8| b" \t\n\r".contains(b);
    let start = rest.iter().take_while(|b| white(b)).count();
    let before = &rest[start..];
    let mut after = before;
    extract_first_word(&mut after).ok()??;
    let mut word = &before[..before.len() - after.len()];
    while let [head @ .., last] = word
        && white(last)
    {
        word = head;
    }
    *rest = after;
    // Within a UTF-8 text, split at ASCII white space: still UTF-8.
    std::str::from_utf8(word).ok()
}

/// The wrapped line (without `ExecStart=`): `launcher` is the launcher's
/// path as systemd must read it (see [`launcher_word`]); `executable` the
/// path to run, when the caller resolved a bare name (else the unit's).
/// Fails for a line longer than systemd reads.
pub fn wrap(
    command: &Command<'_>,
    launcher: &str,
    engine: EngineOption,
    executable: Option<&str>,
) -> Result<String, String> {
    let prefixes: String = command.prefixes.chars().filter(|&c| c != '@').collect();
    let engine = match engine {
        EngineOption::Seccomp => "seccomp",
        EngineOption::Auto | EngineOption::Preload => "auto",
    };
    let mut line = format!("{prefixes}{launcher} run --keep-pid --engine {engine} ");
    if let Some(argv0) = command.argv0 {
        line += &format!("--argv0={argv0} ");
    }
    let executable = executable.unwrap_or(command.executable);
    // systemd never expands variables in the path it runs; an argument's
    // `$$` is a `$`.
    match command.expands_variables() {
        true => line += &format!("-- {}", executable.replace('$', "$$")),
        false => line += &format!("-- {executable}"),
    }
    if !command.arguments.is_empty() {
        line += &format!(" {}", command.arguments);
    }
    if line.len() + "ExecStart=".len() >= LONG_LINE_MAX {
        return Err(format!(
            "ExecStart= of {} bytes would be longer than systemd reads once wrapped",
            command.arguments.len()
        ));
    }
    Ok(line)
}

/// The launcher's path as a word of an `ExecStart=` line: `%` doubled (a
/// specifier otherwise); a path systemd would split or expand (white
/// space, quotes, backslashes, `$`) or that is not UTF-8 is refused.
pub fn launcher_word(path: &std::path::Path) -> Result<String, String> {
    let shown = printable(&path.to_string_lossy());
    let text = path
        .to_str()
        .filter(|text| {
            text.starts_with('/')
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'\\$;".contains(c))
        })
        .ok_or_else(|| {
            format!(
                "the launcher's path {shown} cannot be written in ExecStart= as it is \
                 (white space, quotes, a backslash, `$` or not UTF-8); install mptcpize-rs \
                 at a plain path such as /usr/local/bin"
            )
        })?;
    Ok(text.replace('%', "%%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAUNCHER: &str = "/usr/bin/mptcpize-rs";

    fn wrapped(value: &str) -> String {
        wrap(
            &parse(value.as_bytes()).unwrap(),
            LAUNCHER,
            EngineOption::Seccomp,
            None,
        )
        .unwrap()
    }

    #[test]
    fn prefixes_are_kept_and_words_copied_as_written() {
        assert_eq!(
            wrapped("/usr/bin/busybox httpd -f -p 8080"),
            "/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- /usr/bin/busybox httpd -f -p 8080"
        );
        assert_eq!(
            wrapped("-:+/usr/bin/app \"a b\" 'c'  $FOO ${BAR} %n \\x41"),
            "-:+/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- /usr/bin/app \
             \"a b\" 'c'  $FOO ${BAR} %n \\x41"
        );
        assert_eq!(
            wrapped("!!/usr/sbin/daemon"),
            "!!/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- /usr/sbin/daemon"
        );
        // `@`: the second word is argv[0].
        assert_eq!(
            wrapped("-@/usr/bin/busybox \"my httpd\" -f"),
            "-/usr/bin/mptcpize-rs run --keep-pid --engine seccomp \
             --argv0=\"my httpd\" -- /usr/bin/busybox -f"
        );
        let command = parse(b"@/bin/sh sh").unwrap();
        assert_eq!(command.argv0, Some("sh"));
        assert_eq!(command.arguments, "");
        assert_eq!(
            wrap(&command, LAUNCHER, EngineOption::Auto, None).unwrap(),
            "/usr/bin/mptcpize-rs run --keep-pid --engine auto --argv0=sh -- /bin/sh"
        );
        // A bare name, as systemd 239+ accepts; the caller resolves it.
        let bare = parse(b"busybox httpd").unwrap();
        assert!(bare.is_bare_name());
        assert_eq!(
            wrap(
                &bare,
                LAUNCHER,
                EngineOption::Auto,
                Some("/usr/bin/busybox")
            )
            .unwrap(),
            "/usr/bin/mptcpize-rs run --keep-pid --engine auto -- /usr/bin/busybox httpd"
        );
        // The path is never expanded by systemd: `$` stays a `$`.
        assert_eq!(
            wrapped("/opt/$VER/app $ARG"),
            "/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- /opt/$$VER/app $ARG"
        );
        assert_eq!(
            wrapped(":/opt/$VER/app $ARG"),
            ":/usr/bin/mptcpize-rs run --keep-pid --engine seccomp -- /opt/$VER/app $ARG"
        );
    }

    /// The prefixes systemd takes: each once, `+` and `!` exclusive, `!!`;
    /// whatever follows is the path, which must then be valid.
    #[test]
    fn prefixes_as_systemd_reads_them() {
        for (word, prefixes) in [
            ("-@:+/bin/x", "-@:+"),
            ("!!/bin/x", "!!"),
            ("!/bin/x", "!"),
            ("@-/bin/x", "@-"),
            ("--/bin/x", "-"),
            ("+!/bin/x", "+"),
            ("!!!/bin/x", "!!"),
        ] {
            assert_eq!(&word[..prefix_length(word)], prefixes, "{word}");
        }
        for bad in ["--/bin/x", "+!/bin/x", "!!!/bin/x", "@@/bin/app a b"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_cannot_be_wrapped_the_same_is_refused() {
        for bad in [
            &b""[..],
            b"\"/usr/bin/app\"",
            b"-\"/usr/bin/app\"",
            b"\\x2b/usr/sbin/daemon -f",
            b"|/bin/sh -c x",
            b"/usr/bin/app 'unclosed",
            b"/usr/bin/app \\q",
            b"@/usr/bin/app",
            b"/bin/a ; /bin/b",
            b"/bin/a \\; x",
            b"-; /usr/bin/busybox echo hi",
            b"; /bin/x",
            b"@/bin/x ; y",
            b"/usr/bin/\xff",
            b"bin/app",
            b"/usr/bin/app/",
            b"/usr//bin/app",
            b"/usr/bin/../app",
            b"/opt/app \x1b]0;owned\x07",
            b"/opt/app \x0cx",
            "/opt/app \u{2028}".as_bytes(),
            b"@/bin/app $NAME",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // With `:` nothing is expanded: `$` in argv[0] means `$`.
        assert!(parse(b":@/bin/app $NAME").is_ok());
        let long = format!("/bin/app {}", "x".repeat(LONG_LINE_MAX - 20));
        let command = parse(long.as_bytes()).unwrap();
        assert!(wrap(&command, LAUNCHER, EngineOption::Auto, None).is_err());
    }

    #[test]
    fn launcher_words() {
        assert_eq!(
            launcher_word("/usr/bin/mptcpize-rs".as_ref()).unwrap(),
            "/usr/bin/mptcpize-rs"
        );
        assert_eq!(
            launcher_word("/opt/100%/m".as_ref()).unwrap(),
            "/opt/100%%/m"
        );
        for bad in ["/opt/my dir/m", "/opt/$x/m", "/opt/a\\b", "rel/m", "/a\"b"] {
            assert!(launcher_word(bad.as_ref()).is_err(), "{bad}");
        }
    }
}
