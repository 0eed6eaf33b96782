//! Opening a QMP session to a running VM, with the errors a user can act on.

use std::time::Duration;

use super::Failure;
use crate::qemu::qmp::{Qmp, QmpError, GREETING};
use crate::runtime::paths::VmPaths;

pub fn open(paths: &VmPaths, timeout: Duration) -> Result<Qmp, Failure> {
    Qmp::connect(&paths.qmp_socket, timeout).map_err(|err| match err {
        // QEMU serves one QMP client at a time and leaves the next one waiting in silence.
        QmpError::Timeout { command, .. } if command == GREETING => Failure::new(format!(
            "QMP socket busy: another client is connected? ({} sent no greeting within {} s; \
             QEMU serves one QMP client at a time)",
            paths.qmp_socket.display(),
            timeout.as_secs_f64()
        )),
        other => Failure::from(other),
    })
}
