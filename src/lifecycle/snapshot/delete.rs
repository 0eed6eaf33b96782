//! `snapshot delete`: the disks' internal snapshots first (through QMP when the VM runs, as
//! QEMU holds the images then; else `qemu-img`), then the folder. A VM that was started from
//! the snapshot keeps running unharmed: its disks never depend on their internal snapshots.

use std::path::Path;
use std::time::Duration;

use super::qemu_img::{self, QemuImg};
use super::store::{self, Store};
use super::SnapshotError;
use crate::lifecycle::context::Context;
use crate::model::Vm;
use crate::qemu::migration;
use crate::qemu::qmp::{Qmp, QmpError};
use crate::runtime::lock;
use crate::runtime::process::{self, Identity};

const QMP_TIMEOUT: Duration = Duration::from_secs(30);

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
    let meta = match store.load(&vm.name, name) {
        Ok(meta) => Some(meta),
        // A damaged snapshot can still be deleted; its disks are unknown then.
        Err(SnapshotError::Broken { .. }) => None,
        Err(err) => return Err(err),
    };
    let disks = meta.map(|m| m.disks).unwrap_or_default();
    if !disks.is_empty() {
        let running = matches!(process::identify(&paths.pidfile), Ok(Identity::Running(_)));
        if running {
            let mut qmp = Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT)
                .map_err(SnapshotError::qmp("cannot reach QEMU"))?;
            for disk in &disks {
                match migration::delete_drive_snapshot(&mut qmp, &disk.device, name) {
                    Ok(()) => {}
                    // Already gone, or a drive this run does not have.
                    Err(QmpError::Command { .. }) => {}
                    Err(err) => {
                        return Err(SnapshotError::qmp(format!("drive {:?}", disk.device))(err))
                    }
                }
            }
        } else {
            let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
            let qemu_img = QemuImg {
                binary: qemu_img::binary(Path::new(&argv[0])),
                cwd: ctx.qemu_cwd(),
            };
            for disk in &disks {
                qemu_img.delete(&disk.file, name)?;
            }
        }
    }
    store.remove(name).map_err(SnapshotError::io(format!(
        "cannot remove {}",
        store.dir(name).display()
    )))
}
