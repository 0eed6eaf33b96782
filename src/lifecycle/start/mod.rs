//! `start`: the pre-launch checks (`prelaunch`), what only a background start needs (sync
//! engines, the SSH files, the folder watch), the launch itself (`launch`); `readiness` then
//! learns as early as physically possible whether the VM came up, and the sync stage ends it.
//!
//! Imports form a tree: this file runs the others in order; `types` (options, report, error)
//! is used by `readiness` and here; `prelaunch` (with its own error, shared with `gdb`),
//! `launch` and `readiness` never use each other.

mod image_disk;
pub mod launch;
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
use crate::error_chain::chain;
use crate::model::Vm;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
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
    let started = Instant::now();
    let purpose = format!("qcmdr start {}", vm.name);
    let (_lock, paths, argv) =
        match prelaunch::prepare(ctx, vm, &purpose, options.reset_disk, observer)? {
            Prelaunch::Running { pid } => {
                return Ok(StartReport {
                    vm: vm.name.clone(),
                    pid,
                    already_running: true,
                    launched_at: None,
                    stages: Vec::new(),
                    total: started.elapsed(),
                })
            }
            Prelaunch::Ready { lock, paths, argv } => (lock, paths, argv),
        };
    if options.syncs(vm) {
        crate::sync::check_available(&ctx.project, vm).map_err(StartError::Sync)?;
    }
    ctx.prepare_ssh()
        .map_err(io_err("cannot write the private SSH config"))?;
    launch::rotate_logs(&paths);
    let watch = DirWatch::new(&paths.dir).map_err(io_err("cannot watch the VM folder"))?;

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
