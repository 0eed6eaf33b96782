//! How much room the state dir's file system has left.
//!
//! QEMU writes the serial log and its own log there for the VM's whole life. On a full file
//! system the serial log silently stops growing, and a start would wait out its whole
//! timeout and blame a missing login prompt; checking first (and naming ENOSPC when it
//! happens anyway) turns that into a one-line cause.

use std::path::Path;

/// Below this, `start` refuses to launch: a boot writes a few hundred KiB of logs, and a file
/// system this close to full is usually filling up.
pub const LAUNCH_MINIMUM: u64 = 8 << 20;
/// Below this a log that stopped growing is taken as ENOSPC.
const FULL: u64 = 64 << 10;

/// Bytes an unprivileged writer can still use on the file system holding `path`.
pub fn available(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Too little room on a file system for a VM's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowSpace {
    pub free: u64,
    pub dir: std::path::PathBuf,
}

impl std::fmt::Display for LowSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "only {} free on the file system of {} (at least {} needed for the VM's logs); \
             free some space or use another --state-dir",
            human(self.free),
            self.dir.display(),
            human(LAUNCH_MINIMUM)
        )
    }
}

/// Why nothing should be launched with its files in `dir`, if the file system is nearly full.
pub fn too_little_for_launch(dir: &Path) -> Option<LowSpace> {
    let free = available(dir)?;
    (free < LAUNCH_MINIMUM).then(|| LowSpace {
        free,
        dir: dir.to_path_buf(),
    })
}

/// A sentence naming ENOSPC when the file system of `file` is full.
pub fn full_hint(file: &Path) -> Option<String> {
    let dir = file.parent().unwrap_or(file);
    let free = available(dir)?;
    (free < FULL).then(|| {
        format!(
            "the file system of {} is full (ENOSPC: {} free), so QEMU cannot write to it",
            file.display(),
            human(free)
        )
    })
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[cfg(test)]
mod tests {
    // A full file system for real: tests/cli_harden.rs (refused before launch) and
    // tests/vm_harden.rs (filled during the boot, ENOSPC named) mount a tmpfs for it.
    use super::*;

    #[test]
    fn an_ordinary_file_system_passes_and_sizes_read_well() {
        let dir = tempfile::tempdir().unwrap();
        if available(dir.path()).unwrap() > LAUNCH_MINIMUM {
            assert!(too_little_for_launch(dir.path()).is_none());
            assert!(full_hint(&dir.path().join("serial.log")).is_none());
        }
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(human(12 << 10), "12 KiB");
    }
}
