//! What `start` and a foreground run (`qcmdr gdb`) both do before QEMU may run: take the
//! VM's lock, find out whether it runs already, clear what a dead run left behind, and check
//! everything that would otherwise make QEMU fail late (binary, host ports, private folders).

use std::fs;
use std::path::Path;

use super::cleanup;
use super::context::Context;
use super::events::{Event, Observer};
use super::ports;
use super::start::StartError;
use crate::model::Vm;
use crate::runtime::lock::{self, VmLock};
use crate::runtime::paths::VmPaths;
use crate::runtime::private_dir;
use crate::runtime::process::{self, Identity};

/// What [`prepare`] found.
#[derive(Debug)]
// Made once per launch and taken apart at once: boxing `Ready` would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Prelaunch {
    /// The VM's QEMU runs already (verified); nothing was changed.
    Running { pid: i32 },
    /// Nothing runs, the checks passed; the lock is held while this lives.
    Ready {
        lock: VmLock,
        paths: VmPaths,
        /// Exactly what will be run (`argv[0]` is the QEMU binary).
        argv: Vec<String>,
    },
}

/// Locks `vm` for `purpose` (recorded for whoever finds it locked) and prepares its launch;
/// `reset_disk` gives an image-backed VM a fresh disk.
pub fn prepare(
    ctx: &Context,
    vm: &Vm,
    purpose: &str,
    reset_disk: bool,
    observer: &dyn Observer,
) -> Result<Prelaunch, StartError> {
    let paths = ctx.paths(vm);
    // The socket folder is the VM folder itself unless that path is too long for sockets.
    for dir in [&paths.dir, &paths.socket_dir] {
        private_dir::ensure(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    let lock = lock::acquire(&paths.lock, purpose)?;
    match process::identify(&paths.pidfile).map_err(io_err("cannot read the pidfile"))? {
        Identity::Running(running) => return Ok(Prelaunch::Running { pid: running.pid() }),
        Identity::Stale { reason, .. } => {
            observer.event(
                &vm.name,
                Event::Notice(format!("removed a stale pidfile: {reason}")),
            );
            cleanup::remove_runtime_files(&paths);
            // A master left from the crashed run would otherwise linger on the old connection.
            ctx.ssh_target(vm).close_master();
        }
        Identity::NotRunning => cleanup::remove_runtime_files(&paths),
    }
    super::image_disk::prepare(ctx, vm, &paths, reset_disk, observer)?;
    let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    check_binary(&argv[0], ctx)?;
    ports::check_free(vm, &ctx.state)?;
    Ok(Prelaunch::Ready { lock, paths, argv })
}

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

fn check_binary(binary: &str, ctx: &Context) -> Result<(), StartError> {
    let path = Path::new(binary);
    let usable = path.is_absolute()
        && fs::metadata(path)
            .map(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
            .unwrap_or(false);
    if usable {
        return Ok(());
    }
    let hint = match &ctx.project.qemu_bin_dir {
        Some(dir) => format!(
            " in qemu_bin_dir_fpath ({}); fix qemu_bin_dir_fpath in {} or remove it to search PATH",
            dir.display(),
            ctx.project.config_file.display()
        ),
        None => " on PATH; install QEMU (Debian: apt-get install qemu-system-x86) or set qemu_bin_dir_fpath".into(),
    };
    Err(StartError::MissingBinary {
        binary: binary.to_string(),
        hint,
    })
}
