//! Saving a QEMU's RAM and device state to a file and loading it back, and internal qcow2
//! snapshots of single disks, which migration does not carry.
//!
//! The file is opened by qcmdr and handed to QEMU (`getfd`, then `fd:NAME`), which every
//! QEMU for a decade has (`file:` URIs only came in 8.2). That is twice as fast as piping
//! through `exec:cat` (no shell, no cat, no pipe copy: 50 ms instead of 100 ms to load the
//! demo guest), and the file is created by qcmdr with `O_EXCL`, so no planted link is
//! followed.
//!
//! Completion is learned from `MIGRATION` events (enabled with the `events` capability), so
//! nothing polls `query-migrate`.

use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::qmp::{Qmp, QmpError};

/// A writable disk of a running QEMU, as `query-block` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    /// The block device name (`-drive id=`), or the node name of a `-blockdev`: stable
    /// across runs of the same command line, unlike generated node names.
    pub device: String,
    /// The image file as QEMU opened it (relative to QEMU's folder when given so).
    pub file: String,
    /// The format driver, e.g. `qcow2` or `raw`.
    pub format: String,
    /// Names of the image's internal snapshots.
    pub snapshots: Vec<String>,
}

/// Every writable disk with a medium (read-only ones and empty drives cannot change).
pub fn writable_drives(qmp: &mut Qmp) -> Result<Vec<Drive>, QmpError> {
    let answer = qmp.execute("query-block", None)?;
    let mut drives = Vec::new();
    for block in answer.as_array().into_iter().flatten() {
        let Some(inserted) = block.get("inserted") else {
            continue;
        };
        if inserted["ro"].as_bool().unwrap_or(true) {
            continue;
        }
        let text = |value: &Value| value.as_str().unwrap_or("").to_string();
        let device = match text(&block["device"]) {
            name if name.is_empty() => text(&inserted["node-name"]),
            name => name,
        };
        let snapshots = inserted["image"]["snapshots"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|snapshot| text(&snapshot["name"]))
            .collect();
        drives.push(Drive {
            device,
            file: text(&inserted["file"]),
            format: text(&inserted["drv"]),
            snapshots,
        });
    }
    Ok(drives)
}

/// Takes the internal snapshot `name` of one disk (the VM should be paused).
pub fn snapshot_drive(qmp: &mut Qmp, device: &str, name: &str) -> Result<(), QmpError> {
    qmp.execute(
        "blockdev-snapshot-internal-sync",
        Some(json!({ "device": device, "name": name })),
    )
    .map(drop)
}

/// Deletes the internal snapshot `name` of one disk of a running QEMU.
pub fn delete_drive_snapshot(qmp: &mut Qmp, device: &str, name: &str) -> Result<(), QmpError> {
    qmp.execute(
        "blockdev-snapshot-delete-internal-sync",
        Some(json!({ "device": device, "name": name })),
    )
    .map(drop)
}

/// Name under which the state file's descriptor is handed to QEMU.
const FD_NAME: &str = "qcmdr-state";

/// Writes RAM and device state to `file` (open for writing). QEMU leaves the VM paused
/// (`postmigrate`) afterwards; `cont` resumes it. Fails with QEMU's own words for a
/// migration blocker.
pub fn save_state(qmp: &mut Qmp, file: &File, deadline: Instant) -> Result<(), QmpError> {
    enable_events(qmp)?;
    // The default bandwidth cap (128 MiB/s) is meant for live migration over a network; a
    // local file takes whatever the disk gives.
    qmp.execute(
        "migrate-set-parameters",
        Some(json!({ "max-bandwidth": i64::MAX / 2 })),
    )?;
    qmp.pass_fd(FD_NAME, file.as_fd())?;
    qmp.execute("migrate", Some(json!({ "uri": format!("fd:{FD_NAME}") })))?;
    wait_done(qmp, deadline)
}

/// Loads what [`save_state`] wrote (`file`, open for reading) into a QEMU started with
/// `-incoming defer`, then runs it.
pub fn load_state(qmp: &mut Qmp, file: &File, deadline: Instant) -> Result<(), QmpError> {
    enable_events(qmp)?;
    qmp.pass_fd(FD_NAME, file.as_fd())?;
    qmp.execute(
        "migrate-incoming",
        Some(json!({ "uri": format!("fd:{FD_NAME}") })),
    )?;
    wait_done(qmp, deadline)?;
    // The state was saved from a paused VM, and a paused state loads paused.
    let status = qmp.execute("query-status", None)?;
    if status["running"].as_bool() != Some(true) {
        qmp.execute("cont", None)?;
    }
    Ok(())
}

fn enable_events(qmp: &mut Qmp) -> Result<(), QmpError> {
    qmp.execute(
        "migrate-set-capabilities",
        Some(json!({ "capabilities": [{ "capability": "events", "state": true }] })),
    )
    .map(drop)
}

fn wait_done(qmp: &mut Qmp, deadline: Instant) -> Result<(), QmpError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(QmpError::Timeout {
                command: "the end of the migration".into(),
                timeout: Duration::ZERO,
            });
        }
        let event = qmp.wait_event("MIGRATION", left)?;
        match event["data"]["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed") | Some("cancelled") => return Err(failure(qmp)),
            _ => {}
        }
    }
}

/// Why a migration failed, in QEMU's words.
fn failure(qmp: &mut Qmp) -> QmpError {
    let desc = qmp
        .execute("query-migrate", None)
        .ok()
        .and_then(|info| info["error-desc"].as_str().map(str::to_string))
        .unwrap_or_else(|| "the migration failed (QEMU gave no reason)".into());
    QmpError::Command {
        class: "MigrationFailed".into(),
        desc,
    }
}
