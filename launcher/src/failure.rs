//! How a subcommand ends when it cannot do what was asked: a message for
//! the user (without the `mptcpize-rs: ` prefix) and the exit status.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub exit_code: u8,
    pub message: String,
}

impl Failure {
    /// A failure with exit status 1, the general "did not work".
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            exit_code: 1,
            message: message.into(),
        }
    }

    /// Bad input from the user (a malformed unit name, a bad option value):
    /// the usage-error status, like clap's.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            exit_code: crate::exit_code::USAGE,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
