//! The `--json` documents as text: serde_json's pretty printer (two-space
//! indentation, `[]` and `{}` when empty, no final newline), with strings
//! escaped for a terminal.
//!
//! serde_json escapes what RFC 8259 requires: quotes, backslashes and the
//! C0 controls. The documents carry text other processes chose (process
//! names, program names) and are often printed on a terminal, which would
//! obey a DEL or a C1 control (U+009B is a CSI introducer) passed raw; so
//! every control character (`char::is_control`: C0, DEL and C1) is written
//! as `\u00XX`, except the five with a short form (`\"`, `\\`, `\n`, `\r`,
//! `\t`). Backspace and form feed are `\u0008` and `\u000c`, as before
//! serde_json.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};

/// `value` pretty-printed, strings escaped as above, without a final newline.
pub fn to_pretty_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, TerminalSafe(PrettyFormatter::new()));
    // The documents are plain structs, strings and integers: serialising
    // them into memory cannot fail.
    value
        .serialize(&mut serializer)
        .expect("a --json document serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// [`PrettyFormatter`] with every control character escaped.
struct TerminalSafe<'a>(PrettyFormatter<'a>);

/// `\u00XX` for a control character below U+0100.
fn write_unicode_escape<W: ?Sized + Write>(writer: &mut W, c: u32) -> io::Result<()> {
    write!(writer, "\\u{c:04x}")
}

impl Formatter for TerminalSafe<'_> {
    /// The run between two characters serde_json escaped itself: it holds
    /// no C0 control, but may hold DEL and C1 controls.
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_control() {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write_unicode_escape(writer, u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let short = match char_escape {
            CharEscape::Quote => "\\\"",
            CharEscape::ReverseSolidus => "\\\\",
            CharEscape::Solidus => "/",
            CharEscape::LineFeed => "\\n",
            CharEscape::CarriageReturn => "\\r",
            CharEscape::Tab => "\\t",
            CharEscape::Backspace => return write_unicode_escape(writer, 0x08),
            CharEscape::FormFeed => return write_unicode_escape(writer, 0x0c),
            CharEscape::AsciiControl(byte) => return write_unicode_escape(writer, byte.into()),
        };
        writer.write_all(short.as_bytes())
    }

    // The layout: PrettyFormatter's.

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn escapes_every_control_character() {
        let got = to_pretty_string("a\"b\\c\nd\te\u{1}f é\u{7f}\u{9b}/\u{8}\u{c}\r\u{1b}");
        assert_eq!(
            got,
            r#""a\"b\\c\nd\te\u0001f é\u007f\u009b/\u0008\u000c\r\u001b""#
        );
        // Keys too, and a control character at either end of a run.
        let map = BTreeMap::from([("\u{85}k\u{9f}", "\u{7f}")]);
        assert_eq!(
            to_pretty_string(&map),
            "{\n  \"\\u0085k\\u009f\": \"\\u007f\"\n}"
        );
        // Everything else is UTF-8 as is, U+00A0 and beyond included.
        assert_eq!(to_pretty_string("\u{a0}€\u{1f600}"), "\"\u{a0}€\u{1f600}\"");
    }

    #[test]
    fn nested_document() {
        #[derive(Serialize)]
        struct Inner {
            k: &'static str,
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Item {
            Int(i64),
            Inner(Inner),
        }
        #[derive(Serialize)]
        struct Doc {
            n: i64,
            ok: bool,
            none: Option<u8>,
            empty: Vec<u8>,
            empty_map: BTreeMap<String, u8>,
            list: Vec<Item>,
        }
        let doc = Doc {
            n: -3,
            ok: true,
            none: None,
            empty: vec![],
            empty_map: BTreeMap::new(),
            list: vec![Item::Int(1), Item::Inner(Inner { k: "v" })],
        };
        let expected = "{\n  \"n\": -3,\n  \"ok\": true,\n  \"none\": null,\n  \"empty\": [],\n  \
                        \"empty_map\": {},\n  \
                        \"list\": [\n    1,\n    {\n      \"k\": \"v\"\n    }\n  ]\n}";
        assert_eq!(to_pretty_string(&doc), expected);
    }
}
