//! Errors of the CLI and the exit status each class maps to.

use std::fmt;

/// Exit status of a program that was rejected or failed at run time.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of a usage or input error: unreadable file, bad format, unknown program.
pub const EXIT_INPUT: u8 = 2;

/// An error to report on stderr: one sentence plus its context, and the exit status.
#[derive(Debug)]
pub struct CliError {
    status: u8,
    message: String,
}

impl CliError {
    /// A usage or input error (exit status 2).
    pub fn input(message: impl Into<String>) -> Self {
        CliError {
            status: EXIT_INPUT,
            message: message.into(),
        }
    }

    /// A program that was rejected or failed when run (exit status 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            status: EXIT_FAILED,
            message: message.into(),
        }
    }

    /// The process exit status for this error.
    pub fn status(&self) -> u8 {
        self.status
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a subcommand.
pub type CliResult<T = ()> = Result<T, CliError>;
