//! `start`: the pre-launch checks (`prelaunch`), what only a background start needs (sync
//! engines, the SSH files, the folder watch), the launch itself (`launch`); `readiness` then
//! learns as early as physically possible whether the VM came up, and the sync stage ends it.
//!
//! A start from a snapshot is the same sequence with one difference: the guest's state is
//! loaded instead of booted ([`boot`]: start sees saved states only through the interface
//! there, which the snapshot code implements and the caller hands in).
//!
//! Imports form a tree: this file runs the others in order; `types` (options, report, error)
//! is used by `readiness`, `preflight` and here; `boot` is used by `types`, `readiness` and
//! here; `prelaunch` (with its own error, shared with `gdb`), `launch` and `readiness` never
//! use each other.

pub mod boot;
mod image_disk;
pub mod kernel_boot;
pub mod launch;
pub mod preflight;
pub mod prelaunch;
pub mod readiness;
mod types;

use std::time::{Instant, SystemTime};

pub use self::boot::{Boot, SavedState, SavedStateError, SavedStates};
use self::prelaunch::Prelaunch;
use self::readiness::{Launched, NotReady};
use self::types::io_err;
pub use self::types::{
    SshProbing, StageMark, StartError, StartFailure, StartOptions, StartReport, FAILURE_TAIL_LINES,
};
use super::context::Context;
use super::events::{Event, Observer, Stage};
use super::origin;
use crate::error_chain::chain;
use crate::model::Vm;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::process::ProcessHandle;
use crate::state_dir::lock::VmLock;

/// Starts one VM and waits until it is ready (or fails, in which case QEMU is stopped unless
/// `keep_running`). `saved` finds the state a [`Boot::FromSnapshot`] start loads.
pub fn start(
    ctx: &Context,
    vm: &Vm,
    options: &StartOptions,
    saved: &dyn SavedStates,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let lock = prelaunch::lock(ctx, vm, &format!("qcmdr start {}", vm.name))?;
    start_holding(ctx, vm, lock, options, saved, observer, cancel)
}

/// [`start`] under a `lock` the caller took (with [`prelaunch::lock`]); it is released once
/// the VM is ready or the start failed and was cleaned up.
pub fn start_holding(
    ctx: &Context,
    vm: &Vm,
    lock: VmLock,
    options: &StartOptions,
    saved: &dyn SavedStates,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let started = Instant::now();
    let reset = options.boot.reset_disk();
    let (_lock, paths, mut argv) = match prelaunch::prepare_locked(ctx, vm, lock, reset, observer)?
    {
        Prelaunch::Running { .. } if options.boot.snapshot().is_some() => {
            return Err(StartError::Running {
                vm: vm.name.clone(),
                snapshot: options.boot.snapshot().unwrap_or_default().to_string(),
            })
        }
        Prelaunch::Running { pid } => {
            let from_snapshot = origin::of(&ctx.paths(vm), pid);
            return Ok(StartReport {
                vm: vm.name.clone(),
                pid,
                already_running: true,
                launched_at: None,
                stages: Vec::new(),
                ssh_probing: None,
                total: started.elapsed(),
                from_snapshot,
            });
        }
        Prelaunch::Ready { lock, paths, argv } => (lock, paths, argv),
    };
    if options.syncs(vm) {
        crate::sync::check_available(&ctx.project, vm).map_err(StartError::Sync)?;
    }
    if let (Some(snapshot), Some(mount)) = (options.boot.snapshot(), vm.mounts.first()) {
        return Err(StartError::MountsAndSnapshot {
            tag: mount.tag.clone(),
            dest: mount.dest.clone(),
            snapshot: snapshot.to_string(),
        });
    }
    let restore = match &options.boot {
        Boot::FromSnapshot { name, force } => Some(
            saved
                .check(ctx, vm, name, &argv, *force)
                .map_err(StartError::SavedState)?,
        ),
        Boot::Cold { .. } => None,
    };
    ctx.prepare_ssh()
        .map_err(io_err("cannot write the private SSH config"))?;
    preflight::before_launch(ctx, vm, options.syncs(vm))?;
    if options.no_sync {
        // A crashed run's sessions would keep syncing into whatever answers on that port.
        if let Err(err) = crate::sync::end_leftovers(&ctx.project, &ctx.state, vm) {
            observer.event(&vm.name, Event::Notice(format!("sync: {}", chain(&err))));
        }
    }
    launch::rotate_logs(&paths);
    let watch = DirWatch::new(&paths.dir).map_err(io_err("cannot watch the VM folder"))?;
    origin::forget(&paths);
    if let Some(state) = &restore {
        // Last, after every check: from here on the disks are the snapshot's.
        state
            .prepare_launch(&mut argv)
            .map_err(StartError::SavedState)?;
    }

    observer.event(&vm.name, Event::Stage(Stage::Launch));
    // Right before QEMU, which connects to their sockets as it starts; dropped, they end.
    let daemons = crate::mounts::start_all(vm, &paths, cancel).map_err(StartError::Mounts)?;
    let launched_at = SystemTime::now();
    let launched = Instant::now();
    let child = launch::spawn(&argv, &ctx.qemu_cwd(), &paths.qemu_log)
        .map_err(io_err(format!("cannot run {}", argv[0])))?;
    let mut run = Launched {
        ctx,
        vm,
        paths: &paths,
        options,
        observer,
        cancel,
        process: ProcessHandle::from_child(child.id() as i32)
            .map_err(io_err("cannot watch the QEMU process"))?,
        child,
        watch,
        stages: Vec::new(),
        stage_started: launched,
        restore: restore.as_deref(),
        ssh_probing: None,
    };
    let ready = run.wait_ready(launched).and_then(|()| sync_stage(&mut run));
    match ready {
        Ok(()) => {
            daemons.keep();
            Ok(StartReport {
                vm: vm.name.clone(),
                pid: run.process.pid(),
                already_running: false,
                launched_at: Some(launched_at),
                stages: run.stages,
                ssh_probing: run.ssh_probing,
                total: started.elapsed(),
                from_snapshot: restore.as_ref().map(|state| state.name().to_string()),
            })
        }
        Err(reason) => {
            let failure = run.fail(reason);
            if matches!(&failure, StartError::NotReady(f) if f.kept_running.is_some()) {
                daemons.keep();
            }
            Err(failure)
        }
    }
}

/// The last stage: files into the ready guest. A failure stops the VM like any other.
fn sync_stage(run: &mut Launched<'_>) -> Result<(), NotReady> {
    if !run.options.syncs(run.vm) {
        return Ok(());
    }
    run.begin(Stage::Sync);
    crate::sync::after_start(&run.ctx.project, &run.ctx.state, run.vm).map_err(NotReady::Sync)?;
    run.stage_done(Stage::Sync);
    Ok(())
}
