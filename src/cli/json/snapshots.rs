//! `qcmdr.snapshots/1`: every snapshot of `snapshot list --json`.

use serde::Serialize;

use super::SNAPSHOTS_SCHEMA;
use crate::lifecycle::snapshot::store::{Disk, Metadata};

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

#[derive(Debug, Serialize)]
pub struct SnapshotEntry {
    pub vm: String,
    pub name: String,
    pub created_at: f64,
    pub size_bytes: u64,
    pub took_s: f64,
    pub qemu_version: String,
    pub disks: Vec<Disk>,
    pub path: String,
}

impl SnapshotEntry {
    pub fn new(meta: &Metadata, path: String) -> Self {
        SnapshotEntry {
            vm: meta.vm.clone(),
            name: meta.name.clone(),
            created_at: meta.created_at,
            size_bytes: meta.size_bytes,
            took_s: meta.took_s,
            qemu_version: meta.qemu_version.clone(),
            disks: meta.disks.clone(),
            path,
        }
    }
}
