//! A minimal JSON writer for the `--json` outputs of `check` and `inspect`.
//!
//! The documents are small trees of objects, arrays, strings, integers and
//! booleans, built once and printed once; a value type and a printer are
//! all that is needed (no serde). Object keys keep their insertion order so
//! the output reads in the same order as the human form.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs, in that order.
    pub fn object<K: Into<String>>(fields: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(value: impl Into<String>) -> Json {
        Json::Str(value.into())
    }

    pub fn int(value: impl Into<i64>) -> Json {
        Json::Int(value.into())
    }

    /// `null` for `None`, the value otherwise.
    pub fn opt<T>(value: Option<T>, f: impl FnOnce(T) -> Json) -> Json {
        value.map_or(Json::Null, f)
    }

    /// Pretty-printed with two-space indentation, without a final newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Json::Int(value) => {
                let _ = write!(out, "{value}");
            }
            Json::Str(value) => write_string(out, value),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Object(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string literal (RFC 8259): quotes, backslashes and control
/// characters escaped (C1 controls and DEL too, which RFC 8259 allows raw
/// but a terminal would obey: the values may be other processes' names);
/// everything else, non-ASCII included, as is (UTF-8).
fn write_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let got = Json::str("a\"b\\c\nd\te\u{1}f é\u{7f}\u{9b}").pretty();
        assert_eq!(got, r#""a\"b\\c\nd\te\u0001f é\u007f\u009b""#);
    }

    #[test]
    fn nested_document() {
        let doc = Json::object([
            ("n", Json::int(-3)),
            ("ok", Json::Bool(true)),
            ("none", Json::Null),
            ("empty", Json::Array(vec![])),
            (
                "list",
                Json::Array(vec![Json::int(1), Json::object([("k", Json::str("v"))])]),
            ),
        ]);
        let expected = "{\n  \"n\": -3,\n  \"ok\": true,\n  \"none\": null,\n  \"empty\": [],\n  \
                        \"list\": [\n    1,\n    {\n      \"k\": \"v\"\n    }\n  ]\n}";
        assert_eq!(doc.pretty(), expected);
        assert_eq!(Json::opt(None::<u8>, Json::int), Json::Null);
        assert_eq!(Json::opt(Some(2u8), Json::int), Json::Int(2));
    }
}
