//! A snapshot brought into a run's instance, leaving the snapshot and the VM's disks as they
//! are: the saved state by hard link; each disk holding part of the snapshot (an internal
//! qcow2 snapshot of the same name) copied whole into the instance folder, internal
//! snapshots and all, so that `start` reverts the copy instead of the VM's disk. The
//! instance's QEMU arguments and its copy of the snapshot's record (the machine's
//! fingerprint, the list of disks) name the copies.

use std::fs;
use std::path::{Path, PathBuf};

use super::RunError;
use crate::images::overlay;
use crate::lifecycle::context::Context;
use crate::lifecycle::snapshot::store::{self, Metadata, Store, METADATA_FILE, STATE_FILE};
use crate::lifecycle::snapshot::SnapshotError;
use crate::model::Vm;
use crate::runtime::process::{self, Identity};
use crate::state_dir::private_file;

/// One disk of the snapshot: the file as QEMU opened it, and its copy in the instance.
#[derive(Debug, Clone)]
pub struct DiskCopy {
    pub file: String,
    pub copy: PathBuf,
    /// The VM's own disk over its image (its path is derived, not written in `args`).
    image_disk: bool,
}

/// Snapshot `name` of `vm` and the copies its disks need in the instance folder
/// `instance_vm_dir`; refused while the VM runs (its disks would be copied mid-write).
pub fn plan(
    ctx: &Context,
    vm: &Vm,
    name: &str,
    instance_vm_dir: &Path,
) -> Result<(Metadata, Vec<DiskCopy>), RunError> {
    store::check_name(name)?;
    let own = ctx.paths(vm);
    let meta = Store::new(&own).load(&vm.name, name)?;
    if meta.disks.is_empty() {
        return Ok((meta, Vec::new()));
    }
    if let Ok(Identity::Running(_)) = process::identify(&own.pidfile) {
        return Err(RunError::DisksInUse {
            name: name.to_string(),
            vm: vm.name.clone(),
        });
    }
    let own_image_disk = &own.image_disk;
    let copies = meta
        .disks
        .iter()
        .enumerate()
        .map(|(index, disk)| {
            let image_disk = ctx.qemu_cwd().join(&disk.file) == *own_image_disk;
            let copy = match image_disk {
                true => instance_vm_dir.join(own_image_disk.file_name().unwrap_or_default()),
                false => instance_vm_dir.join(format!("snapshot-disk{index}.qcow2")),
            };
            DiskCopy {
                file: disk.file.clone(),
                copy,
                image_disk,
            }
        })
        .collect();
    Ok((meta, copies))
}

/// The instance's `args` with every disk of the snapshot replaced by its copy; a disk the
/// args do not name as `file=...` is refused (it would be opened, and written, in place).
pub fn retarget_args(args: &[String], copies: &[DiskCopy]) -> Result<Vec<String>, RunError> {
    let mut args = args.to_vec();
    for copy in copies.iter().filter(|copy| !copy.image_disk) {
        let mut found = false;
        for word in &mut args {
            if let Some(changed) = with_file(word, &copy.file, &copy.copy) {
                *word = changed;
                found = true;
            }
        }
        if !found {
            return Err(RunError::DiskNotInArgs {
                file: copy.file.clone(),
            });
        }
    }
    Ok(args)
}

/// Copies the disks, links the state and writes the instance's record of the snapshot.
pub fn bring(
    ctx: &Context,
    vm: &Vm,
    meta: &Metadata,
    copies: &[DiskCopy],
    instance_store: &Store,
    instance_vm_dir: &Path,
) -> Result<(), RunError> {
    let name = &meta.name;
    let own = Store::new(&ctx.paths(vm));
    let io = |what: &str, path: &Path| {
        let context = format!("cannot {what} {} into the run", path.display());
        move |source| SnapshotError::Io { context, source }
    };
    for disk in copies {
        let from = ctx.qemu_cwd().join(&disk.file);
        fs::copy(&from, &disk.copy).map_err(io("copy", &from))?;
        if disk.image_disk {
            overlay::same_base(&ctx.paths(vm).dir, instance_vm_dir).map_err(io("record", &from))?;
        }
    }
    let target = instance_store.dir(name);
    let (state, to) = (own.state_file(name), target.join(STATE_FILE));
    if fs::hard_link(&state, &to).is_err() {
        fs::copy(&state, &to).map_err(io("copy", &state))?;
    }
    let mut record = meta.clone();
    for (disk, copy) in record.disks.iter_mut().zip(copies) {
        disk.file = copy.copy.to_string_lossy().into_owned();
    }
    for value in record.fingerprint.values_mut().flatten() {
        for copy in copies {
            if let Some(changed) = with_file(value, &copy.file, &copy.copy) {
                *value = changed;
            }
        }
    }
    let path = target.join(METADATA_FILE);
    let text = serde_json::to_vec_pretty(&record).map_err(|e| io("write", &path)(e.into()))?;
    let mut file = private_file::create_fresh(&path).map_err(io("write", &path))?;
    std::io::Write::write_all(&mut file, &text).map_err(io("write", &path))?;
    Ok(())
}

/// `word` (a `-drive` value) with its `file=FILE` item naming `copy` instead, if it has one;
/// QEMU reads `,,` in a value as one comma.
fn with_file(word: &str, file: &str, copy: &Path) -> Option<String> {
    let item = format!("file={}", file.replace(',', ",,"));
    let start = word.match_indices(&item).map(|(at, _)| at).find(|&at| {
        let before_ok = at == 0 || word[..at].ends_with(',');
        let after = &word[at + item.len()..];
        before_ok && (after.is_empty() || (after.starts_with(',') && !after.starts_with(",,")))
    })?;
    let replaced = format!("file={}", copy.to_string_lossy().replace(',', ",,"));
    Some(format!(
        "{}{replaced}{}",
        &word[..start],
        &word[start + item.len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_file_item_is_replaced() {
        let copy = Path::new("/run/1/snapshot-disk0.qcow2");
        assert_eq!(
            with_file("file=/d/a.qcow2,if=virtio,id=d0", "/d/a.qcow2", copy).as_deref(),
            Some("file=/run/1/snapshot-disk0.qcow2,if=virtio,id=d0")
        );
        assert_eq!(
            with_file("if=virtio,file=/d/a.qcow2", "/d/a.qcow2", copy).as_deref(),
            Some("if=virtio,file=/run/1/snapshot-disk0.qcow2")
        );
        assert_eq!(
            with_file("file=/d/a.qcow2.bak,if=virtio", "/d/a.qcow2", copy),
            None
        );
        assert_eq!(
            with_file("backing.file=/d/a.qcow2", "/d/a.qcow2", copy),
            None
        );
        assert_eq!(
            with_file("file=/d/a,,b.qcow2,if=virtio", "/d/a,b.qcow2", copy).as_deref(),
            Some("file=/run/1/snapshot-disk0.qcow2,if=virtio")
        );
    }

    #[test]
    fn a_disk_the_args_do_not_name_is_refused() {
        let copies = [DiskCopy {
            file: "/d/a.qcow2".into(),
            copy: "/run/1/snapshot-disk0.qcow2".into(),
            image_disk: false,
        }];
        let args = vec!["-drive".to_string(), "file=/d/b.qcow2".to_string()];
        assert!(matches!(
            retarget_args(&args, &copies),
            Err(RunError::DiskNotInArgs { .. })
        ));
        let args = vec!["-drive".to_string(), "file=/d/a.qcow2,id=x".to_string()];
        assert_eq!(
            retarget_args(&args, &copies).unwrap()[1],
            "file=/run/1/snapshot-disk0.qcow2,id=x"
        );
    }
}
