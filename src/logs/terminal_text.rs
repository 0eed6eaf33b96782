//! Serial consoles write terminal control sequences and `\r\n`; matching and showing their
//! output needs plain text.

use std::sync::OnceLock;

use regex::Regex;

/// Removes ANSI/VT100 escape sequences, `\r` and other control bytes except `\n` and `\t`.
pub fn clean(text: &str) -> String {
    static ESCAPES: OnceLock<Regex> = OnceLock::new();
    let escapes = ESCAPES.get_or_init(|| {
        Regex::new(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[0-9A-Za-z=><\\^_@])")
            .expect("valid escape regex")
    });
    escapes
        .replace_all(text, "")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_cursor_and_carriage_returns() {
        let raw = "\x1b[0;32mOK\x1b[0m\r\n\x1b[?25lqcmdr-guest lo\x1bcgin: \x1b]0;title\x07x";
        assert_eq!(clean(raw), "OK\nqcmdr-guest login: x");
    }
}
