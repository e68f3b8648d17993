//! Where the supervisor's decision lines go, chosen by the shim's rules so
//! that `-d` and `MPTCPIZE_RS_LOG` mean the same with either engine: a log
//! file if one is set and can be opened safely, else standard error while
//! it is open and not a socket (a socket may be the program's peer).

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::Path;

use crate::run::output_file;

/// Where the decision lines go: the same rules as the shim's log.
#[derive(Debug)]
pub enum LogSink {
    /// Standard error (only used while it is open and not a socket).
    Stderr,
    /// A file opened for appending (`MPTCPIZE_RS_LOG`).
    File(std::fs::File),
}

impl LogSink {
    /// The sink for `debug` and `MPTCPIZE_RS_LOG` (which implies debug), as
    /// the shim chooses: the file if set and openable, else standard error
    /// if debugging and fd 2 is open and not a socket.
    pub fn choose(debug: bool, log_file: Option<&OsStr>) -> Option<LogSink> {
        let stderr_ok = std::fs::metadata("/proc/self/fd/2")
            .map(|meta| {
                use std::os::unix::fs::FileTypeExt;
                !meta.file_type().is_socket()
            })
            .unwrap_or(false);
        if let Some(path) = log_file.filter(|p| !p.is_empty()) {
            // The shim's rules: no symlink followed, no FIFO waited for.
            match output_file::open_log(Path::new(path)) {
                Ok(file) => return Some(LogSink::File(file)),
                Err(error) if stderr_ok => {
                    let _ = writeln!(io::stderr(), "{}", output_file::log_refusal(&error));
                }
                Err(_) => {}
            }
        }
        // As the shim: a log file that cannot be used does not turn
        // logging on by itself; `-d` lines then go to stderr.
        (debug && stderr_ok).then_some(LogSink::Stderr)
    }

    /// One line in one write; errors are ignored.
    pub fn write_line(&self, line: &str) {
        let line = format!("{line}\n");
        let _ = match self {
            LogSink::Stderr => io::stderr().write_all(line.as_bytes()),
            LogSink::File(file) => {
                let mut writer: &std::fs::File = file;
                writer.write_all(line.as_bytes())
            }
        };
    }
}
