//! Removing what a QEMU run leaves behind, so a stale file never blocks the next start.

use crate::runtime::paths::VmPaths;
use crate::runtime::process::remove_files;

/// The pidfile and the sockets; the logs are always kept for post-mortems.
pub fn remove_runtime_files(paths: &VmPaths) {
    let mut files = vec![paths.pidfile.as_path()];
    files.extend(paths.sockets());
    remove_files(files);
}
