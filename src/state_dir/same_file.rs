//! Whether two paths name the same file: by device and inode, not by spelling.
//!
//! One state dir is reached as `/home/u/proj/.qcmdr`, `/srv/proj/.qcmdr` through a symlink,
//! or `proj/../proj/.qcmdr`; comparing strings would take a running VM for a stranger.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// True if `a` and `b` exist and are the same file (symlinks followed); equal spellings count
/// as the same even when the file is gone.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_or_dotted_path_is_the_same_file() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir_all(real.join("vm")).unwrap();
        std::fs::write(real.join("vm/qemu.pid"), "1").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(same_file(
            &real.join("vm/qemu.pid"),
            &link.join("vm/qemu.pid")
        ));
        assert!(same_file(
            &real.join("vm/qemu.pid"),
            &real.join("vm/../vm/qemu.pid")
        ));
        std::fs::write(real.join("vm/other.pid"), "1").unwrap();
        assert!(!same_file(
            &real.join("vm/qemu.pid"),
            &real.join("vm/other.pid")
        ));
        assert!(!same_file(&real.join("nope"), &link.join("nope2")));
    }
}
