//! What `start` and a foreground run (`qcmdr gdb`) both do before QEMU may run: take the
//! VM's lock, find out whether it runs already, clear what a dead run left behind, and check
//! everything that would otherwise make QEMU fail late (binary, host ports, private folders).

use super::image_disk::{self, ImageDiskError};
use crate::lifecycle::cleanup;
use crate::lifecycle::context::Context;
use crate::lifecycle::doctor::kvm::{self, KvmUnusable};
use crate::lifecycle::events::{Event, Observer};
use crate::lifecycle::ports::{self, PortTaken};
use crate::model::Vm;
use crate::qemu::accel::{kvm_use, KvmUse};
use crate::runtime::process::Identity;
use crate::state_dir::lock::{self, LockError, VmLock};
use crate::state_dir::paths::VmPaths;
use crate::state_dir::private_dir;

/// Why a VM may not be launched; nothing was launched and nothing left behind.
#[derive(Debug, thiserror::Error)]
pub enum PrelaunchError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    PortTaken(#[from] PortTaken),
    #[error("QEMU binary {binary} not found{hint}")]
    MissingBinary { binary: String, hint: String },
    /// The VM asks for KVM only, and this process cannot use it: QEMU would fail at once.
    #[error(
        "the VM is configured for KVM ({asked_by}), so nothing was launched (or run it under \
         TCG: accel=tcg, slower; or let it fall back: accel=kvm:tcg); KVM is not usable here"
    )]
    KvmUnusable {
        asked_by: String,
        #[source]
        cause: KvmUnusable,
    },
    #[error(transparent)]
    ImageDisk(#[from] ImageDiskError),
    #[error("firmware {file} not found (qcmdr's default for {arch} without a kernel); install it (Debian: apt-get install {package}), or give -kernel or -bios in args")]
    MissingFirmware {
        file: &'static str,
        arch: String,
        package: &'static str,
    },
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
    check_kvm(vm, observer)?;
    image_disk::prepare(ctx, vm, &paths, reset_disk, observer)?;
    let mut argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    super::kernel_boot::apply(vm, &paths, &mut argv)?;
    check_binary(&argv[0], ctx, vm)?;
    if let Some((file, package)) =
        crate::model::arch::missing_firmware(&vm.arch, &vm.arch_defaults, |p| p.is_file())
    {
        return Err(PrelaunchError::MissingFirmware {
            file,
            arch: vm.arch.clone(),
            package,
        });
    }
    ports::check_free(vm, &ctx.state)?;
    Ok(Prelaunch::Ready { lock, paths, argv })
}

/// Wraps an I/O error with what was being done, for `map_err`.
pub fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PrelaunchError {
    let context = context.into();
    move |source| PrelaunchError::Io { context, source }
}

/// A VM that asks for KVM only is refused here when KVM is not usable (QEMU's own error would
/// come after the launch, and say less); one that falls back to TCG starts, with a notice.
fn check_kvm(vm: &Vm, observer: &dyn Observer) -> Result<(), PrelaunchError> {
    match kvm_use(&vm.args) {
        KvmUse::No => Ok(()),
        KvmUse::Required { asked_by } => match kvm::usable() {
            Ok(()) => Ok(()),
            Err(cause) => Err(PrelaunchError::KvmUnusable { asked_by, cause }),
        },
        KvmUse::WithFallback { asked_by } => {
            if let Err(why) = kvm::usable() {
                observer.event(
                    &vm.name,
                    Event::Notice(format!(
                        "KVM is not usable here, so QEMU falls back to TCG ({asked_by}; slower): \
                         {why}"
                    )),
                );
            }
            Ok(())
        }
    }
}

fn check_binary(binary: &str, ctx: &Context, vm: &Vm) -> Result<(), PrelaunchError> {
    match crate::qemu::argv::missing_binary_hint(binary, &ctx.project, &vm.arch) {
        None => Ok(()),
        Some(hint) => Err(PrelaunchError::MissingBinary {
            binary: binary.to_string(),
            hint,
        }),
    }
}
