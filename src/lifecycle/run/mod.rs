//! `qcmdr run`: one command in a throwaway instance of a VM, its exit code back.
//!
//! The instance (`instance`) is the VM's definition with free host ports and its own state
//! folder (`definition`, `host_ports`); it boots, or restores a snapshot in about a second,
//! while `boot_watch` ends the wait at a panic on the console; the command runs over SSH
//! with its argv exact and the standard streams passed through (`command`), watched for a
//! panic (`panic_watch`), QEMU's exit, a timeout and Ctrl-C; then the instance is destroyed,
//! on every path. How it ended maps to the exit code a script sees (`cause`).

mod boot_watch;
mod cause;
mod command;
mod definition;
mod host_ports;
mod instance;
mod panic_watch;
mod snapshot_copy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use self::boot_watch::BootWatch;
pub use self::cause::{Cause, BISECT_ABORT, INTERRUPTED};
use self::command::{Ended, Watched};
pub use self::definition::Overrides;
use self::host_ports::NoFreePort;
pub use self::instance::runs_dir;
use self::instance::Instance;
use self::panic_watch::PanicWatch;
use super::context::Context;
use super::events::Observer;
use super::snapshot::SnapshotError;
use super::start::{StartError, FAILURE_TAIL_LINES};
use crate::error_chain::chain;
use crate::logs::log_tail;
use crate::model::Vm;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::process::{self, Identity};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Restore this snapshot of the VM instead of booting.
    pub from: Option<String>,
    /// With `from`: load it even if another QEMU version saved it.
    pub force: bool,
    /// This run's kernel and extra kernel arguments (cold boots only).
    pub overrides: Overrides,
    /// Bound for the command (not for the boot, which the VM's own timeouts bound).
    pub timeout: Option<Duration>,
    /// Keep the instance's folder (logs, overlays) afterwards.
    pub keep: bool,
    /// The command and its arguments, exactly as the guest gets them.
    pub command: Vec<String>,
}

/// What happened, for the CLI to print and to turn into an exit code.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub vm: String,
    pub cause: Cause,
    /// The command's own exit code, when it exited.
    pub command_code: Option<i32>,
    pub from_snapshot: Option<String>,
    /// Each stage with how long it took: `prepare`, `start`'s stages, `command`, `teardown`.
    pub stages: Vec<(&'static str, Duration)>,
    pub total: Duration,
    /// What went wrong, unless the command simply exited.
    pub reason: Option<String>,
    /// The panic's (or oops') lines from the serial console.
    pub panic_lines: Vec<String>,
    /// The last lines of the instance's logs, when something went wrong.
    pub serial_tail: Vec<String>,
    pub qemu_tail: Vec<String>,
    /// The instance's folder, when kept (`--keep`).
    pub kept: Option<PathBuf>,
}

/// Why an instance could not be made; nothing was launched.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Port(#[from] NoFreePort),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("snapshot {name:?} holds the state of disks of {vm}, which runs: its disks cannot be copied while it writes them; stop it first (qcmdr stop {vm}) or run without --from")]
    DisksInUse { name: String, vm: String },
    #[error("the snapshot holds the state of disk {file}, which the VM's args do not name as `file={file}`; a run cannot point the instance at a copy of it")]
    DiskNotInArgs { file: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
        move |source| RunError::Io {
            context: format!("cannot prepare {}", path.display()),
            source,
        }
    }
}

/// Runs `options.command` in a new instance of `vm` and destroys it again.
pub fn run(
    ctx: &Context,
    vm: &Vm,
    options: &RunOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> RunReport {
    let began = Instant::now();
    let mut report = RunReport {
        vm: vm.name.clone(),
        cause: Cause::Exited,
        command_code: None,
        from_snapshot: options.from.clone(),
        stages: Vec::new(),
        total: Duration::ZERO,
        reason: None,
        panic_lines: Vec::new(),
        serial_tail: Vec::new(),
        qemu_tail: Vec::new(),
        kept: None,
    };
    let overrides = Overrides {
        throwaway_disks: options.from.is_none(),
        ..options.overrides.clone()
    };
    let created = Instance::create(ctx, vm, &overrides, options.from.as_deref(), options.keep);
    let mut instance = match created {
        Ok(instance) => instance,
        Err(err) => {
            report.fail(Cause::Setup, chain(&err));
            report.total = began.elapsed();
            return report;
        }
    };
    report.stages.push(("prepare", began.elapsed()));
    if boot(&instance, options, observer, cancel, &mut report) {
        command_stage(&instance, options, cancel, &mut report);
    }
    if report.cause != Cause::Exited {
        let paths = instance.paths();
        report.serial_tail = log_tail::last_lines(&paths.serial_log, FAILURE_TAIL_LINES);
        report.qemu_tail = log_tail::last_lines(&paths.qemu_log, FAILURE_TAIL_LINES);
    }
    if options.keep {
        report.kept = Some(instance.kept_dir().to_path_buf());
    }
    let teardown = Instant::now();
    instance.destroy();
    report.stages.push(("teardown", teardown.elapsed()));
    report.total = began.elapsed();
    report
}

/// Starts the instance; false (with the report saying why) when it did not come up.
fn boot(
    instance: &Instance,
    options: &RunOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
    report: &mut RunReport,
) -> bool {
    let paths = instance.paths();
    let watch = match BootWatch::new(&paths.dir, &paths.serial_log, cancel) {
        Ok(watch) => watch,
        Err(err) => {
            report.fail(Cause::Setup, format!("cannot watch the serial log: {err}"));
            return false;
        }
    };
    let started = instance.start(
        options.from.as_deref(),
        options.force,
        observer,
        &watch.cancel,
    );
    let panic = watch.finish();
    match started {
        Ok(started) => {
            let stages = started.stages.iter();
            report
                .stages
                .extend(stages.map(|mark| (mark.stage.as_str(), mark.took)));
            true
        }
        Err(_) if panic.seen() => {
            report.panicked(&panic);
            false
        }
        Err(_) if cancel.is_cancelled() => {
            report.fail(Cause::Interrupted, "interrupted".to_string());
            false
        }
        Err(StartError::NotReady(failure)) => {
            let cause = match failure.qemu_exited {
                true => Cause::QemuFailed,
                false => Cause::NotReady,
            };
            report.fail(cause, failure.reason);
            false
        }
        Err(err) => {
            report.fail(Cause::Setup, chain(&err));
            false
        }
    }
}

/// Runs the command in the ready instance.
fn command_stage(
    instance: &Instance,
    options: &RunOptions,
    cancel: &Cancel,
    report: &mut RunReport,
) {
    let began = Instant::now();
    let paths = instance.paths();
    let Ok(Identity::Running(qemu)) = process::identify(&paths.pidfile) else {
        report.fail(Cause::QemuFailed, "QEMU exited right after start".into());
        return;
    };
    let folder = match DirWatch::new(&paths.dir) {
        Ok(folder) => folder,
        Err(err) => {
            report.fail(Cause::Setup, format!("cannot watch the VM folder: {err}"));
            return;
        }
    };
    let mut panic = PanicWatch::new(&paths.serial_log);
    let ended = if panic.update() {
        panic.read_rest(&folder, cancel);
        Ok(Ended::Panicked)
    } else {
        let target = instance.ctx.ssh_target(&instance.vm);
        let watched = Watched {
            qemu: &qemu,
            folder: &folder,
            panic: &mut panic,
            cancel,
        };
        let set_clock = options.from.is_some();
        command::run(
            &target,
            &options.command,
            set_clock,
            options.timeout,
            watched,
        )
    };
    report.stages.push(("command", began.elapsed()));
    match ended {
        Ok(Ended::Exited(code)) => report.command_code = Some(code),
        Ok(Ended::Panicked) => report.panicked(&panic),
        Ok(Ended::TimedOut) => report.fail(
            Cause::TimedOut,
            format!(
                "the command did not end within {} s (--timeout)",
                options.timeout.unwrap_or_default().as_secs_f64()
            ),
        ),
        Ok(Ended::QemuExited) => report.fail(
            Cause::QemuFailed,
            "QEMU exited while the command ran".into(),
        ),
        Ok(Ended::Cancelled) => report.fail(Cause::Interrupted, "interrupted".into()),
        Err(err) => report.fail(Cause::Setup, chain(&err)),
    }
}

impl RunReport {
    fn fail(&mut self, cause: Cause, reason: String) {
        self.cause = cause;
        self.reason = Some(reason);
    }

    fn panicked(&mut self, panic: &PanicWatch) {
        self.panic_lines = panic.lines().to_vec();
        let first = self.panic_lines.first().map(|line| line.trim().to_string());
        self.fail(
            Cause::Panic,
            format!(
                "the guest kernel panicked or oopsed: {}",
                first.unwrap_or_default()
            ),
        );
    }

    /// The exit code of `qcmdr run` (`bisect`: the `git bisect run` mapping).
    pub fn exit_code(&self, bisect: bool) -> u8 {
        self.cause.code(self.command_code, bisect)
    }
}
