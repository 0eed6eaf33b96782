//! A failed command: what to print on stderr. Every failure exits 1 (clap's usage errors: 2).

use std::fmt::Display;

use super::style;

#[derive(Debug)]
pub struct Failure {
    message: String,
}

impl Failure {
    pub fn new(message: impl Display) -> Self {
        Failure {
            message: message.to_string(),
        }
    }

    /// Already reported in detail (e.g. per-VM lines); print nothing more.
    pub fn silent() -> Self {
        Failure {
            message: String::new(),
        }
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
        Failure {
            message: crate::error_chain::chain(&err),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
