//! Colours and message shapes on stderr (honours NO_COLOR; plain when piped).

use std::io::Write;

use anstyle::{AnsiColor, Style};

const ERROR: Style = AnsiColor::Red.on_default().bold();
const GOOD: Style = AnsiColor::Green.on_default();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();

pub fn error_line(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(err, "{ERROR}error{ERROR:#}: {message}");
}

pub fn warning_line(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(err, "{WARNING}warning{WARNING:#}: {message}");
}

pub fn good(text: &str) -> String {
    format!("{GOOD}{text}{GOOD:#}")
}

pub fn warn(text: &str) -> String {
    format!("{WARNING}{text}{WARNING:#}")
}

pub fn bad(text: &str) -> String {
    format!("{ERROR}{text}{ERROR:#}")
}
