//! Text others chose, made safe to print on a terminal.

/// `text` (a process name, a value or path read from a unit file or an
/// image) with control characters and line separators shown as Rust
/// escapes (`\u{1b}`, `\n`), so that it cannot move the cursor, change
/// colours, retitle the terminal or fake a line of our output.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("nginx: worker é"), "nginx: worker é");
        assert_eq!(
            printable("a\u{1b}]0;owned\u{7}b"),
            "a\\u{1b}]0;owned\\u{7}b"
        );
        assert_eq!(
            printable("x\ny\u{9b}z\u{7f}\u{2028}"),
            "x\\ny\\u{9b}z\\u{7f}\\u{2028}"
        );
    }
}
