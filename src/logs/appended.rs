//! What was appended to a growing log since the last look: the watchers of the serial log
//! (login prompt, kernel panic) read only the new bytes each time it changes.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

#[derive(Debug)]
pub struct Appended {
    path: PathBuf,
    offset: u64,
}

impl Appended {
    /// From the start of `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Appended { path, offset: 0 }
    }

    /// The bytes added since the last call; empty when none were (or the file is missing).
    pub fn read(&mut self) -> Vec<u8> {
        let mut fresh = Vec::new();
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return fresh;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut fresh).is_err()
        {
            return Vec::new();
        }
        self.offset += fresh.len() as u64;
        fresh
    }
}
