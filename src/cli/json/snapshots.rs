//! `qcmdr.snapshots/1`: every snapshot of `snapshot list --json`, damaged ones marked.

use serde::Serialize;

use super::SNAPSHOTS_SCHEMA;
use crate::lifecycle::snapshot::delete_command;
use crate::lifecycle::snapshot::store::{Disk, Entry};

#[derive(Debug, Serialize)]
pub struct Snapshots {
    pub schema: &'static str,
    pub snapshots: Vec<SnapshotEntry>,
}

impl Snapshots {
    pub fn new(snapshots: Vec<SnapshotEntry>) -> Self {
        Snapshots {
            schema: SNAPSHOTS_SCHEMA,
            snapshots,
        }
    }
}

/// One snapshot; the fields read from its `metadata.json` are null when that cannot be read.
#[derive(Debug, Serialize)]
pub struct SnapshotEntry {
    pub vm: String,
    pub name: String,
    pub created_at: Option<f64>,
    pub size_bytes: Option<u64>,
    pub took_s: Option<f64>,
    pub qemu_version: Option<String>,
    pub disks: Option<Vec<Disk>>,
    pub path: String,
    pub damaged: Option<Damaged>,
}

/// Why a snapshot cannot be started from, and the command that removes it.
#[derive(Debug, Serialize)]
pub struct Damaged {
    pub reason: String,
    pub delete: String,
}

impl SnapshotEntry {
    pub fn new(vm: &str, entry: &Entry) -> Self {
        let meta = entry.meta.as_ref();
        SnapshotEntry {
            vm: vm.to_string(),
            name: entry.name.clone(),
            created_at: meta.map(|m| m.created_at),
            size_bytes: meta.map(|m| m.size_bytes),
            took_s: meta.map(|m| m.took_s),
            qemu_version: meta.map(|m| m.qemu_version.clone()),
            disks: meta.map(|m| m.disks.clone()),
            path: entry.dir.display().to_string(),
            damaged: entry.damage.as_ref().map(|damage| Damaged {
                reason: damage.to_string(),
                delete: delete_command(vm, &entry.name),
            }),
        }
    }
}
