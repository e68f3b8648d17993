//! The environment a service gets from `Environment=` lines, read exactly
//! the way systemd reads them, since unit files and images are not trusted
//! and a value read differently could be written back differently:
//!
//! - lines end at `\n`, `\r`, `\r\n`, `\n\r` or a NUL byte (`read_line`);
//!   a UTF-8 byte order mark at the start is skipped;
//! - a line ending in an odd number of backslashes continues on the next,
//!   the backslash becoming a space; comment lines inside are skipped;
//! - keys and values are stripped of spaces, tabs, CR and LF only; only
//!   `[Service]` counts; an empty `Environment=` resets the list;
//! - each value is split into words by `extract_first_word` with
//!   `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`: white space separates, `"` and
//!   `'` group anywhere in a word, and C escapes are undone (`\n \t \\ \"
//!   \' \a \b \f \r \v \s`, `\xNN`, octal `\NNN`, `\uNNNN`, `\UNNNNNNNN`;
//!   NUL refused); an unknown escape, a trailing backslash or an unclosed
//!   quote drops the rest of the line, words before it staying;
//! - a word must be `NAME=VALUE` with a valid name and a value that is
//!   valid UTF-8 by systemd's rules, or it is ignored; the last assignment
//!   of a name wins, over the unit file and then its drop-ins in order.
//!
//! Specifiers such as `%h` or `%n` are kept as written: systemd expands
//! them after undoing the escapes, so written back they mean the same.
//! [`quoted_assignment`] writes a value back so that systemd reads exactly
//! it again and no value can break out of its line.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// What a unit's files say about its environment, and how it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceEnvironment {
    /// Variable → value (before specifier expansion), after every
    /// assignment so far.
    pub vars: BTreeMap<String, String>,
    /// `EnvironmentFile=` entries: systemd applies them after `Environment=`,
    /// so one that sets `LD_PRELOAD` would override the drop-in.
    pub environment_files: Vec<String>,
    /// `ExecStart=` values as written (stripped, continuations joined); an
    /// empty assignment resets the list, as in systemd. The seccomp engine
    /// wraps them ([`crate::systemd::exec_start`]).
    pub exec_start: Vec<Vec<u8>>,
    /// Some file assigned `ExecStart=` (also an empty reset).
    pub exec_start_assigned: bool,
    /// Drop-ins that sort after mptcpize-rs's own and assign `ExecStart=`
    /// (shown paths; filled by [`crate::systemd::Scope::environment_without_ours`]):
    /// systemd applies them after the seccomp engine's wrapped lines.
    pub exec_start_after_ours: Vec<String>,
    /// The last `Type=` and `PIDFile=` (an empty one resets).
    pub service_type: Option<String>,
    pub pid_file: Option<String>,
    /// `ExecSearchPath=`: where systemd looks up a bare executable name.
    pub exec_search_path: Option<String>,
    /// `RootDirectory=` or `RootImage=`: the service runs in another tree.
    pub root_directory: Option<String>,
}

/// systemd's WHITESPACE.
const WHITESPACE: &[u8] = b" \t\n\r";

fn strip(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && WHITESPACE.contains(first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && WHITESPACE.contains(last)
    {
        s = rest;
    }
    s
}

impl ServiceEnvironment {
    /// Applies one unit file or drop-in, in systemd's order.
    pub fn apply(&mut self, text: &str) {
        self.apply_bytes(text.as_bytes());
    }

    /// [`ServiceEnvironment::apply`] for a file as read (any bytes).
    pub fn apply_bytes(&mut self, text: &[u8]) {
        let mut in_service = false;
        for line in logical_lines(text) {
            let line = strip(&line);
            if line.is_empty() || line.starts_with(b"#") || line.starts_with(b";") {
                continue;
            }
            if line.starts_with(b"[") {
                in_service = line.len() >= 2 && line.ends_with(b"]") && line == b"[Service]";
                continue;
            }
            let Some(eq) = line.iter().position(|&b| b == b'=') else {
                continue;
            };
            if !in_service {
                continue;
            }
            let (key, value) = (strip(&line[..eq]), strip(&line[eq + 1..]));
            match key {
                b"Environment" => self.apply_environment(value),
                b"EnvironmentFile" if value.is_empty() => self.environment_files.clear(),
                b"EnvironmentFile" => self
                    .environment_files
                    .push(String::from_utf8_lossy(value).into_owned()),
                b"ExecStart" if value.is_empty() => {
                    self.exec_start_assigned = true;
                    self.exec_start.clear();
                }
                b"ExecStart" => {
                    self.exec_start_assigned = true;
                    self.exec_start.push(value.to_vec());
                }
                b"Type" => self.service_type = last_value(value),
                b"PIDFile" => self.pid_file = last_value(value),
                b"ExecSearchPath" => self.exec_search_path = last_value(value),
                b"RootDirectory" | b"RootImage" => self.root_directory = last_value(value),
                _ => {}
            }
        }
    }

    /// `config_parse_environ`.
    fn apply_environment(&mut self, value: &[u8]) {
        if value.is_empty() {
            self.vars.clear();
            return;
        }
        let mut rest = value;
        // A syntax error ends the line; earlier words are kept.
        while let Ok(Some(word)) = extract_first_word(&mut rest) {
            if let Some((name, value)) = valid_assignment(&word) {
                self.vars.insert(name, value);
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// A single-valued setting: the value, `None` for an empty assignment.
fn last_value(value: &[u8]) -> Option<String> {
    (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned())
}

/// Physical lines as systemd's `read_line` splits them, one at a time and
/// borrowed from the text: nothing is allocated per line, so a file of
/// NUL bytes (each one a line end) costs no memory.
struct PhysicalLines<'a> {
    text: &'a [u8],
}

impl<'a> Iterator for PhysicalLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        const TEN: u8 = 1;
        const THIRTEEN: u8 = 2;
        const ZERO: u8 = 4;
        let eol = |b: u8| match b {
            b'\n' => TEN,
            b'\r' => THIRTEEN,
            0 => ZERO,
            _ => 0,
        };
        let text = self.text;
        if text.is_empty() {
            return None;
        }
        let mut i = 0;
        while i < text.len() && eol(text[i]) == 0 {
            i += 1;
        }
        let line = &text[..i];
        // One line end: each kind of marker at most once, NUL only alone.
        let mut seen = 0;
        while i < text.len() {
            let kind = eol(text[i]);
            if kind == 0 || seen & ZERO != 0 || seen & kind != 0 {
                break;
            }
            seen |= kind;
            i += 1;
        }
        self.text = &text[i..];
        Some(line)
    }
}

/// Logical lines (`config_parse`), one at a time: continuations joined,
/// the trailing backslash replaced by a space, comment lines inside a
/// continuation skipped. A line is borrowed unless it was joined, so
/// memory stays within the file's size whatever it holds.
struct LogicalLines<'a> {
    physical: PhysicalLines<'a>,
}

fn logical_lines(text: &[u8]) -> LogicalLines<'_> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    LogicalLines {
        physical: PhysicalLines { text },
    }
}

/// Whether `line` ends in an odd number of backslashes (a continuation);
/// only the trailing run is looked at, so joining stays linear.
fn continues(line: &[u8]) -> bool {
    line.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = Cow<'a, [u8]>;

    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        let mut continuation: Option<Vec<u8>> = None;
        loop {
            let Some(raw) = self.physical.next() else {
                return continuation.map(Cow::Owned);
            };
            let line = match continuation.take() {
                Some(mut joined) => {
                    let first = raw.iter().find(|b| !WHITESPACE.contains(b));
                    if matches!(first, Some(b'#' | b';')) {
                        continuation = Some(joined);
                        continue;
                    }
                    joined.extend_from_slice(raw);
                    Cow::Owned(joined)
                }
                None => Cow::Borrowed(raw),
            };
            if continues(&line) {
                let mut line = line.into_owned();
                *line.last_mut().expect("ends with a backslash") = b' ';
                continuation = Some(line);
                continue;
            }
            return Some(line);
        }
    }
}

/// Why a word could not be extracted; the rest of the line is dropped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError;

/// `extract_first_word(p, ret, WHITESPACE, EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)`:
/// the next word of `rest` (advanced past it), `None` at the end.
pub(crate) fn extract_first_word(rest: &mut &[u8]) -> Result<Option<Vec<u8>>, SyntaxError> {
    let mut p = *rest;
    while let [first, tail @ ..] = p
        && WHITESPACE.contains(first)
    {
        p = tail;
    }
    if p.is_empty() {
        *rest = p;
        return Ok(None);
    }
    let mut word = Vec::new();
    let mut quote: Option<u8> = None;
    loop {
        let Some((&c, tail)) = p.split_first() else {
            if quote.is_some() {
                return Err(SyntaxError);
            }
            break;
        };
        p = tail;
        match (quote, c) {
            (_, b'\\') => {
                let (bytes, used) = cunescape_one(p).ok_or(SyntaxError)?;
                word.extend_from_slice(&bytes);
                p = &p[used..];
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, b'"' | b'\'') => quote = Some(c),
            (None, c) if WHITESPACE.contains(&c) => {
                while let [first, tail @ ..] = p
                    && WHITESPACE.contains(first)
                {
                    p = tail;
                }
                break;
            }
            (None, c) => word.push(c),
        }
    }
    *rest = p;
    Ok(Some(word))
}

fn hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// `cunescape_one` for the text after a backslash (NUL refused): the bytes
/// it stands for and how many bytes of `p` it used.
fn cunescape_one(p: &[u8]) -> Option<(Vec<u8>, usize)> {
    let simple = |b: u8| Some((vec![b], 1));
    let first = *p.first()?;
    match first {
        b'a' => simple(0x07),
        b'b' => simple(0x08),
        b'f' => simple(0x0c),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(0x0b),
        b'\\' | b'"' | b'\'' => simple(first),
        b's' => simple(b' '),
        b'x' => {
            let value = hex(*p.get(1)?)? << 4 | hex(*p.get(2)?)?;
            (value != 0).then(|| (vec![value as u8], 3))
        }
        b'0'..=b'7' => {
            let digit = |i: usize| p.get(i).filter(|b| (b'0'..=b'7').contains(b));
            let value = u32::from(first - b'0') << 6
                | u32::from(digit(1)? - b'0') << 3
                | u32::from(digit(2)? - b'0');
            (value != 0 && value <= 255).then(|| (vec![value as u8], 3))
        }
        b'u' | b'U' => {
            let len = if first == b'u' { 4 } else { 8 };
            let digits = p.get(1..=len)?;
            let value = digits
                .iter()
                .try_fold(0u32, |acc, &b| Some(acc << 4 | hex(b)?))?;
            if value == 0 || (first == b'U' && !unichar_is_valid(value)) {
                return None;
            }
            Some((utf8_encode_unichar(value), len + 1))
        }
        _ => None,
    }
}

/// systemd's `unichar_is_valid`.
fn unichar_is_valid(c: u32) -> bool {
    c < 0x110000
        && (c & 0xFFFF_F800) != 0xD800
        && !(0xFDD0..=0xFDEF).contains(&c)
        && (c & 0xFFFE) != 0xFFFE
}

/// systemd's `utf8_encode_unichar`: also encodes what is not a valid
/// character (a surrogate from `\u`), which then fails the UTF-8 check.
fn utf8_encode_unichar(c: u32) -> Vec<u8> {
    match c {
        0..0x80 => vec![c as u8],
        0x80..0x800 => vec![0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8],
        0x800..0x10000 => vec![
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ],
        _ => vec![
            0xF0 | ((c >> 18) & 0x07) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ],
    }
}

/// `env_assignment_is_valid`: a valid name, `=`, and a value that is UTF-8
/// as systemd's `utf8_is_valid` takes it (no surrogates, no
/// non-characters).
fn valid_assignment(word: &[u8]) -> Option<(String, String)> {
    let eq = word.iter().position(|&b| b == b'=')?;
    let name = std::str::from_utf8(&word[..eq]).ok()?;
    let value = std::str::from_utf8(&word[eq + 1..]).ok()?;
    if !is_valid_name(name) || !value.chars().all(|c| unichar_is_valid(c as u32)) {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

/// An environment variable name systemd accepts.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One `Environment=` word for `name=value`, double-quoted, that systemd
/// reads back as exactly `name=value` and that always stays on its line:
/// `\` and `"` are escaped, every control character (C0, DEL, C1) and the
/// Unicode line and paragraph separators are written as escapes, so the
/// word never holds a line end, a NUL or anything a terminal would act on.
/// `%` is kept: specifiers mean in the drop-in what they meant in the unit.
pub fn quoted_assignment(name: &str, value: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + value.len() + 3);
    quoted.push('"');
    for c in name.chars().chain(['=']).chain(value.chars()) {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                quoted.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                quoted.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;

    fn env(files: &[&str]) -> ServiceEnvironment {
        let mut env = ServiceEnvironment::default();
        for text in files {
            env.apply(text);
        }
        env
    }

    #[test]
    fn several_assignments_quotes_and_last_wins() {
        let unit = "[Unit]\nDescription=x\nEnvironment=IGNORED=1\n\
                    [Service]\nEnvironment=FOO=bar \"LD_PRELOAD=/a.so /b.so\" 'X=y z'\n\
                    Environment=FOO=baz\nExecStart=/bin/true\n";
        let env = env(&[unit]);
        assert_eq!(env.get("FOO"), Some("baz"));
        assert_eq!(env.get("LD_PRELOAD"), Some("/a.so /b.so"));
        assert_eq!(env.get("X"), Some("y z"));
        assert_eq!(env.get("IGNORED"), None);
    }

    #[test]
    fn dropins_override_and_empty_resets() {
        let unit = "[Service]\nEnvironment=A=1 B=2\n";
        let reset = "[Service]\nEnvironment=\nEnvironment=C=3\n";
        let env1 = env(&[unit, "[Service]\nEnvironment=B=20\n"]);
        assert_eq!((env1.get("A"), env1.get("B")), (Some("1"), Some("20")));
        let env2 = env(&[unit, reset]);
        assert_eq!(env2.vars.len(), 1);
        assert_eq!(env2.get("C"), Some("3"));
    }

    #[test]
    fn continuations_comments_and_escapes() {
        let unit = "# comment\n[Service]\n; another\nEnvironment=A=1 \\\n  \"B=two words\" \\\n\
                    # skipped inside\n  C=\\\"q\\\"\n  Environment = D=spaced\n";
        let env = env(&[unit]);
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("two words"));
        assert_eq!(env.get("C"), Some("\"q\""));
        assert_eq!(env.get("D"), Some("spaced"));
    }

    #[test]
    fn invalid_words_are_ignored_and_specifiers_kept() {
        let env = env(&["[Service]\nEnvironment=novalue 1X=2 OK=%h/lib.so\n"]);
        assert_eq!(env.vars.len(), 1);
        assert_eq!(env.get("OK"), Some("%h/lib.so"));
    }

    #[test]
    fn environment_files_are_noted() {
        let env = env(&["[Service]\nEnvironmentFile=-/etc/default/web\n"]);
        assert_eq!(env.environment_files, ["-/etc/default/web"]);
        let reset = [
            "[Service]\nEnvironmentFile=/a\n",
            "[Service]\nEnvironmentFile=\n",
        ];
        assert!(self::env(&reset).environment_files.is_empty());
    }

    #[test]
    fn quoting_round_trips() {
        for value in [
            "/usr/lib/x.so",
            "a b",
            "quote\"d",
            "back\\slash",
            "%h/x",
            "",
            "x\n[Service]\nExecStartPre=/bin/sh -c id",
            "tab\there\r\u{0}\u{1b}[31m\u{7f}\u{85}\u{2028}é😀",
            "'single' \"double\" \\",
            "trailing\\",
        ] {
            let line = format!("[Service]\nEnvironment={}\n", quoted_assignment("V", value));
            assert_eq!(line.lines().count(), 2, "{line:?}");
            let expected = (!value.contains('\0')).then_some(value);
            if let Some(value) = expected {
                assert_eq!(env(&[&line]).get("V"), Some(value), "{line:?}");
            }
        }
    }

    /// systemd's escapes, one by one, as `cunescape_one` takes them.
    #[test]
    fn c_escapes_like_systemd() {
        let cases: &[(&str, Option<&str>)] = &[
            (r"\a\b\f\n\r\t\v", Some("\x07\x08\x0c\n\r\t\x0b")),
            (r"\\\'\s", Some("\\' ")),
            (r#"\""#, Some("\"")),
            (r"\x41\x7e\x7E", Some("A~~")),
            (r"\101\176", Some("A~")),
            (r"\u00e9\u20ac", Some("é€")),
            (r"\U0001F600", Some("😀")),
            (r"%n%%\x25h", Some("%n%%%h")),
            // Eight-bit escapes making invalid UTF-8: the word is ignored.
            (r"\xff", None),
            (r"\303\251", Some("é")),
            // A surrogate from \u encodes, then fails systemd's UTF-8 check.
            (r"\ud800", None),
            // \u takes any code point (\U does not); a non-character then
            // fails the UTF-8 check: only this word is ignored.
            (r"\ufffe", None),
        ];
        for (escaped, decoded) in cases {
            let unit = format!("[Service]\nEnvironment=V={escaped}\n");
            assert_eq!(env(&[&unit]).get("V"), *decoded, "{escaped}");
        }
        // Bad escapes end the line: words before them stay.
        for bad in [
            r"\x00",
            r"\000",
            r"\u0000",
            r"\q",
            r"\x4",
            r"\8",
            r"\400",
            r"\UDEADBEEF",
            r"\U0000FFFE",
        ] {
            let unit = format!("[Service]\nEnvironment=A=1 V={bad} B=2\n");
            let env = env(&[&unit]);
            assert_eq!(env.get("A"), Some("1"), "{bad}");
            assert_eq!(env.get("B"), None, "{bad}: the rest of the line is dropped");
            assert_eq!(env.get("V"), None, "{bad}");
        }
        // An unclosed quote also ends the line.
        let env = env(&["[Service]\nEnvironment=A=1 \"B=2 C=3\n"]);
        assert_eq!((env.get("A"), env.get("B")), (Some("1"), None));
    }

    #[test]
    fn lines_end_like_systemd() {
        // \r alone ends a line; \r\n and \n\r are one end; NUL ends a line.
        let env = env(&[
            "[Service]\rEnvironment=A=1\r\nEnvironment=B=2\n\rEnvironment=C=3\0Environment=D=4\n\nEnvironment=E=5",
        ]);
        for (name, value) in [("A", "1"), ("B", "2"), ("C", "3"), ("D", "4"), ("E", "5")] {
            assert_eq!(env.get(name), Some(value), "{name}");
        }
        // Two backslashes are an escaped backslash, not a continuation.
        let env = self::env(&["[Service]\nEnvironment=A=x\\\\\nEnvironment=B=y\n"]);
        assert_eq!((env.get("A"), env.get("B")), (Some("x\\"), Some("y")));
        // Only systemd's white space is stripped; a byte order mark is skipped.
        let env = self::env(&["\u{feff}[Service]\nEnvironment=A=\u{a0}x\n\u{a0}Environment=B=1\n"]);
        assert_eq!((env.get("A"), env.get("B")), (Some("\u{a0}x"), None));
        // Quotes group anywhere in a word.
        let env = self::env(&["[Service]\nEnvironment=A=\"x y\"z B='1'\"2\"\n"]);
        assert_eq!((env.get("A"), env.get("B")), (Some("x yz"), Some("12")));
    }

    /// A file of NUL bytes (each a line end) or of continuations is taken
    /// one line at a time: no allocation per line (the sparse drop-in of
    /// the review made `status` use 2.7 GB for 64 MiB), same result as
    /// systemd's reading.
    #[test]
    fn lines_are_streamed() {
        let zeros = vec![0u8; 1 << 20];
        assert_eq!(logical_lines(&zeros).count(), 1 << 20);
        assert!(
            logical_lines(&zeros).all(|line| matches!(line, Cow::Borrowed(b""))),
            "no line allocated"
        );
        let mut env = ServiceEnvironment::default();
        env.apply_bytes(&zeros);
        assert!(env.vars.is_empty());
        // Many continuations: joined once, linearly.
        let mut text = b"[Service]\nEnvironment=A=1".to_vec();
        for _ in 0..100_000 {
            text.extend_from_slice(b" \\\n");
        }
        text.extend_from_slice(b" B=2\n");
        let env = self::env(&[std::str::from_utf8(&text).unwrap()]);
        assert_eq!((env.get("A"), env.get("B")), (Some("1"), Some("2")));
        let lines: Vec<Cow<[u8]>> = logical_lines(b"a\\\n#c\nb\\\\\nc\\").collect();
        assert_eq!(lines, [&b"a b\\\\"[..], b"c "].map(Cow::Borrowed).to_vec());
    }

    /// Arbitrary values: what is written is read back exactly, on one line.
    #[test]
    fn property_any_value_round_trips_on_one_line() {
        let (mut rng, cases) = Rng::from_env();
        let seed = rng.seed();
        let alphabet: Vec<char> = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain([
                'é', '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}', '\u{feff}', '😀', '€',
            ])
            .collect();
        for case in 0..cases {
            let len = rng.below(24);
            let value: String = (0..len)
                .map(|_| *rng.pick(&alphabet))
                .filter(|&c| c != '\0')
                .collect();
            let word = quoted_assignment("V", &value);
            assert!(
                !word.chars().any(|c| c.is_control()),
                "seed {seed} case {case}: {word:?}"
            );
            let unit = format!("[Service]\nEnvironment={word} W=1\n");
            let env = env(&[&unit]);
            assert_eq!(
                env.get("V"),
                Some(value.as_str()),
                "seed {seed} case {case}: {word:?}"
            );
            assert_eq!(env.get("W"), Some("1"), "seed {seed} case {case}: {word:?}");
        }
    }

    /// Arbitrary unit files (built from the pieces that matter to the
    /// parser, and raw bytes): parsing never panics, and the drop-in made
    /// from whatever they say has exactly its own lines, which read back
    /// as exactly the merged values.
    #[test]
    fn property_any_unit_gives_a_dropin_without_injected_lines() {
        use crate::systemd::dropin::render;
        use crate::systemd::unit_name::UnitName;
        use std::path::Path;
        let (mut rng, cases) = Rng::from_env();
        let seed = rng.seed();
        let pieces: &[&[u8]] = &[
            b"[Service]",
            b"[Unit]",
            b"[Service",
            b"\n",
            b"\r",
            b"\r\n",
            b"\0",
            b"\\",
            b"\\\n",
            b"#",
            b";",
            b" ",
            b"\t",
            b"\"",
            b"'",
            b"=",
            b"Environment=",
            b"Environment =",
            b"EnvironmentFile=",
            b"LD_PRELOAD=",
            b"GODEBUG=",
            b"ExecStartPre=/bin/id",
            b"\\n",
            b"\\x0a",
            b"\\012",
            b"\\u000a",
            b"\\U0000000a",
            b"\\r",
            b"\\\"",
            b"\\s",
            b"\\x00",
            b"\\u2028",
            b"%n",
            b"/opt/a.so",
            b":",
            b",",
            b"multipathtcp=0",
            b"\xff",
            b"\xc3\xa9",
            b"\xe2\x80\xa8",
        ];
        let unit = UnitName::parse("web").unwrap();
        let shim = Path::new("/usr/lib/mptcpize-rs/libmptcpize_preload.so");
        for case in 0..cases {
            let mut text = b"[Service]\n".to_vec();
            for _ in 0..rng.below(40) {
                if rng.below(8) == 0 {
                    text.push(rng.next() as u8);
                } else {
                    let piece: &[u8] = pieces[rng.below(pieces.len())];
                    text.extend_from_slice(piece);
                }
            }
            let mut parsed = ServiceEnvironment::default();
            parsed.apply_bytes(&text);
            let rules = (rng.below(2) == 0).then_some("loopback=0;listen=1");
            let dropin = render(
                &unit,
                &parsed,
                shim,
                rules,
                "mptcpize-rs disable web.service",
                crate::engine::EngineOption::Auto,
            )
            .unwrap();
            let context = || format!("seed {seed} case {case}: {text:?}\n{dropin}");
            let lines: Vec<&str> = dropin.split('\n').collect();
            assert_eq!(
                lines.len(),
                if rules.is_some() { 7 } else { 6 },
                "{}",
                context()
            );
            assert!(
                lines[0].starts_with("# ") && lines[1].starts_with("# "),
                "{}",
                context()
            );
            assert_eq!(lines[2], "[Service]", "{}", context());
            for line in &lines[3..lines.len() - 1] {
                assert!(
                    line.starts_with("Environment=\"") && line.ends_with('"'),
                    "{}",
                    context()
                );
            }
            assert!(!dropin.contains(['\r', '\0']), "{}", context());
            let mut back = ServiceEnvironment::default();
            back.apply(&dropin);
            let expected_preload = crate::engine::preload::environment::merge_ld_preload(
                parsed.get("LD_PRELOAD").map(AsRef::as_ref),
                shim,
            );
            let expected_godebug = crate::engine::preload::environment::merge_godebug(
                parsed.get("GODEBUG").map(AsRef::as_ref),
            );
            assert_eq!(
                back.get("LD_PRELOAD").map(AsRef::as_ref),
                Some(expected_preload.as_os_str()),
                "{}",
                context()
            );
            assert_eq!(
                back.get("GODEBUG").map(AsRef::as_ref),
                Some(expected_godebug.as_os_str()),
                "{}",
                context()
            );
            assert_eq!(
                back.vars.len(),
                2 + usize::from(rules.is_some()),
                "{}",
                context()
            );
        }
    }
}
