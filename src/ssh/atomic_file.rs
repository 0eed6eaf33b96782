//! Replacing a small file atomically, and only when its content changes.
//!
//! Many qcmdr commands regenerate the same files at the same time. Writing a private temp file
//! and renaming it over the target means a reader (ssh, sh) only ever sees a whole file, and
//! skipping identical content keeps concurrent callers from churning the directory.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes `path` hold `contents` with permission bits `mode`. Returns whether it wrote.
///
/// The parent folder must exist. When the content is already right only the mode is fixed.
pub fn write_if_changed(path: &Path, contents: &[u8], mode: u32) -> io::Result<bool> {
    if let Ok(existing) = fs::read(path) {
        if existing == contents {
            let meta = fs::metadata(path)?;
            if meta.permissions().mode() & 0o7777 != mode {
                fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
            }
            return Ok(false);
        }
    }
    let temp = temp_path(path)?;
    let result = write_new(&temp, contents, mode).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| true)
}

fn write_new(temp: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(temp)?;
    // The umask may have cleared bits of `mode` (e.g. 0755 under umask 077).
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    // Without this a crash right after the rename can leave an empty file behind.
    file.sync_all()
}

/// A name unique across processes (pid) and threads (counter), in the target's own folder so
/// the rename never crosses a file system.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let unique = format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    Ok(path.with_file_name(unique))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn writes_then_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        assert!(write_if_changed(&file, b"one", 0o600).unwrap());
        assert_eq!(mode_of(&file), 0o600);
        assert!(!write_if_changed(&file, b"one", 0o600).unwrap());
        assert!(write_if_changed(&file, b"two", 0o600).unwrap());
        assert_eq!(fs::read(&file).unwrap(), b"two");
        // Nothing but the target is left in the folder.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn same_content_with_wrong_mode_gets_its_mode_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!write_if_changed(&file, b"x", 0o755).unwrap());
        assert_eq!(mode_of(&file), 0o755);
    }

    #[test]
    fn concurrent_writers_leave_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        let big = vec![b'a'; 64 * 1024];
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| write_if_changed(&file, &big, 0o600).unwrap());
            }
        });
        assert_eq!(fs::read(&file).unwrap(), big);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
