//! The QEMU arguments of a VM's `mounts`: the guest's RAM as shared memory (a vhost-user
//! daemon maps it), one vhost-user-fs device per mount, and the mounts' words on the
//! kernel command line.

use crate::model::Vm;
use crate::state_dir::paths::VmPaths;

/// Memory backend id qcmdr owns.
pub const MEMORY_ID: &str = "qcmdr-mem";

/// Empty for a VM without mounts.
pub fn for_vm(vm: &Vm, paths: &VmPaths) -> Vec<String> {
    if vm.mounts.is_empty() {
        return Vec::new();
    }
    let mut args = vec![
        "-object".to_string(),
        format!(
            "memory-backend-memfd,id={MEMORY_ID},size={}M,share=on",
            vm.memory_mib
        ),
        "-numa".to_string(),
        format!("node,memdev={MEMORY_ID}"),
    ];
    for mount in &vm.mounts {
        let socket = crate::mounts::socket(paths, &mount.tag);
        let chardev = format!("qcmdr-fs-{}", mount.tag);
        args.extend([
            "-chardev".to_string(),
            format!(
                "socket,id={chardev},path={}",
                socket.to_string_lossy().replace(',', ",,")
            ),
            "-device".to_string(),
            format!("vhost-user-fs-pci,chardev={chardev},tag={}", mount.tag),
        ]);
    }
    args
}

/// Adds the mounts' words to the kernel command line in `argv` (the last `-append`, qcmdr's
/// or the user's); a guest booted without one mounts its folders itself (an fstab line).
pub fn append_kernel_words(vm: &Vm, argv: &mut [String]) {
    if vm.mounts.is_empty() {
        return;
    }
    let Some(at) = argv
        .iter()
        .rposition(|a| a == "-append" || a == "--append")
        .filter(|at| at + 1 < argv.len())
    else {
        return;
    };
    let value = &mut argv[at + 1];
    for word in crate::mounts::kernel_words(&vm.mounts) {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(&word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fixtures, MountSpec};
    use std::path::PathBuf;

    #[test]
    fn shared_memory_one_device_per_mount_and_the_words_on_the_command_line() {
        let mut vm = fixtures::vm("demo", 2222);
        vm.memory_mib = 256;
        vm.mounts = vec![
            MountSpec {
                source: "/h/linux".into(),
                dest: "/src/linux".into(),
                readonly: false,
                tag: "qcmdr1".into(),
            },
            MountSpec {
                source: "/h/data".into(),
                dest: "/data".into(),
                readonly: true,
                tag: "qcmdr2".into(),
            },
        ];
        let paths = VmPaths::new(PathBuf::from("/p/.qcmdr/vm/demo"));
        let args = for_vm(&vm, &paths);
        assert_eq!(
            args,
            [
                "-object",
                "memory-backend-memfd,id=qcmdr-mem,size=256M,share=on",
                "-numa",
                "node,memdev=qcmdr-mem",
                "-chardev",
                "socket,id=qcmdr-fs-qcmdr1,path=/p/.qcmdr/vm/demo/qcmdr1.sock",
                "-device",
                "vhost-user-fs-pci,chardev=qcmdr-fs-qcmdr1,tag=qcmdr1",
                "-chardev",
                "socket,id=qcmdr-fs-qcmdr2,path=/p/.qcmdr/vm/demo/qcmdr2.sock",
                "-device",
                "vhost-user-fs-pci,chardev=qcmdr-fs-qcmdr2,tag=qcmdr2",
            ]
        );
        let mut argv: Vec<String> = ["qemu", "-append", "console=ttyS0"]
            .map(String::from)
            .to_vec();
        append_kernel_words(&vm, &mut argv);
        assert_eq!(
            argv[2],
            "console=ttyS0 qcmdr.mount=qcmdr1:/src/linux:rw qcmdr.mount=qcmdr2:/data:ro"
        );
    }
}
