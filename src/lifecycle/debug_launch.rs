//! Running a VM's QEMU in the foreground under another program (gdb), with exactly the argv,
//! sockets and logs `start` would give it, so a QEMU developer debugs the real configuration.
//!
//! [`prepare`] does what `start` does before launching (`prelaunch::prepare`, then rotating the
//! logs) and refuses a running VM; the caller runs its program; [`Prepared::finish`]
//! removes the pidfile and sockets once that QEMU is gone. The lock is held in between.

use std::path::PathBuf;

use super::cleanup;
use super::context::Context;
use super::events::Silent;
use super::start::launch;
use super::start::prelaunch::{self, Prelaunch, PrelaunchError};
use crate::model::Vm;
use crate::runtime::process::{self, Identity};
use crate::state_dir::lock::VmLock;
use crate::state_dir::paths::VmPaths;

#[derive(Debug, thiserror::Error)]
pub enum ForegroundError {
    #[error("VM {vm} is already running (pid {pid}); stop it first: qcmdr stop {vm}")]
    Running { vm: String, pid: i32 },
    #[error(transparent)]
    Prelaunch(#[from] PrelaunchError),
    #[error("mounts")]
    Mounts(#[source] crate::mounts::MountError),
}

/// A VM ready to be launched in the foreground; holds the VM's lock while it lives.
#[derive(Debug)]
pub struct Prepared {
    _lock: VmLock,
    pub paths: VmPaths,
    /// Exactly what `start` would run (`argv[0]` is the QEMU binary).
    pub argv: Vec<String>,
    /// Folder QEMU must run in (relative paths in the config mean the same as for `start`).
    pub cwd: PathBuf,
    /// The mounts' virtiofsd, started as for `start` (QEMU connects to them as it starts).
    daemons: crate::mounts::Daemons,
}

/// What [`Prepared::finish`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// QEMU is gone; its pidfile and sockets were removed.
    Cleaned,
    /// QEMU still runs (e.g. gdb detached from it): its files were left alone.
    StillRunning { pid: i32 },
}

/// Prepares `vm` for a foreground run by `purpose` (e.g. `qcmdr gdb demo`, recorded in the lock).
pub fn prepare(ctx: &Context, vm: &Vm, purpose: &str) -> Result<Prepared, ForegroundError> {
    let (lock, paths, argv) = match prelaunch::prepare(ctx, vm, purpose, false, &Silent)? {
        Prelaunch::Running { pid } => {
            return Err(ForegroundError::Running {
                vm: vm.name.clone(),
                pid,
            })
        }
        Prelaunch::Ready { lock, paths, argv } => (lock, paths, argv),
    };
    launch::rotate_logs(&paths);
    // QEMU's output goes to the foreground program's terminal; say so where people look for it.
    crate::state_dir::private_file::create_fresh(&paths.qemu_log)
        .and_then(|mut log| {
            use std::io::Write;
            writeln!(
                log,
                "{purpose}: QEMU ran in the foreground; its output went to that terminal"
            )
        })
        .map_err(prelaunch::io_err(format!(
            "cannot write {}",
            paths.qemu_log.display()
        )))?;
    // No Ctrl-C handling here (gdb owns the terminal next): a never-triggered cancel; the
    // daemons' wait is bounded, and what a killed qcmdr leaves the next start or stop ends.
    let never =
        crate::runtime::cancel::Cancel::new().map_err(prelaunch::io_err("cannot make a pipe"))?;
    let daemons = crate::mounts::start_all(vm, &paths, &never).map_err(ForegroundError::Mounts)?;
    Ok(Prepared {
        _lock: lock,
        paths,
        argv,
        cwd: ctx.qemu_cwd(),
        daemons,
    })
}

impl Prepared {
    /// Call once the foreground program has ended; releases the lock.
    pub fn finish(self) -> Finished {
        match process::identify(&self.paths.pidfile) {
            Ok(Identity::Running(running)) => {
                // They serve the QEMU that still runs.
                self.daemons.keep();
                Finished::StillRunning { pid: running.pid() }
            }
            _ => {
                cleanup::remove_runtime_files(&self.paths);
                Finished::Cleaned
            }
        }
    }
}
