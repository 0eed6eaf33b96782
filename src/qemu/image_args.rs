//! The QEMU arguments qcmdr adds for a VM with an `image`: its overlay disk, the image's seed
//! (cloud), and direct kernel boot; for a VM without one, its own direct kernel boot.

use std::path::Path;

use crate::model::{Project, Vm};
use crate::state_dir::paths::VmPaths;

/// Empty for a VM without an image or kernel.
pub fn for_vm(project: &Project, vm: &Vm, paths: &VmPaths) -> Vec<String> {
    let Some(boot) = &vm.image else {
        return match &vm.kernel_boot {
            Some(boot) => kernel_args(Some(&boot.kernel), boot.initrd.as_deref(), &boot.append),
            None => Vec::new(),
        };
    };
    let text = |path: &Path| path.to_string_lossy().replace(',', ",,");
    let mut args = vec![
        "-drive".to_string(),
        format!("file={},if=virtio,format=qcow2", text(&paths.image_disk)),
    ];
    if let Some(seed) = project.image_of(vm).and_then(|image| image.seed()) {
        args.extend([
            "-drive".to_string(),
            format!("file={},if=virtio,format=raw,readonly=on", text(&seed)),
        ]);
    }
    args.extend(kernel_args(
        boot.kernel.as_deref(),
        boot.initrd.as_deref(),
        &boot.append,
    ));
    args
}

/// `-kernel`, `-initrd`, `-append`, each when set.
fn kernel_args(
    kernel: Option<&Path>,
    initrd: Option<&Path>,
    append: &Option<String>,
) -> Vec<String> {
    let mut args = Vec::new();
    for (option, value) in [
        ("-kernel", kernel.map(|p| p.to_string_lossy().into_owned())),
        ("-initrd", initrd.map(|p| p.to_string_lossy().into_owned())),
        ("-append", append.clone()),
    ] {
        if let Some(value) = value {
            args.extend([option.to_string(), value]);
        }
    }
    args
}
