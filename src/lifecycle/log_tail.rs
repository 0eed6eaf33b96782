//! The last lines of a log, cleaned of terminal escapes, for error reports and `serial -n`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Reads at most this much from the end: enough for many lines, bounded for huge logs.
const TAIL_WINDOW: u64 = 256 * 1024;

/// The last `count` non-empty-at-end lines of `path`; empty if the file does not exist.
pub fn last_lines(path: &Path, count: usize) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_WINDOW);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = crate::lifecycle::terminal_text::clean(&String::from_utf8_lossy(&bytes));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let skip = lines.len().saturating_sub(count);
    lines.split_off(skip)
}
