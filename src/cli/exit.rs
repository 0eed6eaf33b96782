//! The exit-code rule, the same for every command and every stage of it (docs/exit-codes.md):
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | it did what was asked |
//! | 1    | it failed (a VM did not come up, a tool failed, a refusal) |
//! | 2    | usage or config error: bad arguments (clap's own), a config file that does not load, a VM name the config does not have |
//! | 130  | interrupted: Ctrl-C, SIGTERM or SIGHUP ended it, after cleaning up |
//!
//! Commands that run something in the guest (`ssh`, `exec`) hand back that command's own
//! code instead. A failed command is a [`Failure`]: what to print on stderr, and its code.

use std::fmt::Display;
use std::process::ExitCode;

use super::style;

#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

pub const FAILURE: u8 = 1;
/// Bad arguments or a config error; clap exits with it for its own usage errors.
pub const USAGE: u8 = 2;
/// The shell's code for a command ended by SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;

impl Failure {
    pub fn new(message: impl Display) -> Self {
        Failure {
            message: message.to_string(),
            code: FAILURE,
        }
    }

    /// A usage or config error (a config that does not load, an unknown VM): exits 2.
    pub fn usage(message: impl Display) -> Self {
        Failure {
            code: USAGE,
            ..Failure::new(message)
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
