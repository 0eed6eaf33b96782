//! The last lines of a log, cleaned of terminal escapes, for error reports and `serial -n`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Reads at most this much from the end: enough for many lines, bounded for huge logs.
const TAIL_WINDOW: u64 = 256 * 1024;

/// The last `count` non-empty-at-end lines of `path`; empty if the file does not exist.
pub fn last_lines(path: &Path, count: usize) -> Vec<String> {
    tail(path, count).lines
}

/// The last lines of a log and where the bytes they were read from end, so a follower can
/// continue exactly there.
#[derive(Debug, Default)]
pub struct Tail {
    pub lines: Vec<String>,
    /// Length of the file as read (0 if it does not exist).
    pub end: u64,
}

/// [`last_lines`] plus the offset it read up to.
pub fn tail(path: &Path, count: usize) -> Tail {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Tail::default();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_WINDOW);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Tail::default();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = crate::logs::terminal_text::clean(&String::from_utf8_lossy(&bytes));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let skip = lines.len().saturating_sub(count);
    Tail {
        lines: lines.split_off(skip),
        end: start + bytes.len() as u64,
    }
}
