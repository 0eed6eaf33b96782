//! Writing a file into a private folder without ever following a symlink found there.
//!
//! The folders are checked private before use, but one may have been loose before qcmdr
//! tightened it, and a symlink planted then (`stop-ssh.log -> ~/.bashrc`) must not turn a
//! log write into an overwrite of its target. The old entry is unlinked (unlinking a symlink
//! never touches its target) and the file is created afresh with `O_EXCL | O_NOFOLLOW`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A new, empty file at `path` (mode 0600 before the umask), replacing whatever was there.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nofollow())
        .open(path)
}

/// Opens (creating if needed) `path` for reading and writing, refusing a symlink.
pub fn open_existing_or_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nofollow())
        .open(path)
}

fn nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_is_replaced_and_its_target_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let log = tmp.path().join("stop-ssh.log");
        std::os::unix::fs::symlink(&victim, &log).unwrap();
        use std::io::Write;
        create_fresh(&log).unwrap().write_all(b"log").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&log).unwrap(), "log");
        assert!(!fs::symlink_metadata(&log).unwrap().file_type().is_symlink());
    }

    #[test]
    fn open_refuses_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let lock = tmp.path().join("lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        assert!(open_existing_or_new(&lock).is_err());
        assert!(open_existing_or_new(&tmp.path().join("new")).is_ok());
    }
}
