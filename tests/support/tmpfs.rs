//! A small tmpfs mounted for one test (the tests run as root), to give qcmdr a file system
//! that is nearly or entirely full. Unmounted when dropped, even when the test failed.

use std::path::Path;
use std::process::Command;

pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// `size` as mount(8) takes it, e.g. `2m`.
    pub fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "qcmdr-test"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs (needs root)");
        Tmpfs(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Fills it up, the way a runaway log would, until the kernel says ENOSPC.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0u8; 64 << 10];
        loop {
            if let Err(err) = file.write_all(&chunk) {
                assert_eq!(err.raw_os_error(), Some(28), "ENOSPC expected: {err}");
                return;
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}
