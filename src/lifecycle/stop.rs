//! `stop`: a clean shutdown first, stronger steps only when needed, each one bounded.
//!
//! SSH `poweroff` → wait → QMP `system_powerdown` (ACPI) → wait → SIGTERM → SIGKILL. Every
//! wait is the kernel telling us the process ended (pidfd), not a sleep loop, and every signal
//! goes through the pidfd of a process verified to be this VM's QEMU.

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::cleanup;
use super::context::Context;
use super::events::{Event, Observer};
use crate::error_chain::chain;
use crate::model::Vm;
use crate::qemu::qmp::{Qmp, QmpError};
use crate::runtime::kill_on_drop::KillOnDrop;
use crate::runtime::poll_until::poll_until;
use crate::runtime::process::{Identity, ProcessHandle, Terminated};
use crate::state_dir::lock::{self, LockError, VmLock};

/// How long SSH gets to connect and hand over `poweroff`.
const SSH_STEP_CONNECT: Duration = Duration::from_secs(2);
const SSH_STEP_HANDOVER: Duration = Duration::from_secs(5);
const QMP_CONNECT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    /// Bound of each graceful step, replacing the VM's `stop_timeout`.
    pub timeout: Option<Duration>,
    /// Skip the graceful steps: SIGTERM, then SIGKILL.
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopStep {
    SshPoweroff,
    AcpiPowerdown,
    Sigterm,
    Sigkill,
}

impl StopStep {
    pub fn as_str(self) -> &'static str {
        match self {
            StopStep::SshPoweroff => "ssh-poweroff",
            StopStep::AcpiPowerdown => "acpi-powerdown",
            StopStep::Sigterm => "sigterm",
            StopStep::Sigkill => "sigkill",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StopReport {
    pub vm: String,
    /// `None`: it was not running.
    pub ended_by: Option<StopStep>,
    pub pid: Option<i32>,
    pub took: Duration,
    /// Set when a stale pidfile was found (and removed).
    pub stale: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("cannot read the pidfile")]
    Pidfile(#[source] std::io::Error),
    #[error("QEMU (pid {pid}) survived SIGKILL; it may be stuck in the kernel (state D)")]
    Unkillable { pid: i32 },
}

pub fn stop(
    ctx: &Context,
    vm: &Vm,
    options: &StopOptions,
    observer: &dyn Observer,
) -> Result<StopReport, StopError> {
    stop_under(ctx, vm, options, observer, None)
}

/// [`stop`] for a caller that holds the VM's lock already and keeps it afterwards (`snapshot
/// restore`: nothing may start the VM between its stop and its start).
pub fn stop_holding(
    ctx: &Context,
    vm: &Vm,
    options: &StopOptions,
    observer: &dyn Observer,
    held: &VmLock,
) -> Result<StopReport, StopError> {
    stop_under(ctx, vm, options, observer, Some(held))
}

/// Stops `vm` under its lock: `held`, or taken here.
fn stop_under(
    ctx: &Context,
    vm: &Vm,
    options: &StopOptions,
    observer: &dyn Observer,
    held: Option<&VmLock>,
) -> Result<StopReport, StopError> {
    let started = Instant::now();
    let paths = ctx.paths(vm);
    let report = |ended_by, pid, stale| StopReport {
        vm: vm.name.clone(),
        ended_by,
        pid,
        took: started.elapsed(),
        stale,
    };
    // A VM that was never started in this state dir has no folder, so nothing to lock and
    // nothing running; creating its folder just to lock it would be a side effect of a stop.
    if fs::symlink_metadata(&paths.dir).is_err() {
        return Ok(report(None, None, None));
    }
    let _own_lock = match held {
        Some(_) => None,
        None => Some(lock::acquire(
            &paths.lock,
            &format!("qcmdr stop {}", vm.name),
        )?),
    };
    let qemu = match cleanup::identify_clearing(ctx, vm, observer).map_err(StopError::Pidfile)? {
        Identity::Running(qemu) => qemu,
        // A guest that powered itself off (or crashed) leaves its sync sessions behind.
        Identity::NotRunning => {
            end_sync(ctx, vm, observer);
            return Ok(report(None, None, None));
        }
        Identity::Stale { pid, reason } => {
            end_sync(ctx, vm, observer);
            return Ok(report(None, pid, Some(reason)));
        }
    };
    // Sync sessions end first, while the guest may still be reachable; Mutagen's terminate
    // works without the guest too, so a failure here never blocks the stop.
    notice_sync_error(
        vm,
        observer,
        crate::sync::before_stop(&ctx.project, &ctx.state, vm),
    );
    let graceful = options.timeout.unwrap_or(vm.stop_timeout);
    let ended_by = shut_down(ctx, vm, &qemu, graceful, options.force, observer)?;
    ctx.ssh_target(vm).close_master();
    cleanup::remove_runtime_files(&paths);
    notice_sync_error(
        vm,
        observer,
        crate::sync::after_stop(&ctx.project, &ctx.state),
    );
    Ok(report(Some(ended_by), Some(qemu.pid()), None))
}

/// Both sync hooks, for a VM whose QEMU is already gone.
fn end_sync(ctx: &Context, vm: &Vm, observer: &dyn Observer) {
    notice_sync_error(
        vm,
        observer,
        crate::sync::before_stop(&ctx.project, &ctx.state, vm),
    );
    notice_sync_error(
        vm,
        observer,
        crate::sync::after_stop(&ctx.project, &ctx.state),
    );
}

fn notice_sync_error(vm: &Vm, observer: &dyn Observer, result: Result<(), crate::sync::SyncError>) {
    if let Err(err) = result {
        observer.event(&vm.name, Event::Notice(format!("sync: {}", chain(&err))));
    }
}

fn shut_down(
    ctx: &Context,
    vm: &Vm,
    qemu: &ProcessHandle,
    graceful: Duration,
    force: bool,
    observer: &dyn Observer,
) -> Result<StopStep, StopError> {
    let say = |text: String| observer.event(&vm.name, Event::Notice(text));
    if !force {
        say("asking the guest to power off over SSH".into());
        if ssh_poweroff(ctx, vm, qemu, graceful) {
            return Ok(StopStep::SshPoweroff);
        }
        say("sending ACPI power-down over QMP".into());
        match acpi_powerdown(ctx, vm, qemu, graceful) {
            Ok(true) => return Ok(StopStep::AcpiPowerdown),
            Ok(false) => {}
            Err(skipped) => say(format!("ACPI power-down skipped: {}", chain(&skipped))),
        }
    }
    say("sending SIGTERM to QEMU".into());
    match qemu.terminate(|| say("sending SIGKILL to QEMU".into())) {
        Terminated::BySigterm => Ok(StopStep::Sigterm),
        Terminated::BySigkill => Ok(StopStep::Sigkill),
        Terminated::Survived => Err(StopError::Unkillable { pid: qemu.pid() }),
    }
}

/// True if QEMU ended within `graceful` after the guest was asked to power off over SSH.
/// Gives up early when ssh fails (no sshd, no network) so that the next step starts at once.
fn ssh_poweroff(ctx: &Context, vm: &Vm, qemu: &ProcessHandle, graceful: Duration) -> bool {
    let deadline = Instant::now() + graceful;
    // poweroff usually kills the session before ssh can report success (exit 255), so the
    // guest first says it took the order; ssh's output goes to a file, never to a pipe that a
    // multiplexing master could hold open.
    let transcript = ctx.paths(vm).dir.join("stop-ssh.log");
    let Ok(out) = crate::state_dir::private_file::create_fresh(&transcript) else {
        return false;
    };
    let err = out.try_clone().ok();
    let remote = format!("echo {POWEROFF_ACCEPTED}; poweroff");
    let mut command = ctx.ssh_target(vm).batch_command(SSH_STEP_CONNECT, &remote);
    command
        .stdout(out)
        .stderr(err.map(Stdio::from).unwrap_or_else(Stdio::null));
    let Ok(ssh) = command.spawn() else {
        return false;
    };
    let mut ssh = KillOnDrop(ssh);
    // The ssh is killed (if still there) and reaped on the way out.
    match wait_either(qemu, ssh.id() as i32, SSH_STEP_HANDOVER.min(graceful)) {
        Either::First => true,
        Either::Second => {
            let _ = ssh.wait();
            let said = std::fs::read_to_string(&transcript).unwrap_or_default();
            if said.contains(POWEROFF_ACCEPTED) {
                qemu.wait_exit(deadline.saturating_duration_since(Instant::now()))
            } else {
                false
            }
        }
        Either::Neither => false,
    }
}

/// Printed by the guest right before it runs `poweroff`.
const POWEROFF_ACCEPTED: &str = "qcmdr-poweroff-accepted";

enum Either {
    First,
    Second,
    Neither,
}

/// Waits until `first` or the child `second` exits, or `limit` passes.
fn wait_either(first: &ProcessHandle, second: i32, limit: Duration) -> Either {
    let Ok(second) = ProcessHandle::from_child(second) else {
        return Either::Neither;
    };
    let (a, b) = (first.pidfd(), second.pidfd());
    let mut fds = [
        PollFd::new(&a, PollFlags::IN),
        PollFd::new(&b, PollFlags::IN),
    ];
    match poll_until(&mut fds, Some(Instant::now() + limit)) {
        Ok(true) if !fds[0].revents().is_empty() => Either::First,
        Ok(true) => Either::Second,
        _ => Either::Neither,
    }
}

/// Whether QEMU ended within `graceful` after an ACPI power-button press; `Err` says why the
/// button could not be pressed at all (a busy socket among others).
fn acpi_powerdown(
    ctx: &Context,
    vm: &Vm,
    qemu: &ProcessHandle,
    graceful: Duration,
) -> Result<bool, QmpError> {
    let paths = ctx.paths(vm);
    let mut qmp = Qmp::connect(&paths.qmp_socket, QMP_CONNECT)?;
    qmp.execute("system_powerdown", None)?;
    Ok(qemu.wait_exit(graceful))
}
