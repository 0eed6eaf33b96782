//! `snapshot delete`: the disks' internal snapshots first (through QMP when the VM runs, as
//! QEMU holds the images then; else `qemu-img`), then the folder. A VM that was started from
//! the snapshot keeps running unharmed: its disks never depend on their internal snapshots.
//!
//! A refusal on a disk ends the delete there and keeps the folder, so the snapshot stays
//! listed and a second delete finishes the job; the error says which drives lost their part.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::store::{self, Disk, Store};
use super::SnapshotError;
use crate::error_chain::chain;
use crate::lifecycle::context::Context;
use crate::model::Vm;
use crate::qemu::migration;
use crate::qemu::qemu_img::{self, QemuImg, QemuImgError};
use crate::qemu::qmp::{Qmp, QmpError};
use crate::runtime::process::{self, Identity};
use crate::state_dir::lock;

const QMP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a disk kept its part of a snapshot.
#[derive(Debug)]
pub enum DiskRefusal {
    /// QEMU's own words (e.g. `Need a root block node` while a block job holds the drive).
    Qemu(String),
    Qmp(QmpError),
    QemuImg(QemuImgError),
}

impl fmt::Display for DiskRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskRefusal::Qemu(desc) => f.write_str(desc),
            DiskRefusal::Qmp(err) => f.write_str(&chain(err)),
            DiskRefusal::QemuImg(err) => f.write_str(&chain(err)),
        }
    }
}

/// A disk that refused to delete its part of a snapshot, and what the delete left.
#[derive(Debug)]
pub struct Refusal {
    vm: String,
    name: String,
    disk: Disk,
    why: DiskRefusal,
    /// Drives whose part was deleted before the refusal.
    emptied: Vec<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refusal {
            vm,
            name,
            disk,
            why,
            emptied,
        } = self;
        write!(
            f,
            "snapshot {name:?} is not deleted: drive {:?} ({}) refused: {why}; ",
            disk.device, disk.file
        )?;
        if emptied.is_empty() {
            f.write_str("its files and every drive's part are kept")?;
        } else {
            let drives: Vec<String> = emptied.iter().map(|d| format!("{d:?}")).collect();
            write!(
                f,
                "drive {} no longer holds its part (so it can no longer be restored, only \
                 deleted); its files and the other drives' parts are kept",
                drives.join(", ")
            )?;
        }
        write!(
            f,
            "; once the cause is gone: qcmdr snapshot delete {vm} {name}"
        )
    }
}

pub fn delete(ctx: &Context, vm: &Vm, name: &str) -> Result<(), SnapshotError> {
    store::check_name(name)?;
    let paths = ctx.paths(vm);
    let store = Store::new(&paths);
    if !store.exists(name) {
        return Err(SnapshotError::NotFound {
            vm: vm.name.clone(),
            name: name.to_string(),
            existing: store.names(),
        });
    }
    let _lock = lock::acquire(
        &paths.lock,
        &format!("qcmdr snapshot delete {} {name}", vm.name),
    )?;
    let meta = match store.metadata(&vm.name, name) {
        Ok(meta) => Some(meta),
        // Its metadata.json is damaged: the folder can still be deleted, but which disks hold
        // a part is unknown then (a damaged state file leaves the metadata, and so the disks).
        Err(SnapshotError::Broken { .. }) => None,
        Err(err) => return Err(err),
    };
    let disks = meta.map(|m| m.disks).unwrap_or_default();
    if !disks.is_empty() {
        let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
        let qemu_img = QemuImg {
            binary: qemu_img::binary(Path::new(&argv[0])),
            cwd: ctx.qemu_cwd(),
        };
        let running = matches!(process::identify(&paths.pidfile), Ok(Identity::Running(_)));
        let mut qmp = match running {
            true => Some(
                Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT)
                    .map_err(SnapshotError::qmp("cannot reach QEMU"))?,
            ),
            false => None,
        };
        for (done, disk) in disks.iter().enumerate() {
            let deleted = match &mut qmp {
                Some(qmp) => delete_live(qmp, &qemu_img, disk, name),
                None => qemu_img
                    .delete(&disk.file, name)
                    .map_err(DiskRefusal::QemuImg),
            };
            if let Err(why) = deleted {
                return Err(SnapshotError::DeleteRefused(Box::new(Refusal {
                    vm: vm.name.clone(),
                    name: name.to_string(),
                    disk: disk.clone(),
                    why,
                    emptied: disks[..done].iter().map(|d| d.device.clone()).collect(),
                })));
            }
        }
    }
    store.remove(name).map_err(SnapshotError::io(format!(
        "cannot remove {}",
        store.dir(name).display()
    )))
}

/// Deletes `disk`'s part of snapshot `name` through the running QEMU.
fn delete_live(
    qmp: &mut Qmp,
    qemu_img: &QemuImg,
    disk: &Disk,
    name: &str,
) -> Result<(), DiskRefusal> {
    match migration::delete_drive_snapshot(qmp, &disk.device, name) {
        Ok(()) => Ok(()),
        // Already gone (deleted with qemu-img while the VM was stopped): nothing to do.
        Err(QmpError::Command { desc, .. }) if desc.contains("does not exist") => Ok(()),
        // A drive this run does not have (the config changed): QEMU has not opened the image
        // under that name, so qemu-img can delete it there (it fails on QEMU's lock if the
        // image is open under another name).
        Err(QmpError::Command { desc, .. }) if desc.starts_with("Cannot find device") => qemu_img
            .delete(&disk.file, name)
            .map_err(DiskRefusal::QemuImg),
        Err(QmpError::Command { desc, .. }) => Err(DiskRefusal::Qemu(desc)),
        Err(err) => Err(DiskRefusal::Qmp(err)),
    }
}
