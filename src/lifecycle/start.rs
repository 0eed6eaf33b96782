//! `start`: the pre-launch checks (`prelaunch`), what only a background start needs (sync
//! engines, the SSH files, the folder watch), the launch itself; `readiness` then learns as
//! early as physically possible whether the VM came up.

use std::time::{Duration, Instant, SystemTime};

use super::cancel::Cancel;
use super::context::Context;
use super::dir_watch::DirWatch;
use super::events::{Event, Observer, Stage};
use super::launch;
use super::ports::PortTaken;
use super::prelaunch::{self, io_err, Prelaunch};
use super::readiness::Run;
use crate::model::Vm;
use crate::runtime::lock::LockError;
use crate::runtime::process::ProcessHandle;

/// Lines of each log shown when a start fails.
pub const FAILURE_TAIL_LINES: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Overall bound for the readiness wait, replacing `login_timeout` and `ssh_timeout`.
    pub timeout: Option<Duration>,
    /// Leave QEMU running when a start fails (for a post-mortem in the guest).
    pub keep_running: bool,
    /// Skip file sync for this start.
    pub no_sync: bool,
    /// Start an image-backed VM from a fresh disk (its old overlay is discarded).
    pub reset_disk: bool,
}

impl StartOptions {
    /// Whether this start syncs files into `vm`.
    pub fn syncs(&self, vm: &Vm) -> bool {
        !self.no_sync && !vm.sync.is_empty()
    }
}

/// When a stage completed.
#[derive(Debug, Clone)]
pub struct StageMark {
    pub stage: Stage,
    pub at: SystemTime,
    pub took: Duration,
}

#[derive(Debug, Clone)]
pub struct StartReport {
    pub vm: String,
    pub pid: i32,
    /// True when the VM was running already and nothing was done.
    pub already_running: bool,
    pub launched_at: Option<SystemTime>,
    pub stages: Vec<StageMark>,
    pub total: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    PortTaken(#[from] PortTaken),
    #[error("QEMU binary {binary} not found{hint}")]
    MissingBinary { binary: String, hint: String },
    #[error("sync: {0}")]
    Sync(#[source] crate::sync::SyncError),
    #[error("image {image:?} is not built; build it with: qcmdr image build {image}")]
    ImageNotBuilt { image: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// QEMU was launched but the VM did not come up.
    #[error("{}", .0.reason)]
    NotReady(Box<Failure>),
}

/// Everything a user needs to see about a failed start.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    pub serial_log: std::path::PathBuf,
    pub serial_tail: Vec<String>,
    pub qemu_log: std::path::PathBuf,
    pub qemu_tail: Vec<String>,
    /// `Some(pid)` when QEMU was left running (`--keep-running`).
    pub kept_running: Option<i32>,
}

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
    match run.wait_ready(launched) {
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
