//! One qcmdr at a time may change a VM: an exclusive `flock` on the VM's `lock` file.
//!
//! The holder writes who it is into the file, so a second `start`/`stop` can say who holds
//! the lock instead of waiting. The kernel drops the lock when the holder exits, however it
//! exits, so a crash never leaves a VM locked.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};

/// `status` probes the lock briefly; a change command retries this long before giving up,
/// so such a probe never makes it fail.
const CONTENTION_GRACE: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another qcmdr is changing this VM ({holder}); try again when it is done")]
    Held { holder: String },
    #[error("cannot lock {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as it lives.
#[derive(Debug)]
pub struct VmLock {
    _file: File,
}

/// Takes the lock of the VM whose lock file is `path`, recording `purpose` (e.g.
/// `qcmdr start demo`) for whoever finds it taken.
pub fn acquire(path: &Path, purpose: &str) -> Result<VmLock, LockError> {
    let io_err = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = open(path).map_err(io_err)?;
    let started = Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < CONTENTION_GRACE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(LockError::Held {
                    holder: read_holder(&mut file),
                })
            }
            Err(errno) => return Err(io_err(errno.into())),
        }
    }
    let record = format!("pid {}: {purpose}", std::process::id());
    file.set_len(0).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    file.write_all(record.as_bytes()).map_err(io_err)?;
    Ok(VmLock { _file: file })
}

/// Who holds the lock right now, if anyone (without taking it for longer than a probe).
pub fn holder(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            None
        }
        Err(_) => Some(read_holder(&mut file)),
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    super::private_file::open_existing_or_new(path)
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "holder unknown".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = acquire(&path, "qcmdr start demo").unwrap();
        let err = acquire(&path, "qcmdr stop demo").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("qcmdr start demo"), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert_eq!(
            holder(&path).as_deref().map(|h| h.contains("start")),
            Some(true)
        );
        drop(first);
        assert_eq!(holder(&path), None);
        acquire(&path, "qcmdr stop demo").unwrap();
    }
}
