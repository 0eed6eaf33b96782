//! The full QEMU argv of a VM: the binary, the user's args, then qcmdr's control plumbing.

use crate::model::{Project, Vm};
use crate::runtime::paths::VmPaths;

/// `argv[0]` is the QEMU binary (resolved path when found, else `qemu-system-<arch>`).
pub fn build(project: &Project, vm: &Vm, paths: &VmPaths) -> Vec<String> {
    let _ = (project, vm, paths);
    todo!("qemu::argv::build")
}
