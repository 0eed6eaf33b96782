//! Spots the login prompt in a growing serial log, reading only what was appended.

use std::path::PathBuf;

use crate::logs::appended::Appended;
use crate::logs::terminal_text;

#[derive(Debug)]
pub struct LoginWatch {
    log: Appended,
    pattern: String,
    /// Raw tail of what was read before: a prompt (or an escape sequence inside it) can be
    /// split across two reads, so each search covers this plus the new bytes.
    carry: Vec<u8>,
    carry_limit: usize,
}

impl LoginWatch {
    pub fn new(path: PathBuf, pattern: &str) -> Self {
        LoginWatch {
            log: Appended::new(path),
            pattern: pattern.to_string(),
            carry: Vec::new(),
            carry_limit: pattern.len() * 8 + 256,
        }
    }

    /// Reads what was appended since the last call; true once the pattern has appeared.
    pub fn check(&mut self) -> bool {
        let fresh = self.log.read();
        if fresh.is_empty() {
            return false;
        }
        self.carry.extend_from_slice(&fresh);
        let text = terminal_text::clean(&String::from_utf8_lossy(&self.carry));
        if text.contains(&self.pattern) {
            return true;
        }
        if self.carry.len() > self.carry_limit {
            let cut = self.carry.len() - self.carry_limit;
            self.carry.drain(..cut);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_a_prompt_split_across_writes_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut watch = LoginWatch::new(path.clone(), "login:");
        assert!(!watch.check());
        file.write_all(b"booting...\r\nqcmdr-guest lo").unwrap();
        assert!(!watch.check());
        file.write_all(b"\x1b[0m").unwrap();
        assert!(!watch.check());
        file.write_all(b"gin: ").unwrap();
        assert!(watch.check());
    }
}
