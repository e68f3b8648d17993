//! A service's `ExecStart=` lines, wrapped so that the seccomp engine
//! starts the program: `PREFIXES LAUNCHER run --keep-pid --engine E --
//! COMMAND...` (pure; the drop-in is [`crate::systemd::dropin`]'s).
//!
//! The program keeps the PID systemd started (`run --keep-pid`), so the
//! unit's `Type=`, `NotifyAccess=`, `PIDFile=`, `ExecReload=`, `ExecStop=`
//! and `KillMode=` keep their meaning, untouched. Each line keeps its
//! prefixes (`-` ignore failure, `:` no variable expansion, `+` `!` `!!`
//! privileges); `@` (the second word is `argv[0]`) becomes `--argv0=`.
//! The program's words are copied as written, never re-quoted, so systemd
//! reads them (quotes, escapes, `$VAR`, `%` specifiers) exactly as before;
//! their boundaries are found with systemd's own word grammar
//! ([`extract_first_word`]).

use crate::engine::EngineOption;
use crate::systemd::unit_env::extract_first_word;
use crate::terminal::printable;

/// The prefixes systemd 252-257 know, before the executable's path.
const PREFIXES: &[u8] = b"-@:+!";

/// One `ExecStart=` value, split where the wrapper goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// The prefixes as written, `@` included.
    pub prefixes: &'a str,
    /// The executable's word as written (without the prefixes).
    pub executable: &'a str,
    /// The executable, unquoted and unescaped as systemd reads it.
    pub executable_path: String,
    /// With `@`: the `argv[0]` word as written.
    pub argv0: Option<&'a str>,
    /// The arguments as written (after the executable and `argv[0]`).
    pub arguments: &'a str,
}

/// Splits one `ExecStart=` value (stripped, as the unit reader keeps it).
/// The error says, for the user, why it cannot be wrapped.
pub fn parse(value: &[u8]) -> Result<Command<'_>, String> {
    let shown = || printable(&String::from_utf8_lossy(value));
    let text = std::str::from_utf8(value)
        .map_err(|_| format!("ExecStart={} is not valid UTF-8", shown()))?;
    let mut rest = text.as_bytes();
    let mut first = raw_word(&mut rest).map_err(|()| {
        format!(
            "ExecStart={}: an unclosed quote or a bad escape in its first word",
            shown()
        )
    })?;
    let Some(word) = first.take() else {
        return Err("an empty ExecStart= value".into());
    };
    let prefix_len = word.bytes().take_while(|b| PREFIXES.contains(b)).count();
    let (prefixes, executable) = word.split_at(prefix_len);
    if executable.is_empty() || executable.starts_with(['"', '\'', '|']) {
        return Err(format!(
            "ExecStart={}: mptcpize-rs cannot read its prefixes and executable \
             (a quoted first word, or a prefix systemd 252-257 does not know)",
            shown()
        ));
    }
    let mut path_bytes = executable.as_bytes();
    let executable_path = match extract_first_word(&mut path_bytes) {
        Ok(Some(path)) => String::from_utf8_lossy(&path).into_owned(),
        _ => return Err(format!("ExecStart={}: a bad escape in its path", shown())),
    };
    let argv0 = match prefixes.contains('@') {
        true => Some(
            raw_word(&mut rest)
                .ok()
                .flatten()
                .ok_or_else(|| format!("ExecStart={}: `@` without an argv[0] word", shown()))?,
        ),
        false => None,
    };
    let consumed = text.len() - rest.len();
    // Each remaining word must be one systemd can read, or the line would
    // mean something else behind our words.
    let mut check = rest;
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
    Ok(Command {
        prefixes,
        executable,
        executable_path,
        argv0,
        arguments: &text[consumed..],
    })
}

/// The next word of `rest` as written (quotes and escapes kept), `rest`
/// advanced past it and the white space after; `Err` for a word systemd
/// could not read.
fn raw_word<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a str>, ()> {
    let start = rest.iter().take_while(|b| b" \t\n\r".contains(b)).count();
    let before = &rest[start..];
    let mut after = before;
    if extract_first_word(&mut after).map_err(drop)?.is_none() {
        return Ok(None);
    }
    let used = before.len() - after.len();
    let word = before[..used].trim_ascii_end();
    *rest = after;
    // Within a UTF-8 text, split at ASCII white space: still UTF-8.
    Ok(Some(std::str::from_utf8(word).map_err(drop)?))
}

/// The wrapped line (without `ExecStart=`): `launcher` is the launcher's
/// path as systemd must read it (see [`launcher_word`]).
pub fn wrap(command: &Command<'_>, launcher: &str, engine: EngineOption) -> String {
    let prefixes: String = command.prefixes.chars().filter(|&c| c != '@').collect();
    let engine = match engine {
        EngineOption::Seccomp => "seccomp",
        EngineOption::Auto | EngineOption::Preload => "auto",
    };
    let mut line = format!("{prefixes}{launcher} run --keep-pid --engine {engine} ");
    if let Some(argv0) = command.argv0 {
        line += &format!("--argv0={argv0} ");
    }
    line += &format!("-- {}", command.executable);
    if !command.arguments.is_empty() {
        line += &format!(" {}", command.arguments);
    }
    line
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
        )
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
            wrap(&command, LAUNCHER, EngineOption::Auto),
            "/usr/bin/mptcpize-rs run --keep-pid --engine auto --argv0=sh -- /bin/sh"
        );
        // A bare name, as systemd 239+ accepts, and an escaped path.
        assert_eq!(parse(b"busybox httpd").unwrap().executable_path, "busybox");
        assert_eq!(
            parse(b"/opt/my\\x20app -v").unwrap().executable_path,
            "/opt/my app"
        );
    }

    #[test]
    fn what_cannot_be_wrapped_is_refused() {
        for bad in [
            &b""[..],
            b"\"/usr/bin/app\"",
            b"-\"/usr/bin/app\"",
            b"|/bin/sh -c x",
            b"/usr/bin/app 'unclosed",
            b"/usr/bin/app \\q",
            b"@/usr/bin/app",
            b"/bin/a ; /bin/b",
            b"/usr/bin/\xff",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
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
