//! `status`: what each VM is doing right now, cheaply enough to run for twenty VMs at once.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::context::Context;
use crate::model::{HostForward, Vm};
use crate::runtime::helper::{Helper, HelperError};
use crate::runtime::process::{self, Identity};
use crate::ssh::banner::{self, Banner};
use crate::state_dir::lock;
use crate::state_dir::paths::VmPaths;

/// Bound of the SSH health check of one VM.
const SSH_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    Running,
    Stopped,
    /// A pidfile that names no live QEMU of this VM (crash, reboot, reused PID).
    Stale,
    /// A `qcmdr start` (or `snapshot restore`) holds the VM's lock and has not finished.
    Starting,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Running => "running",
            VmState::Stopped => "stopped",
            VmState::Stale => "stale",
            VmState::Starting => "starting",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshHealth {
    Ok,
    Refused,
    Timeout,
    /// The check could not be made: the ssh client cannot run (the VM's `detail` says why).
    Error,
    /// Not checked: the VM is not running.
    NotApplicable,
}

impl SshHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            SshHealth::Ok => "ok",
            SshHealth::Refused => "refused",
            SshHealth::Timeout => "timeout",
            SshHealth::Error => "error",
            SshHealth::NotApplicable => "n/a",
        }
    }
}

#[derive(Debug, Clone)]
pub struct VmStatus {
    pub name: String,
    pub state: VmState,
    pub pid: Option<i32>,
    pub uptime: Option<Duration>,
    pub ssh: SshHealth,
    /// Why the pidfile is stale, or who holds the lock while starting.
    pub detail: Option<String>,
    pub ssh_port: u16,
    pub forwards: Vec<HostForward>,
    pub paths: VmPaths,
    pub ssh_config: PathBuf,
    /// The snapshot the running QEMU was started from, if any.
    pub from_snapshot: Option<String>,
    /// Each of the VM's `mounts` with its daemon's state.
    pub mounts: Vec<crate::mounts::MountHealth>,
}

/// Status of `vms`, SSH checked in parallel; in the order given.
pub fn status(ctx: &Context, vms: &[&Vm]) -> Vec<VmStatus> {
    crate::runtime::parallel::each(vms, |vm| one(ctx, vm))
}

/// State and PID only, without touching SSH (for `list` and for other commands' checks).
pub fn state_of(ctx: &Context, vm: &Vm) -> (VmState, Option<i32>, Option<String>) {
    let paths = ctx.paths(vm);
    let starting = lock::holder(&paths.lock)
        .filter(|h| h.contains("qcmdr start") || h.contains("qcmdr snapshot restore"));
    match process::identify(&paths.pidfile) {
        Ok(Identity::Running(p)) if starting.is_some() => {
            (VmState::Starting, Some(p.pid()), starting)
        }
        Ok(Identity::Running(p)) => (VmState::Running, Some(p.pid()), None),
        _ if starting.is_some() => (VmState::Starting, None, starting),
        Ok(Identity::NotRunning) => (VmState::Stopped, None, None),
        Ok(Identity::Stale { pid, reason }) => (VmState::Stale, pid, Some(reason)),
        Err(err) => (
            VmState::Stale,
            None,
            Some(format!("cannot read the pidfile: {err}")),
        ),
    }
}

fn one(ctx: &Context, vm: &Vm) -> VmStatus {
    let paths = ctx.paths(vm);
    let (state, pid, detail) = state_of(ctx, vm);
    let uptime = match (state, pid) {
        (VmState::Running | VmState::Starting, Some(pid)) => {
            match process::verify(pid, &paths.pidfile) {
                Identity::Running(p) => p.uptime(),
                _ => None,
            }
        }
        _ => None,
    };
    let (ssh, detail) = if state == VmState::Running {
        match check_ssh(ctx, vm) {
            Ok(health) => (health, detail),
            Err(why) => (SshHealth::Error, Some(crate::error_chain::chain(&why))),
        }
    } else {
        (SshHealth::NotApplicable, detail)
    };
    let from_snapshot = pid.and_then(|pid| crate::lifecycle::origin::of(&paths, pid));
    VmStatus {
        mounts: crate::mounts::health(vm, &paths),
        from_snapshot,
        name: vm.name.clone(),
        state,
        pid,
        uptime,
        ssh,
        detail,
        ssh_port: vm.ssh.port,
        forwards: vm.host_forwards.clone(),
        paths,
        ssh_config: ctx.state.ssh_config(),
    }
}

/// Through the multiplexed master when there is one (milliseconds); otherwise the banner,
/// which proves sshd answers without paying for a login. An error: the check could not be
/// made at all (the ssh client cannot run).
fn check_ssh(ctx: &Context, vm: &Vm) -> Result<SshHealth, HelperError> {
    let target = ctx.ssh_target(vm);
    if target.master_check()? {
        let mut command = target.batch_command(SSH_CHECK_TIMEOUT, "true");
        command.stdout(Stdio::null()).stderr(Stdio::null());
        return match Helper::new(command).timeout(SSH_CHECK_TIMEOUT).status() {
            Ok(()) => Ok(SshHealth::Ok),
            Err(HelperError::Exited { .. }) => Ok(SshHealth::Refused),
            Err(HelperError::TimedOut { .. }) => Ok(SshHealth::Timeout),
            Err(other) => Err(other),
        };
    }
    if !banner::applies_to(&ctx.project, vm) {
        return Ok(SshHealth::NotApplicable);
    }
    Ok(
        match banner::probe(&vm.ssh.host_name, vm.ssh.port, SSH_CHECK_TIMEOUT) {
            Banner::Ready => SshHealth::Ok,
            Banner::Timeout => SshHealth::Timeout,
            Banner::Closed | Banner::Refused => SshHealth::Refused,
        },
    )
}
