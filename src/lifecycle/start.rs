//! `start`: everything that can be checked before QEMU runs (lock, running or stale, binary,
//! ports, private folders), then the launch; `readiness` then learns as early as physically
//! possible whether the VM came up.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::cancel::Cancel;
use super::context::Context;
use super::dir_watch::DirWatch;
use super::events::{Event, Observer, Stage};
use super::ports::{self, PortTaken};
use super::readiness::Run;
use super::{cleanup, launch};
use crate::model::Vm;
use crate::runtime::lock::{self, LockError};
use crate::runtime::private_dir;
use crate::runtime::process::{self, Identity, ProcessHandle};

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

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
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
    let paths = ctx.paths(vm);
    private_dir::ensure(&paths.dir)
        .map_err(io_err(format!("cannot create {}", paths.dir.display())))?;
    let _lock = lock::acquire(&paths.lock, &format!("qcmdr start {}", vm.name))?;

    match process::identify(&paths.pidfile).map_err(io_err("cannot read the pidfile"))? {
        Identity::Running(running) => {
            return Ok(StartReport {
                vm: vm.name.clone(),
                pid: running.pid(),
                already_running: true,
                launched_at: None,
                stages: Vec::new(),
                total: started.elapsed(),
            })
        }
        Identity::Stale { reason, .. } => {
            observer.event(
                &vm.name,
                Event::Notice(format!("removed a stale pidfile: {reason}")),
            );
            cleanup::remove_runtime_files(&paths);
        }
        Identity::NotRunning => cleanup::remove_runtime_files(&paths),
    }

    let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    check_binary(&argv[0], ctx)?;
    ports::check_free(vm, &ctx.state)?;
    let sync = !options.no_sync && !vm.sync.is_empty();
    if sync {
        crate::sync::check_available(&ctx.project, vm).map_err(StartError::Sync)?;
    }
    ctx.prepare_ssh()
        .map_err(io_err("cannot write the private SSH config"))?;
    if paths.uses_short_socket_dir() {
        private_dir::ensure(&paths.socket_dir).map_err(io_err(format!(
            "cannot create {}",
            paths.socket_dir.display()
        )))?;
    }
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

pub(crate) fn check_binary(binary: &str, ctx: &Context) -> Result<(), StartError> {
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
