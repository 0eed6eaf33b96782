//! The QEMU arguments qcmdr adds for a VM with an `image`: its overlay disk, the image's seed
//! (cloud), and direct kernel boot.

use std::path::Path;

use crate::model::{Project, Vm};
use crate::state_dir::paths::VmPaths;

/// Empty for a VM without an image.
pub fn for_vm(project: &Project, vm: &Vm, paths: &VmPaths) -> Vec<String> {
    let Some(boot) = &vm.image else {
        return Vec::new();
    };
    let text = |path: &Path| path.to_string_lossy().replace(',', ",,");
    let mut args = vec![
        "-drive".to_string(),
        format!("file={},if=virtio,format=qcow2", text(&paths.image_disk)),
    ];
    if let Some(seed) = project.image(&boot.name).and_then(|image| image.seed()) {
        args.extend([
            "-drive".to_string(),
            format!("file={},if=virtio,format=raw,readonly=on", text(&seed)),
        ]);
    }
    for (option, value) in [
        (
            "-kernel",
            boot.kernel
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ),
        (
            "-initrd",
            boot.initrd
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ),
        ("-append", boot.append.clone()),
    ] {
        if let Some(value) = value {
            args.extend([option.to_string(), value]);
        }
    }
    args
}
