//! Opening a QMP session to a running VM, its errors (a busy socket: `QmpError::Busy`) as the
//! CLI reports them.

use std::time::Duration;

use super::Failure;
use crate::qemu::qmp::Qmp;
use crate::state_dir::paths::VmPaths;

pub fn open(paths: &VmPaths, timeout: Duration) -> Result<Qmp, Failure> {
    Qmp::connect(&paths.qmp_socket, timeout).map_err(Failure::from)
}
