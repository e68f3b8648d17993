//! Reading the launcher's `--json` output in tests, with python3's json
//! module (the tests have no JSON crate): parsing proves the document is
//! valid JSON, and a Python expression picks out what a test checks.

use crate::{SHORT, TempDir, require_program, run_timeout};

/// Parses `document` and evaluates the Python expression `expr` on it (the
/// document is `d`); returns the result re-encoded as compact JSON
/// (`true`, `2`, `"mptcp"`, `[1, 2]`). Panics, showing the document, if it
/// is not valid JSON or the expression fails.
pub fn json_eval(document: &str, expr: &str) -> String {
    require_program("python3");
    let tmp = TempDir::new("json");
    let path = tmp.join("doc.json");
    std::fs::write(&path, document).unwrap();
    let script = "import json, sys\n\
                  d = json.load(open(sys.argv[1]))\n\
                  print(json.dumps(eval(sys.argv[2])))";
    let out = run_timeout(
        std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .arg(expr),
        SHORT,
    );
    assert!(
        out.status.success(),
        "cannot evaluate {expr:?} on the JSON document:\n{out}\ndocument:\n{document}"
    );
    out.stdout.trim().to_string()
}

/// Panics unless `document` is valid JSON (python3's json module).
pub fn assert_valid_json(document: &str) {
    assert_eq!(json_eval(document, "True"), "true");
}
