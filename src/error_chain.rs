//! How an error reads once it stops travelling as an error (printed by the CLI, or folded
//! into a reason or a notice): its own message, then each cause's, joined by `: `.
//!
//! The rule that makes this work: an error's message says only its own context ("cannot
//! read the pidfile") and returns what caused it from `source()`, never both, so each cause
//! appears exactly once.

use std::error::Error;

/// `err`'s message and every cause's, once each.
pub fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the pidfile")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_appears_once() {
        let err = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&err), "cannot read the pidfile: disk on fire");
    }
}
