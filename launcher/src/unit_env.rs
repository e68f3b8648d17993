//! The environment a service gets from `Environment=` lines, read the way
//! systemd reads them: only in `[Service]`, continuation lines ending in a
//! backslash, several assignments per line separated by white space, double
//! or single quotes around an assignment, C escapes inside, an empty
//! `Environment=` resetting the list, and the last assignment winning, over
//! the unit file and then its drop-ins in order. Specifiers such as `%h`
//! are kept as written: they mean the same when written back.

use std::collections::BTreeMap;

/// What a unit's files say about its environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceEnvironment {
    /// Variable → value, after every assignment so far.
    pub vars: BTreeMap<String, String>,
    /// `EnvironmentFile=` entries: systemd applies them after `Environment=`,
    /// so one that sets `LD_PRELOAD` would override the drop-in.
    pub environment_files: Vec<String>,
}

impl ServiceEnvironment {
    /// Applies one unit file or drop-in, in systemd's order.
    pub fn apply(&mut self, text: &str) {
        let mut in_service = false;
        for line in logical_lines(text) {
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if !in_service {
                continue;
            }
            match key.trim() {
                "Environment" => self.apply_environment(value.trim()),
                "EnvironmentFile" if value.trim().is_empty() => self.environment_files.clear(),
                "EnvironmentFile" => self.environment_files.push(value.trim().to_string()),
                _ => {}
            }
        }
    }

    fn apply_environment(&mut self, value: &str) {
        if value.is_empty() {
            self.vars.clear();
            return;
        }
        for word in words(value) {
            // systemd ignores (with a warning) words that are not VAR=VALUE.
            if let Some((name, value)) = word.split_once('=')
                && is_valid_name(name)
            {
                self.vars.insert(name.to_string(), value.to_string());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Lines with comments and blank lines dropped and continuations joined
/// (systemd replaces the backslash with a space).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_none() && (line.is_empty() || line.starts_with(['#', ';'])) {
            continue;
        }
        if pending.is_some() && line.starts_with(['#', ';']) {
            continue; // comments inside a continued line are skipped
        }
        let mut joined = pending.take().unwrap_or_default();
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some(joined);
            }
            None => {
                joined.push_str(line);
                lines.push(joined);
            }
        }
    }
    lines.extend(pending);
    lines
}

/// Splits a value into words: white space separates, quotes group, C
/// escapes are undone (`extract_first_word` with UNQUOTE and CUNESCAPE).
fn words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                in_word = true;
                if let Some(escaped) = chars.next() {
                    current.push(unescape(escaped));
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                in_word = true;
                quote = Some(c);
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        other => other, // \\ \" \' and anything else stand for themselves
    }
}

/// An environment variable name systemd accepts.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One `Environment=` word for `name=value`, double-quoted with `\` and
/// `"` escaped, so spaces and quotes in the value survive systemd's parser.
pub fn quoted_assignment(name: &str, value: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + value.len() + 3);
    quoted.push('"');
    for c in name.chars().chain(['=']).chain(value.chars()) {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for value in ["/usr/lib/x.so", "a b", "quote\"d", "back\\slash", "%h/x"] {
            let line = format!("[Service]\nEnvironment={}\n", quoted_assignment("V", value));
            assert_eq!(env(&[&line]).get("V"), Some(value), "{line}");
        }
    }
}
