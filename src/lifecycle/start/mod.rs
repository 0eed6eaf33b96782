//! `start`: the pre-launch checks (`prelaunch`), what only a background start needs (sync
//! engines, the SSH files, the folder watch), the launch itself (`launch`); `readiness` then
//! learns as early as physically possible whether the VM came up, and the sync stage ends it.
//!
//! Imports form a tree: this file runs the others in order; `types` (options, report, error)
//! is used by `readiness` and here; `prelaunch` (with its own error, shared with `gdb`),
//! `launch` and `readiness` never use each other.

mod image_disk;
pub mod launch;
pub mod preflight;
pub mod prelaunch;
pub mod readiness;
mod types;

use std::time::{Instant, SystemTime};

use self::prelaunch::Prelaunch;
use self::readiness::{NotReady, Run};
use self::types::io_err;
pub use self::types::{
    StageMark, StartError, StartFailure, StartOptions, StartReport, FAILURE_TAIL_LINES,
};
use super::context::Context;
use super::events::{Event, Observer, Stage};
use super::snapshot::restore::{self, INCOMING_ARGS};
use super::snapshot::store::Store;
use super::snapshot::SnapshotError;
use crate::error_chain::chain;
use crate::model::Vm;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::lock::VmLock;
use crate::runtime::process::ProcessHandle;

/// Starts one VM and waits until it is ready (or fails, in which case QEMU is stopped unless
/// `keep_running`).
pub fn start(
    ctx: &Context,
    vm: &Vm,
    options: &StartOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let lock = prelaunch::lock(ctx, vm, &format!("qcmdr start {}", vm.name))?;
    start_holding(ctx, vm, lock, options, observer, cancel)
}

/// [`start`] under a `lock` the caller took (with [`prelaunch::lock`]); it is released once
/// the VM is ready or the start failed and was cleaned up.
pub fn start_holding(
    ctx: &Context,
    vm: &Vm,
    lock: VmLock,
    options: &StartOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let started = Instant::now();
    let reset = options.reset_disk;
    let (_lock, paths, mut argv) = match prelaunch::prepare_locked(ctx, vm, lock, reset, observer)?
    {
        Prelaunch::Running { .. } if options.from.is_some() => {
            return Err(SnapshotError::Running {
                vm: vm.name.clone(),
                name: options.from.clone().unwrap_or_default(),
            }
            .into())
        }
        Prelaunch::Running { pid } => {
            let from_snapshot = Store::new(&ctx.paths(vm)).origin(pid);
            return Ok(StartReport {
                vm: vm.name.clone(),
                pid,
                already_running: true,
                launched_at: None,
                stages: Vec::new(),
                total: started.elapsed(),
                from_snapshot,
            });
        }
        Prelaunch::Ready { lock, paths, argv } => (lock, paths, argv),
    };
    if options.syncs(vm) {
        crate::sync::check_available(&ctx.project, vm).map_err(StartError::Sync)?;
    }
    let restore = match &options.from {
        Some(name) => Some(restore::plan(ctx, vm, name, &argv, options.force)?),
        None => None,
    };
    ctx.prepare_ssh()
        .map_err(io_err("cannot write the private SSH config"))?;
    preflight::before_launch(ctx, vm, options)?;
    if options.no_sync {
        // A crashed run's sessions would keep syncing into whatever answers on that port.
        if let Err(err) = crate::sync::end_leftovers(&ctx.project, &ctx.state, vm) {
            observer.event(&vm.name, Event::Notice(format!("sync: {}", chain(&err))));
        }
    }
    launch::rotate_logs(&paths);
    let watch = DirWatch::new(&paths.dir).map_err(io_err("cannot watch the VM folder"))?;
    Store::new(&paths).forget_origin();
    if let Some(plan) = &restore {
        // Last, after every check: from here on the disks are the snapshot's.
        plan.revert_disks()?;
        argv.extend(INCOMING_ARGS.map(String::from));
    }

    observer.event(&vm.name, Event::Stage(Stage::Launch));
    let launched_at = SystemTime::now();
    let launched = Instant::now();
    let child = launch::spawn(&argv, &ctx.qemu_cwd(), &paths.qemu_log)
        .map_err(io_err(format!("cannot run {}", argv[0])))?;
    let mut run = Run {
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
        restore: restore.as_ref(),
    };
    let ready = run.wait_ready(launched).and_then(|()| sync_stage(&mut run));
    match ready {
        Ok(()) => Ok(StartReport {
            vm: vm.name.clone(),
            pid: run.process.pid(),
            already_running: false,
            launched_at: Some(launched_at),
            stages: run.stages,
            total: started.elapsed(),
            from_snapshot: options.from.clone(),
        }),
        Err(reason) => Err(run.fail(reason)),
    }
}

/// The last stage: files into the ready guest. A failure stops the VM like any other.
fn sync_stage(run: &mut Run<'_>) -> Result<(), NotReady> {
    if !run.options.syncs(run.vm) {
        return Ok(());
    }
    run.begin(Stage::Sync);
    crate::sync::after_start(&run.ctx.project, &run.ctx.state, run.vm)
        .map_err(|err| NotReady::Other(format!("sync failed: {}", chain(&err))))?;
    run.stage_done(Stage::Sync);
    Ok(())
}
