//! Spawning QEMU detached from qcmdr: its own session (a Ctrl-C meant for qcmdr never
//! reaches it, and it outlives the command), stdout and stderr into the VM's QEMU log.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::state_dir::paths::VmPaths;

/// Keeps the previous run's logs as `*.prev.log`, so a new run starts with empty logs (an old
/// `login:` can never match) while the last post-mortem survives one more start.
pub fn rotate_logs(paths: &VmPaths) {
    for (current, previous) in [
        (&paths.serial_log, &paths.serial_log_prev),
        (&paths.qemu_log, &paths.qemu_log_prev),
    ] {
        if current.exists() {
            let _ = fs::rename(current, previous);
        }
    }
}

/// Starts `argv` in `cwd` with its output appended to `log`.
pub fn spawn(argv: &[String], cwd: &Path, log: &Path) -> std::io::Result<Child> {
    let out = crate::state_dir::private_file::create_fresh(log)?;
    let err = out.try_clone()?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(|_| ()).map_err(Into::into));
    }
    command.spawn()
}
