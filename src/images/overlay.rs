//! A VM's own disk over its image: a qcow2 overlay in the VM's state folder whose backing file
//! is the built image, so running a VM never changes the image.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::model::Image;
use crate::runtime::helper::{Helper, HelperError};
use crate::state_dir::paths::VmPaths;

/// Records which image build the overlay was made over.
fn base_record(vm_dir: &Path) -> PathBuf {
    vm_dir.join("disk.base")
}

/// What [`ensure`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The VM's disk from earlier runs is used.
    Kept,
    /// A fresh disk (first start, or `--reset-disk`).
    Created,
    /// The image was rebuilt from a changed recipe: the old disk was kept as `disk.prev.qcow2`
    /// and the VM starts from a fresh one over the new build.
    Replaced { previous: PathBuf },
}

/// Why a VM has no overlay disk.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("`qemu-img create` of the overlay")]
    Create(#[source] HelperError),
}

/// An overlay is a small header naming its backing file: made in milliseconds.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes sure the VM has its overlay over `image` (which must be built). The VM's folder is
/// private and locked by the caller.
pub fn ensure(image: &Image, paths: &VmPaths, reset: bool) -> Result<Outcome, OverlayError> {
    let (overlay, vm_dir) = (&paths.image_disk, paths.dir.as_path());
    let base = image.disk();
    let recorded = fs::read_to_string(base_record(vm_dir)).ok();
    let exists = fs::symlink_metadata(overlay).is_ok();
    let outcome = if !exists || reset {
        Outcome::Created
    } else if recorded.as_deref() == Some(&*base.to_string_lossy()) {
        return Ok(Outcome::Kept);
    } else {
        let previous = vm_dir.join("disk.prev.qcow2");
        fs::rename(overlay, &previous)?;
        Outcome::Replaced { previous }
    };
    let _ = fs::remove_file(overlay);
    // Made under a temporary name, then renamed: a half-made disk is never used.
    let temp = vm_dir.join("disk.qcow2.new");
    let _ = fs::remove_file(&temp);
    let mut create = Command::new("qemu-img");
    create
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&base)
        .arg(&temp)
        .stdin(Stdio::null());
    if let Err(err) = Helper::new(create)
        .timeout(CREATE_TIMEOUT)
        .install_hint("Debian: apt-get install qemu-utils")
        .output()
    {
        let _ = fs::remove_file(&temp);
        return Err(OverlayError::Create(err));
    }
    fs::rename(&temp, overlay)?;
    fs::write(base_record(vm_dir), base.to_string_lossy().as_bytes())?;
    Ok(outcome)
}

/// The disk of a throwaway copy of the VM (`qcmdr run`) in `copy`: a link to the VM's own
/// disk in `own`, recorded as made over the same build, for QEMU to open read-only under
/// its `-snapshot` overlay. Nothing when the VM has no disk yet ([`ensure`] then makes the
/// copy a fresh one over the image).
pub fn share(own: &VmPaths, copy: &VmPaths) -> std::io::Result<()> {
    if fs::symlink_metadata(&own.image_disk).is_err() {
        return Ok(());
    }
    std::os::unix::fs::symlink(&own.image_disk, &copy.image_disk)?;
    same_base(&own.dir, &copy.dir)
}

/// Records the disk in `copy_dir` (a copy of the one in `vm_dir`, made by the caller) as made
/// over the same image build, so that [`ensure`] keeps it.
pub fn same_base(vm_dir: &Path, copy_dir: &Path) -> std::io::Result<()> {
    match fs::read(base_record(vm_dir)) {
        Ok(base) => fs::write(base_record(copy_dir), base),
        Err(_) => Ok(()),
    }
}
