//! A failed command: what to print on stderr, and its exit code: 1, or 130 when a signal
//! (Ctrl-C) ended it (clap's usage errors: 2).

use std::fmt::Display;
use std::process::ExitCode;

use super::style;

#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

/// The shell's code for a command ended by SIGINT (128 + 2).
const INTERRUPTED: u8 = 130;

impl Failure {
    pub fn new(message: impl Display) -> Self {
        Failure {
            message: message.to_string(),
            code: 1,
        }
    }

    /// Ended by Ctrl-C (or SIGTERM, SIGHUP) after cleaning up: exits 130.
    pub fn interrupted(message: impl Display) -> Self {
        Failure {
            code: INTERRUPTED,
            ..Failure::new(message)
        }
    }

    /// A failure with its own exit code (`run`'s documented codes).
    pub fn with_code(message: impl Display, code: u8) -> Self {
        Failure {
            code,
            ..Failure::new(message)
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    /// Already reported in detail (e.g. per-VM lines); print nothing more.
    pub fn silent() -> Self {
        Failure::new("")
    }

    pub fn report(&self) {
        if !self.message.is_empty() {
            style::error_line(&self.message);
        }
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(err: E) -> Self {
        // The whole chain, once, at the edge.
        Failure::new(crate::error_chain::chain(&err))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
