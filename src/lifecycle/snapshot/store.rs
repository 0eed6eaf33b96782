//! Where snapshots live and what is recorded about them.
//!
//! ```text
//! <state>/vm/<vm>/snapshots/<name>/state          RAM and devices (QEMU's migration stream)
//! <state>/vm/<vm>/snapshots/<name>/metadata.json  when, size, QEMU version, fingerprint, disks
//! ```
//! Every folder is private (0700). A snapshot is written into `.tmp-<name>-<pid>/` and renamed
//! into place only when complete, so a failed or killed save never leaves a half-written
//! snapshot under its real name; names starting with a dot are never listed.
//!
//! A snapshot folder can still be damaged afterwards (a full disk during a copy, a careless
//! edit): it is listed with what is wrong ([`Damage`]), refused before anything is launched
//! ([`Store::load`]), and can be deleted like any other.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state_mark;
use super::SnapshotError;
use crate::qemu::fingerprint::Fingerprint;
use crate::state_dir::paths::{StateDir, VmPaths};
use crate::state_dir::{private_dir, private_file};

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
    /// The state file's [`state_mark`], set by [`Pending::commit`]; absent in a snapshot
    /// saved by a qcmdr before 2026-12 (only its size is checked then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_mark: Option<String>,
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

/// What makes a snapshot unusable, found by looking at its folder.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("{METADATA_FILE} is missing")]
    MetadataMissing,
    #[error("{METADATA_FILE} cannot be read ({0})")]
    MetadataUnreadable(io::Error),
    #[error("{METADATA_FILE} is damaged ({0})")]
    MetadataInvalid(serde_json::Error),
    #[error("the state file is missing")]
    StateMissing,
    #[error("the state file is not a regular file")]
    StateNotAFile,
    #[error("the state file cannot be read ({0})")]
    StateUnreadable(io::Error),
    #[error("the state file has {found} bytes where the save wrote {saved}: {}", size_change(*.found, *.saved))]
    StateSize { found: u64, saved: u64 },
    #[error("the state file's first or last MiB is not what the save wrote: it was changed since")]
    StateChanged,
}

fn size_change(found: u64, saved: u64) -> &'static str {
    if found < saved {
        "it was cut short"
    } else {
        "something was added to it"
    }
}

/// One snapshot folder as found: its metadata when readable, and what is wrong with it.
#[derive(Debug)]
pub struct Entry {
    /// The folder's name, which is the snapshot's name.
    pub name: String,
    pub dir: PathBuf,
    pub meta: Option<Metadata>,
    /// `None` for a sound snapshot; always `Some` when `meta` is `None`.
    pub damage: Option<Damage>,
}

/// How closely the state file is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scrutiny {
    /// Present with the saved size: one `stat`, for listings.
    Size,
    /// And its [`state_mark`] as saved: 2 MiB read, before a start from it.
    Mark,
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

    /// Every snapshot of this VM, damaged ones too, oldest first (a folder whose metadata
    /// cannot be read sorts by its modification time). A listing only checks the state
    /// file's size; [`Store::load`] checks its mark too.
    pub fn list(&self) -> Vec<Entry> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut found: Vec<(f64, Entry)> = entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| {
                let name = entry.file_name().to_str()?.to_string();
                // Hidden (a save or delete under way) or not a name qcmdr gives: not ours.
                check_name(&name).ok()?;
                let listed = self.inspect(&name);
                let at = match &listed.meta {
                    Some(meta) => meta.created_at,
                    None => modified_at(&listed.dir),
                };
                Some((at, listed))
            })
            .collect();
        found.sort_by(|(a, x), (b, y)| a.total_cmp(b).then(x.name.cmp(&y.name)));
        found.into_iter().map(|(_, entry)| entry).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.list().into_iter().map(|entry| entry.name).collect()
    }

    /// The snapshot `name`, checked to be startable: its metadata readable, its state file
    /// there with the size and [`state_mark`] the save recorded. Else an error naming the
    /// snapshots that exist, or what is damaged and how to delete it.
    pub fn load(&self, vm: &str, name: &str) -> Result<Metadata, SnapshotError> {
        let meta = self.metadata(vm, name)?;
        check_state(&self.state_file(name), &meta, Scrutiny::Mark).map_err(broken(vm, name))?;
        Ok(meta)
    }

    /// The metadata of snapshot `name`, whatever state its state file is in (to delete it).
    pub fn metadata(&self, vm: &str, name: &str) -> Result<Metadata, SnapshotError> {
        if !self.exists(name) {
            return Err(self.not_found(vm, name));
        }
        read_metadata(&self.dir(name).join(METADATA_FILE)).map_err(broken(vm, name))
    }

    fn not_found(&self, vm: &str, name: &str) -> SnapshotError {
        SnapshotError::NotFound {
            vm: vm.to_string(),
            name: name.to_string(),
            existing: self.names(),
        }
    }

    /// Snapshot `name`'s folder as a listing sees it.
    fn inspect(&self, name: &str) -> Entry {
        let dir = self.dir(name);
        let (meta, damage) = match read_metadata(&dir.join(METADATA_FILE)) {
            Ok(meta) => {
                let damage = check_state(&dir.join(STATE_FILE), &meta, Scrutiny::Size).err();
                (Some(meta), damage)
            }
            Err(damage) => (None, Some(damage)),
        };
        Entry {
            name: name.to_string(),
            dir,
            meta,
            damage,
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

    /// Records the state file's [`state_mark`] in `meta`, writes it and moves the folder to
    /// its real name, durably: the state file, the metadata and the folder reach the disk
    /// before the rename, and the rename before this returns, so a power loss never leaves a
    /// snapshot with a truncated state file.
    pub fn commit(mut self, mut meta: Metadata) -> Result<Metadata, SnapshotError> {
        let io_err = |what: &str, path: &Path| {
            let context = format!("{what} {}", path.display());
            move |source| SnapshotError::Io { context, source }
        };
        let state = self.state_file();
        let file = fs::File::open(&state).map_err(io_err("cannot open", &state))?;
        meta.state_mark = Some(
            state_mark::of_file(&file, meta.size_bytes).map_err(io_err("cannot read", &state))?,
        );
        file.sync_all().map_err(io_err("cannot flush", &state))?;
        let path = self.temp.join(METADATA_FILE);
        let text = serde_json::to_string_pretty(&meta).expect("metadata serializes");
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
        fsync(root).map_err(io_err("cannot flush", root))?;
        Ok(meta)
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

fn broken<'a>(vm: &'a str, name: &'a str) -> impl FnOnce(Damage) -> SnapshotError + 'a {
    move |damage| SnapshotError::Broken {
        vm: vm.to_string(),
        name: name.to_string(),
        damage,
    }
}

fn read_metadata(path: &Path) -> Result<Metadata, Damage> {
    let text = fs::read_to_string(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => Damage::MetadataMissing,
        _ => Damage::MetadataUnreadable(err),
    })?;
    serde_json::from_str(&text).map_err(Damage::MetadataInvalid)
}

/// The state file at `path` against what the save recorded in `meta` (through a symlink, as
/// QEMU will read it).
fn check_state(path: &Path, meta: &Metadata, scrutiny: Scrutiny) -> Result<(), Damage> {
    let found = match fs::metadata(path) {
        Ok(found) => found,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(Damage::StateMissing),
        Err(err) => return Err(Damage::StateUnreadable(err)),
    };
    if !found.is_file() {
        return Err(Damage::StateNotAFile);
    }
    if found.len() != meta.size_bytes {
        return Err(Damage::StateSize {
            found: found.len(),
            saved: meta.size_bytes,
        });
    }
    let Some(saved_mark) = meta
        .state_mark
        .as_deref()
        .filter(|_| scrutiny == Scrutiny::Mark)
    else {
        return Ok(());
    };
    let mark = fs::File::open(path)
        .and_then(|file| state_mark::of_file(&file, meta.size_bytes))
        .map_err(Damage::StateUnreadable)?;
    if mark == saved_mark {
        Ok(())
    } else {
        Err(Damage::StateChanged)
    }
}

/// A folder's modification time in Unix seconds (0 when unknown).
fn modified_at(dir: &Path) -> f64 {
    fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
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

    /// Snapshot `name` of VM `demo` saved the way `save` does it, with a state file of `size`
    /// bytes; returns its folder.
    fn saved(state: &StateDir, store: &Store, name: &str, size: usize) -> PathBuf {
        let pending = store.begin(state, name).unwrap();
        let bytes: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        io::Write::write_all(&mut pending.create_state_file().unwrap(), &bytes).unwrap();
        let meta = Metadata {
            format: METADATA_FORMAT,
            vm: "demo".into(),
            name: name.into(),
            created_at: 1000.0 + size as f64,
            took_s: 0.1,
            size_bytes: size as u64,
            state_mark: None,
            qemu_version: "7.2.22".into(),
            qemu_binary: "qemu-system-x86_64".into(),
            fingerprint: crate::qemu::fingerprint::of_argv(&["qemu-system-x86_64".into()]),
            disks: vec![Disk {
                device: "data".into(),
                file: "data.qcow2".into(),
            }],
        };
        let meta = pending.commit(meta).unwrap();
        assert!(meta.state_mark.is_some());
        store.dir(name)
    }

    fn load_error(store: &Store, name: &str) -> String {
        crate::error_chain::chain(&store.load("demo", name).unwrap_err())
    }

    const MIB: usize = 1 << 20;

    #[test]
    fn a_saved_snapshot_records_its_state_mark_and_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, store) = store_in(tmp.path());
        let dir = saved(&state, &store, "base", 3 * MIB);
        let meta = store.load("demo", "base").unwrap();
        let recorded = meta.state_mark.unwrap();
        let file = fs::File::open(dir.join(STATE_FILE)).unwrap();
        assert_eq!(
            recorded,
            state_mark::of_file(&file, 3 * MIB as u64).unwrap()
        );
        let listed = store.list();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].meta.is_some() && listed[0].damage.is_none());
    }

    #[test]
    fn a_state_file_cut_short_changed_or_missing_is_refused_naming_the_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, store) = store_in(tmp.path());
        let size = 3 * MIB;
        let cut = saved(&state, &store, "cut", size);
        fs::OpenOptions::new()
            .write(true)
            .open(cut.join(STATE_FILE))
            .unwrap()
            .set_len(MIB as u64)
            .unwrap();
        assert_eq!(
            load_error(&store, "cut"),
            format!(
                "snapshot \"cut\" is damaged: the state file has {MIB} bytes where the save \
                 wrote {size}: it was cut short; delete it: qcmdr snapshot delete demo cut"
            )
        );

        let grown = saved(&state, &store, "grown", size);
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(grown.join(STATE_FILE))
            .unwrap();
        io::Write::write_all(&mut file, b"x").unwrap();
        assert!(
            load_error(&store, "grown").contains("something was added to it"),
            "{}",
            load_error(&store, "grown")
        );

        // Same size, the last byte changed: only the mark sees it.
        let changed = saved(&state, &store, "changed", size);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(changed.join(STATE_FILE))
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"\xff", size as u64 - 1).unwrap();
        assert_eq!(
            load_error(&store, "changed"),
            "snapshot \"changed\" is damaged: the state file's first or last MiB is not what \
             the save wrote: it was changed since; delete it: qcmdr snapshot delete demo changed"
        );

        let gone = saved(&state, &store, "gone", size);
        fs::remove_file(gone.join(STATE_FILE)).unwrap();
        assert_eq!(
            load_error(&store, "gone"),
            "snapshot \"gone\" is damaged: the state file is missing; delete it: qcmdr \
             snapshot delete demo gone"
        );
        fs::create_dir(gone.join(STATE_FILE)).unwrap();
        assert!(load_error(&store, "gone").contains("the state file is not a regular file"));

        // Their metadata is still read, so a delete still knows their disks.
        for name in ["cut", "grown", "changed", "gone"] {
            assert_eq!(store.metadata("demo", name).unwrap().disks.len(), 1);
        }
    }

    #[test]
    fn damaged_snapshots_are_listed_with_what_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, store) = store_in(tmp.path());
        saved(&state, &store, "sound", MIB);
        let garbled = saved(&state, &store, "garbled", 2 * MIB);
        fs::write(garbled.join(METADATA_FILE), "\u{0}\u{7f}garbage").unwrap();
        let bare = saved(&state, &store, "bare", 3 * MIB);
        fs::remove_file(bare.join(METADATA_FILE)).unwrap();
        let cut = saved(&state, &store, "cut", 4 * MIB);
        fs::OpenOptions::new()
            .write(true)
            .open(cut.join(STATE_FILE))
            .unwrap()
            .set_len(1)
            .unwrap();
        // Not snapshots: a save under way, a stray file, a name qcmdr never gives.
        fs::create_dir(store.dir(".tmp-x-1")).unwrap();
        fs::write(store.dir("notes"), "").unwrap();
        fs::create_dir(store.dir("a b")).unwrap();

        let listed: Vec<(String, bool, Option<String>)> = store
            .list()
            .into_iter()
            .map(|e| (e.name, e.meta.is_some(), e.damage.map(|d| d.to_string())))
            .collect();
        let by_name = |name: &str| listed.iter().find(|e| e.0 == name).cloned().unwrap();
        assert_eq!(listed.len(), 4, "{listed:?}");
        assert_eq!(by_name("sound"), ("sound".into(), true, None));
        let (_, meta, damage) = by_name("garbled");
        assert!(!meta);
        assert!(
            damage
                .as_deref()
                .unwrap()
                .starts_with("metadata.json is damaged (expected value at line 1 column 1"),
            "{damage:?}"
        );
        assert_eq!(
            by_name("bare"),
            (
                "bare".into(),
                false,
                Some("metadata.json is missing".into())
            )
        );
        let (_, meta, damage) = by_name("cut");
        assert!(meta);
        assert!(damage.unwrap().contains("it was cut short"));
        // Sound and cut sort by their saved time (size-based here), before those without.
        let ordered: Vec<&str> = listed.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(&ordered[..2], ["sound", "cut"]);
        assert_eq!(store.names().len(), 4);

        assert!(load_error(&store, "garbled").starts_with(
            "snapshot \"garbled\" is damaged: metadata.json is damaged (expected value"
        ));
        assert!(load_error(&store, "garbled")
            .ends_with("; delete it: qcmdr snapshot delete demo garbled"));
        assert_eq!(
            load_error(&store, "bare"),
            "snapshot \"bare\" is damaged: metadata.json is missing; delete it: qcmdr \
             snapshot delete demo bare"
        );
        assert!(load_error(&store, "nope").starts_with("no snapshot \"nope\"; its snapshots: "));
    }

    #[test]
    fn metadata_without_a_mark_from_an_older_qcmdr_loads_and_its_size_is_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, store) = store_in(tmp.path());
        let dir = saved(&state, &store, "old", 3 * MIB);
        let path = dir.join(METADATA_FILE);
        let mut value: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert!(value["state_mark"].is_string(), "{value}");
        value.as_object_mut().unwrap().remove("state_mark");
        fs::write(&path, value.to_string()).unwrap();
        // Its ends changed: without a recorded mark nothing can tell, the size still matches.
        let file = fs::OpenOptions::new()
            .write(true)
            .open(dir.join(STATE_FILE))
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"\xff", 0).unwrap();
        assert_eq!(store.load("demo", "old").unwrap().state_mark, None);
        file.set_len(MIB as u64).unwrap();
        assert!(load_error(&store, "old").contains("it was cut short"));
    }
}
