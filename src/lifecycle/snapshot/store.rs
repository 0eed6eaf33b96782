//! Where snapshots live and what is recorded about them.
//!
//! ```text
//! <state>/vm/<vm>/snapshots/<name>/state          RAM and devices (QEMU's migration stream)
//! <state>/vm/<vm>/snapshots/<name>/metadata.json  when, size, QEMU version, fingerprint, disks
//! ```
//! Every folder is private (0700). A snapshot is written into `.tmp-<name>-<pid>/` and renamed
//! into place only when complete, so a failed or killed save never leaves a half-written
//! snapshot under its real name; names starting with a dot are never listed.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SnapshotError;
use crate::qemu::fingerprint::Fingerprint;
use crate::runtime::paths::{StateDir, VmPaths};
use crate::runtime::{private_dir, private_file};

pub const STATE_FILE: &str = "state";
pub const METADATA_FILE: &str = "metadata.json";
/// Version of `metadata.json`; a newer qcmdr reads older ones.
pub const METADATA_FORMAT: u32 = 1;

/// Everything recorded about one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metadata {
    pub format: u32,
    pub vm: String,
    pub name: String,
    /// Unix time of the save, µs precision.
    pub created_at: f64,
    /// How long the save took (the VM was paused that long).
    pub took_s: f64,
    /// Size of the state file.
    pub size_bytes: u64,
    /// The QEMU that saved it, e.g. `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
    pub qemu_version: String,
    pub qemu_binary: String,
    pub fingerprint: Fingerprint,
    /// Writable disks holding an internal snapshot of the same name.
    pub disks: Vec<Disk>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Disk {
    pub device: String,
    pub file: String,
}

/// The snapshot folders of one VM.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(paths: &VmPaths) -> Self {
        Store {
            root: paths.dir.join("snapshots"),
        }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn state_file(&self, name: &str) -> PathBuf {
        self.dir(name).join(STATE_FILE)
    }

    /// The snapshots of this VM, oldest first. Unreadable entries are skipped.
    pub fn list(&self) -> Vec<Metadata> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut found: Vec<Metadata> = entries
            .flatten()
            .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|entry| read_metadata(&entry.path().join(METADATA_FILE)).ok())
            .collect();
        found.sort_by(|a, b| {
            a.created_at
                .total_cmp(&b.created_at)
                .then(a.name.cmp(&b.name))
        });
        found
    }

    pub fn names(&self) -> Vec<String> {
        self.list().into_iter().map(|m| m.name).collect()
    }

    /// The snapshot `name`, or an error naming the ones that exist.
    pub fn load(&self, vm: &str, name: &str) -> Result<Metadata, SnapshotError> {
        let path = self.dir(name).join(METADATA_FILE);
        match read_metadata(&path) {
            Ok(meta) if self.state_file(name).is_file() => Ok(meta),
            Ok(_) => Err(SnapshotError::Broken {
                path: self.state_file(name),
                why: "the state file is missing".into(),
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(SnapshotError::NotFound {
                vm: vm.to_string(),
                name: name.to_string(),
                existing: self.names(),
            }),
            Err(err) => Err(SnapshotError::Broken {
                path,
                why: err.to_string(),
            }),
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        fs::symlink_metadata(self.dir(name)).is_ok()
    }

    /// A fresh private folder to write snapshot `name` into, removed again unless
    /// [`Pending::commit`] is called.
    pub fn begin(&self, state: &StateDir, name: &str) -> Result<Pending, SnapshotError> {
        let io_err = |what: &str, path: &Path| {
            let context = format!("{what} {}", path.display());
            move |source| SnapshotError::Io { context, source }
        };
        private_dir::ensure(state, &self.root).map_err(io_err("cannot use", &self.root))?;
        self.remove_leftovers();
        let temp = self
            .root
            .join(format!(".tmp-{name}-{}", std::process::id()));
        // Not recursive: the folder must be new, so nothing planted in it can be followed.
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&temp)
            .map_err(io_err("cannot create", &temp))?;
        Ok(Pending {
            temp,
            target: self.dir(name),
            done: false,
        })
    }

    /// Folders a killed save or delete left behind (`.tmp-*-PID`, `.del-*-PID` of a PID
    /// that is gone).
    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(".tmp-") || name.starts_with(".del-")) {
                continue;
            }
            let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            let owner_alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !owner_alive || pid == Some(std::process::id()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Removes snapshot `name`'s folder: renamed away first, so it vanishes at once.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let doomed = self
            .root
            .join(format!(".del-{name}-{}", std::process::id()));
        fs::rename(self.dir(name), &doomed)?;
        fs::remove_dir_all(&doomed)
    }
}

/// A snapshot being written.
#[derive(Debug)]
pub struct Pending {
    temp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Pending {
    pub fn state_file(&self) -> PathBuf {
        self.temp.join(STATE_FILE)
    }

    /// The new, empty state file (0600), for QEMU to write into.
    pub fn create_state_file(&self) -> Result<fs::File, SnapshotError> {
        let path = self.state_file();
        private_file::create_fresh(&path).map_err(SnapshotError::io(format!(
            "cannot create {}",
            path.display()
        )))
    }

    /// Writes the metadata and moves the folder to its real name, durably: the state file,
    /// the metadata and the folder reach the disk before the rename, and the rename before
    /// this returns, so a power loss never leaves a snapshot with a truncated state file.
    pub fn commit(mut self, meta: &Metadata) -> Result<(), SnapshotError> {
        let io_err = |what: &str, path: &Path| {
            let context = format!("{what} {}", path.display());
            move |source| SnapshotError::Io { context, source }
        };
        let state = self.state_file();
        fsync(&state).map_err(io_err("cannot flush", &state))?;
        let path = self.temp.join(METADATA_FILE);
        let text = serde_json::to_string_pretty(meta).expect("metadata serializes");
        private_file::create_fresh(&path)
            .and_then(|mut file| {
                io::Write::write_all(&mut file, text.as_bytes())?;
                file.sync_all()
            })
            .map_err(io_err("cannot write", &path))?;
        fsync(&self.temp).map_err(io_err("cannot flush", &self.temp))?;
        fs::rename(&self.temp, &self.target)
            .map_err(io_err("cannot move the snapshot to", &self.target))?;
        self.done = true;
        let root = self.target.parent().unwrap_or(&self.target);
        fsync(root).map_err(io_err("cannot flush", root))
    }
}

/// `fsync` of a file or a folder (a folder's entries: names created or renamed in it).
fn fsync(path: &Path) -> io::Result<()> {
    fs::File::open(path)?.sync_all()
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.temp);
        }
    }
}

fn read_metadata(path: &Path) -> io::Result<Metadata> {
    let text = fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

/// Snapshot names become folder names and qcow2 snapshot tags: letters, digits, `_`, `-`,
/// `.`, not starting with `.` or `-`, at most 64 characters.
pub fn check_name(name: &str) -> Result<(), SnapshotError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(SnapshotError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_folder_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            ".hidden",
            "-x",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["base", "before-upgrade", "v1.2_3"] {
            check_name(good).unwrap();
        }
    }

    /// A store whose VM folder is `<dir>/vm` inside the state dir `<dir>`.
    fn store_in(dir: &Path) -> (StateDir, Store) {
        (
            StateDir::new(dir),
            Store::new(&VmPaths::new(dir.join("vm"))),
        )
    }

    #[test]
    fn leftovers_of_dead_saves_are_removed_by_the_next_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, store) = store_in(tmp.path());
        fs::create_dir_all(tmp.path().join("vm/snapshots/.tmp-x-999999999")).unwrap();
        let pending = store.begin(&state, "a").unwrap();
        let left: Vec<_> = fs::read_dir(tmp.path().join("vm/snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![format!(".tmp-a-{}", std::process::id())]);
        drop(pending);
    }

    #[test]
    fn a_pending_snapshot_vanishes_unless_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, store) = store_in(tmp.path());
        let pending = store.begin(&state, "a").unwrap();
        fs::write(pending.state_file(), "x").unwrap();
        drop(pending);
        assert!(!store.exists("a"));
        assert_eq!(
            fs::read_dir(tmp.path().join("vm/snapshots"))
                .unwrap()
                .count(),
            0
        );
    }
}
