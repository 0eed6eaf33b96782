//! A guest kernel's panic or oops, read from the serial log as it grows, so that `run`
//! reports it (and its lines) instead of waiting for a command whose guest is dead.

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use crate::logs::appended::Appended;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::poll_until::poll_until;

/// What a kernel prints first when it dies or hits a bug it survives.
const STARTS: [&str; 4] = [
    "Kernel panic - not syncing",
    "Oops: ",
    "BUG: ",
    "general protection fault",
];
/// What it prints last: the end of the panic or of the oops' trace.
const ENDS: [&str; 2] = ["---[ end Kernel panic", "---[ end trace"];
/// After a panic's first line, how long its remaining lines (the call trace) may take to
/// reach the serial log before the run reports what it has.
const REST_WITHIN: Duration = Duration::from_secs(3);
/// Lines kept from the first one seen on: a panic with its call trace fits.
const MAX_LINES: usize = 80;

/// Follows one serial log from its beginning (a run's instance has a log of its own).
#[derive(Debug)]
pub struct PanicWatch {
    log: Appended,
    partial: Vec<u8>,
    lines: Vec<String>,
    ended: bool,
}

impl PanicWatch {
    pub fn new(serial_log: &Path) -> Self {
        PanicWatch {
            log: Appended::new(serial_log.to_path_buf()),
            partial: Vec::new(),
            lines: Vec::new(),
            ended: false,
        }
    }

    /// Reads what was added since the last call; true once a panic or oops was seen.
    pub fn update(&mut self) -> bool {
        let added = self.log.read();
        self.feed(&added);
        self.seen()
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            self.line(line);
        }
    }

    fn line(&mut self, line: String) {
        if self.ended || self.lines.len() >= MAX_LINES {
            return;
        }
        if self.lines.is_empty() && !STARTS.iter().any(|start| line.contains(start)) {
            return;
        }
        self.ended = ENDS.iter().any(|end| line.contains(end));
        self.lines.push(line);
    }

    pub fn seen(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The whole report is there (its end marker, or as many lines as are kept).
    pub fn complete(&self) -> bool {
        self.ended || self.lines.len() >= MAX_LINES
    }

    /// Waits, bounded, for the rest of a report seen begun: its lines come over a slow serial
    /// port. `folder` watches the log's folder.
    pub fn read_rest(&mut self, folder: &DirWatch, cancel: &Cancel) {
        let deadline = Instant::now() + REST_WITHIN;
        while self.seen() && !self.complete() && !cancel.is_cancelled() {
            let (folder_fd, cancel_fd) = (folder.fd(), cancel.fd());
            let mut fds = [
                PollFd::new(&folder_fd, PollFlags::IN),
                PollFd::new(&cancel_fd, PollFlags::IN),
            ];
            if !matches!(poll_until(&mut fds, Some(deadline)), Ok(true)) {
                break;
            }
            folder.drain();
            self.update();
        }
    }

    /// From the first panic or oops line on.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    #[test]
    fn a_panic_is_found_across_partial_writes_and_ends_at_its_marker() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serial.log");
        let mut file = File::create(&log).unwrap();
        let mut watch = PanicWatch::new(&log);
        assert!(!watch.update(), "no log yet is no panic");
        file.write_all(b"qcmdr-guest login: \r\n[   12.1] sysrq: Trigger a cr")
            .unwrap();
        assert!(!watch.update());
        file.write_all(b"ash\r\n[   12.2] Kernel panic - not syncing: sysrq triggered crash\r\n[   12.3] CPU: 0 PID: 1\r\n")
            .unwrap();
        assert!(watch.update());
        assert!(!watch.complete());
        file.write_all(
            b"[   12.4] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---\r\nafter\n",
        )
        .unwrap();
        watch.update();
        assert!(watch.complete());
        assert_eq!(
            watch.lines(),
            [
                "[   12.2] Kernel panic - not syncing: sysrq triggered crash",
                "[   12.3] CPU: 0 PID: 1",
                "[   12.4] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
            ]
        );
    }

    #[test]
    fn an_oops_counts_and_ordinary_output_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serial.log");
        std::fs::write(&log, "booting\nBUGS fixed: none\n").unwrap();
        let mut watch = PanicWatch::new(&log);
        assert!(!watch.update());
        std::fs::write(
            &log,
            "booting\nBUGS fixed: none\n[ 3.0] BUG: kernel NULL pointer dereference, address: 0\n[ 3.1] Oops: 0002 [#1] SMP\n",
        )
        .unwrap();
        assert!(watch.update());
        assert_eq!(watch.lines().len(), 2);
    }
}
