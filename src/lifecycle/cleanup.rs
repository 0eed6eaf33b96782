//! Removing what a QEMU run leaves behind, so a stale file never blocks the next start.

use super::context::Context;
use super::events::{Event, Observer};
use crate::model::Vm;
use crate::runtime::process::{self, remove_files, Identity};
use crate::state_dir::paths::VmPaths;

/// What the VM's pidfile says; when no QEMU of this VM runs, what its last run left behind
/// (pidfile, sockets, the SSH master of a crashed run) is removed first, saying so when the
/// pidfile was stale. The caller holds the VM's lock.
pub fn identify_clearing(
    ctx: &Context,
    vm: &Vm,
    observer: &dyn Observer,
) -> std::io::Result<Identity> {
    let paths = ctx.paths(vm);
    let identity = process::identify(&paths.pidfile)?;
    match &identity {
        Identity::Running(_) => {}
        Identity::Stale { reason, .. } => {
            observer.event(
                &vm.name,
                Event::Notice(format!("removed a stale pidfile: {reason}")),
            );
            remove_runtime_files(&paths);
            // A master left from the crashed run would otherwise linger on the old connection.
            ctx.ssh_target(vm).close_master();
        }
        Identity::NotRunning => remove_runtime_files(&paths),
    }
    Ok(identity)
}

/// The pidfile and the sockets, and the mounts' daemons (they serve no QEMU any more); the
/// logs are always kept for post-mortems.
pub fn remove_runtime_files(paths: &VmPaths) {
    let mut files = vec![paths.pidfile.as_path()];
    files.extend(paths.sockets());
    remove_files(files);
    crate::mounts::end_all(paths);
}
