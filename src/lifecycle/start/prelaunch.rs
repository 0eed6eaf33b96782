//! What `start` and a foreground run (`qcmdr gdb`) both do before QEMU may run: take the
//! VM's lock, find out whether it runs already, clear what a dead run left behind, and check
//! everything that would otherwise make QEMU fail late (binary, host ports, private folders).

use std::path::Path;

use crate::lifecycle::cleanup;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::Observer;
use crate::lifecycle::ports::{self, PortTaken};
use crate::model::Vm;
use crate::runtime::executable::is_executable;
use crate::runtime::lock::{self, LockError, VmLock};
use crate::runtime::paths::VmPaths;
use crate::runtime::private_dir;
use crate::runtime::process::Identity;

/// Why a VM may not be launched; nothing was launched and nothing left behind.
#[derive(Debug, thiserror::Error)]
pub enum PrelaunchError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    PortTaken(#[from] PortTaken),
    #[error("QEMU binary {binary} not found{hint}")]
    MissingBinary { binary: String, hint: String },
    #[error("image {image:?} is not built; build it with: qcmdr image build {image}")]
    ImageNotBuilt { image: String },
    #[error("kernel")]
    KernelTree(#[from] crate::kernel_tree::KernelTreeError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

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
) -> Result<Prelaunch, PrelaunchError> {
    prepare_locked(ctx, vm, lock(ctx, vm, purpose)?, reset_disk, observer)
}

/// The VM's private folders, and its lock taken for `purpose`.
pub fn lock(ctx: &Context, vm: &Vm, purpose: &str) -> Result<VmLock, PrelaunchError> {
    let paths = ctx.paths(vm);
    // The socket folder is the VM folder itself unless that path is too long for sockets.
    for dir in [&paths.dir, &paths.socket_dir] {
        private_dir::ensure(&ctx.state, dir)
            .map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    Ok(lock::acquire(&paths.lock, purpose)?)
}

/// [`prepare`] under a `lock` from [`lock`].
pub fn prepare_locked(
    ctx: &Context,
    vm: &Vm,
    lock: VmLock,
    reset_disk: bool,
    observer: &dyn Observer,
) -> Result<Prelaunch, PrelaunchError> {
    let paths = ctx.paths(vm);
    let identity =
        cleanup::identify_clearing(ctx, vm, observer).map_err(io_err("cannot read the pidfile"))?;
    if let Identity::Running(running) = identity {
        return Ok(Prelaunch::Running { pid: running.pid() });
    }
    super::image_disk::prepare(ctx, vm, &paths, reset_disk, observer)?;
    let mut argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    super::kernel_boot::apply(vm, &paths, &mut argv)?;
    check_binary(&argv[0], ctx)?;
    ports::check_free(vm, &ctx.state)?;
    Ok(Prelaunch::Ready { lock, paths, argv })
}

/// Wraps an I/O error with what was being done, for `map_err`.
pub fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PrelaunchError {
    let context = context.into();
    move |source| PrelaunchError::Io { context, source }
}

fn check_binary(binary: &str, ctx: &Context) -> Result<(), PrelaunchError> {
    let path = Path::new(binary);
    if path.is_absolute() && is_executable(path) {
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
    Err(PrelaunchError::MissingBinary {
        binary: binary.to_string(),
        hint,
    })
}
