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
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        Failure { message: text }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
