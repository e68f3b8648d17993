//! Reading the launcher's `--json` outputs in tests: serde_json parses the
//! document (which proves it is one valid JSON value: empty output is not),
//! and the tests assert on its fields, reached by JSON pointer (RFC 6901:
//! `/limits/subflows`, `/0/sockets`). A field that is not there fails the
//! test; it never reads as `null`.

pub use serde_json::{Value, json};

/// `document` parsed; panics, showing it, unless it is exactly one JSON
/// value (surrounding whitespace aside).
pub fn parse(document: &str) -> Value {
    serde_json::from_str(document)
        .unwrap_or_else(|error| panic!("not a JSON document ({error}):\n{document}"))
}

/// The value at `pointer` in `document`; panics, showing the document,
/// when there is none (a missing key, an index past the end).
pub fn at<'a>(document: &'a Value, pointer: &str) -> &'a Value {
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the JSON document:\n{document:#}"))
}

/// The unsigned integer at `pointer`; panics unless there is one.
pub fn u64_at(document: &Value, pointer: &str) -> u64 {
    at(document, pointer)
        .as_u64()
        .unwrap_or_else(|| panic!("{pointer} is not an unsigned integer in:\n{document:#}"))
}

/// The string at `pointer`; panics unless there is one.
pub fn str_at<'a>(document: &'a Value, pointer: &str) -> &'a str {
    at(document, pointer)
        .as_str()
        .unwrap_or_else(|| panic!("{pointer} is not a string in:\n{document:#}"))
}

/// The array at `pointer`; panics unless there is one.
pub fn array_at<'a>(document: &'a Value, pointer: &str) -> &'a [Value] {
    at(document, pointer)
        .as_array()
        .unwrap_or_else(|| panic!("{pointer} is not an array in:\n{document:#}"))
}

/// The receiver's rate, in bits per second, in iperf3's `--json` report
/// (`end.sum_received.bits_per_second`); `None` when `report` is not JSON
/// or has no such number.
pub fn iperf3_received_bps(report: &str) -> Option<f64> {
    serde_json::from_str::<Value>(report)
        .ok()?
        .pointer("/end/sum_received/bits_per_second")?
        .as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_by_pointer() {
        let d = parse("{\"a\": [1, {\"b\": \"x\"}], \"n\": null}\n");
        assert_eq!(at(&d, "/a/0"), &json!(1));
        assert_eq!(u64_at(&d, "/a/0"), 1);
        assert_eq!(str_at(&d, "/a/1/b"), "x");
        assert_eq!(array_at(&d, "/a").len(), 2);
        assert_eq!(at(&d, "/n"), &Value::Null);
    }

    #[test]
    #[should_panic(expected = "no /missing")]
    fn a_missing_field_fails() {
        at(&parse("{}"), "/missing");
    }

    #[test]
    #[should_panic(expected = "not a JSON document")]
    fn empty_output_is_not_a_document() {
        parse("");
    }

    #[test]
    #[should_panic(expected = "not a JSON document")]
    fn trailing_text_is_not_a_document() {
        parse("{} {}");
    }
}
