//! `mptcpize-rs --version`: the version plus the shim `run` would use,
//! since "which shim am I getting?" is the usual question behind it.

use std::path::PathBuf;

use crate::engine::preload::shim::ShimError;

pub fn version_text(shim: &Result<PathBuf, ShimError>) -> String {
    let shim = match shim {
        Ok(path) => path.display().to_string(),
        Err(error) => error.summary(),
    };
    format!(
        "{} {}\nshim: {shim}",
        crate::TOOL_NAME,
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_shim() {
        let text = version_text(&Ok(PathBuf::from("/x/libmptcpize_preload.so")));
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(format!("mptcpize-rs {}", env!("CARGO_PKG_VERSION")).as_str())
        );
        assert_eq!(lines.next(), Some("shim: /x/libmptcpize_preload.so"));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn missing_shim() {
        let text = version_text(&Err(ShimError::NotFound {
            searched: vec![PathBuf::from("/a/l.so"), PathBuf::from("/b/l.so")],
        }));
        assert!(
            text.ends_with("\nshim: not found (looked in: /a/l.so, /b/l.so)"),
            "{text}"
        );
    }
}
