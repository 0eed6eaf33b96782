//! Snapshots: a running VM's whole state (RAM, devices, every writable disk) saved under a
//! name, and a VM started from one in about a second instead of booting.
//!
//! One mechanism serves diskless and disk guests alike. Save: pause the VM (QMP `stop`), take
//! an internal qcow2 snapshot of each writable disk (`blockdev-snapshot-internal-sync`, named
//! like the snapshot), write RAM and devices by migration into a file qcmdr opened (`fd:`),
//! then resume (or quit, for `--stop`). Start from it: revert each disk (`qemu-img snapshot
//! -a`), launch the same guest-visible command line plus `-incoming defer`, load the file
//! (`migrate-incoming`), resume. QEMU's own `savevm` would need a qcow2 disk to hold the RAM,
//! which a kernel + initramfs guest does not have. Writable disks that cannot hold an internal
//! snapshot (raw images, pflash) are refused before anything is touched.
//!
//! A snapshot only loads into the machine it came from: it records the guest-visible
//! command line ([`crate::qemu::fingerprint`]) and QEMU's version, and a start from it refuses when either
//! changed.

pub mod clock;
pub mod delete;
pub mod restore;
pub mod save;
pub mod state_mark;
pub mod store;

use crate::qemu::qmp::QmpError;
use crate::qemu::version::VersionError;
use crate::state_dir::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("invalid snapshot name {0:?}: use letters, digits, '_', '-' and '.' (not first), at most 64 characters")]
    BadName(String),
    #[error("{}", not_found(.name, .vm, .existing))]
    NotFound {
        vm: String,
        name: String,
        existing: Vec<String>,
    },
    #[error("snapshot {name:?} exists already; delete it first: {}", delete_command(.vm, .name))]
    Exists { vm: String, name: String },
    #[error("snapshot {name:?} is damaged: {damage}; delete it: {}", delete_command(.vm, .name))]
    Broken {
        vm: String,
        name: String,
        damage: store::Damage,
    },
    #[error("not running; start it first: qcmdr start {vm}")]
    NotRunning { vm: String },
    #[error("snapshot {name:?} was saved from a different machine: {}; restore the config it was saved with, or save a new snapshot", .changes.join("; "))]
    Changed { name: String, changes: Vec<String> },
    #[error("snapshot {name:?} was saved by QEMU {saved}, this is QEMU {now}; a state loads reliably only into the QEMU that saved it (--force tries anyway)")]
    Version {
        name: String,
        saved: String,
        now: String,
    },
    #[error(
        "QEMU {qemu} does not save the {} {}: a guest started from such a snapshot {}; {} \
         snapshots need QEMU {}.{} or later (a cold start is not affected)",
        .gap.arch, .gap.missing, .gap.consequence, .gap.arch, .gap.fixed_in.0, .gap.fixed_in.1
    )]
    StateGap {
        qemu: String,
        gap: &'static crate::qemu::state_gaps::StateGap,
    },
    #[error("drive {device:?} ({file}, format {format}) is writable but cannot hold a snapshot; convert it to qcow2 (qemu-img convert -O qcow2 ...) or make it read-only (readonly=on)")]
    UnsupportedDisk {
        device: String,
        file: String,
        format: String,
    },
    #[error("the VM runs with mount {tag:?} ({source_dir}): QEMU cannot save the state of a virtiofs device (vhost-user-fs); stop it, drop the mount from mounts, start it and save then")]
    Mounted { tag: String, source_dir: String },
    #[error("the VM runs with -snapshot or snapshot=on: its disk writes live in a temporary file a snapshot cannot keep; remove that option")]
    TemporaryDisks,
    #[error("disk {file} has no internal snapshot {name:?} (deleted with qemu-img?); delete this snapshot")]
    DiskSnapshotMissing { file: String, name: String },
    /// A disk refused to give up its part: nothing more was deleted.
    #[error("{0}")]
    DeleteRefused(Box<delete::Refusal>),
    /// QEMU refused; its own words are the message (a migration blocker, for one).
    #[error("{context}: {desc}")]
    Qemu { context: String, desc: String },
    #[error("{context}")]
    Qmp {
        context: String,
        #[source]
        source: QmpError,
    },
    #[error(transparent)]
    QemuImg(#[from] crate::qemu::qemu_img::QemuImgError),
    #[error("cannot learn the QEMU version")]
    QemuVersion(#[source] VersionError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot stop the VM")]
    Stop(#[source] crate::lifecycle::stop::StopError),
}

/// A snapshot refusal ends a start like any refusal of its saved state.
impl From<SnapshotError> for crate::lifecycle::start::StartError {
    fn from(err: SnapshotError) -> Self {
        crate::lifecycle::start::StartError::SavedState(Box::new(err))
    }
}

impl SnapshotError {
    /// A QMP failure during `context`; a refusal keeps QEMU's own words.
    pub fn qmp(context: impl Into<String>) -> impl FnOnce(QmpError) -> SnapshotError {
        let context = context.into();
        move |source| match source {
            QmpError::Command { desc, .. } => SnapshotError::Qemu { context, desc },
            source => SnapshotError::Qmp { context, source },
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SnapshotError {
        let context = context.into();
        move |source| SnapshotError::Io { context, source }
    }
}

/// The command that deletes snapshot `name` of `vm`.
pub fn delete_command(vm: &str, name: &str) -> String {
    format!("qcmdr snapshot delete {vm} {name}")
}

fn not_found(name: &str, vm: &str, existing: &[String]) -> String {
    if existing.is_empty() {
        format!(
            "no snapshot {name:?} (there are none; save one with: qcmdr snapshot save {vm} NAME)"
        )
    } else {
        format!(
            "no snapshot {name:?}; its snapshots: {}",
            existing.join(", ")
        )
    }
}
