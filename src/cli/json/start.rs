//! `qcmdr.start/1`: one entry per VM of `start --json`, shaped by whether it started.

use serde::Serialize;

use super::common::{seconds, timestamp};
use crate::cli::Failure;
use crate::lifecycle::start::{StartError, StartReport};

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StartVm {
    Ready(StartReady),
    Failed(StartFailed),
}

#[derive(Debug, Serialize)]
pub struct StartReady {
    pub name: String,
    /// Always true.
    pub ok: bool,
    pub already_running: bool,
    pub pid: i32,
    pub launched_at: Option<f64>,
    pub stages: Vec<Stage>,
    /// What the SSH stage asked of the guest; null when none ran.
    pub ssh_probing: Option<SshProbing>,
    pub total_s: f64,
    /// The snapshot the VM was started from (running already: the one its QEMU came from).
    pub from_snapshot: Option<String>,
    /// Always null.
    pub error: Option<String>,
}

/// One completed stage. `login` and `ssh` run side by side, so they overlap and may complete
/// in either order; the list is in order of completion.
#[derive(Debug, Serialize)]
pub struct Stage {
    pub stage: &'static str,
    pub started_at: f64,
    pub at: f64,
    pub took_s: f64,
}

/// What reaching SSH cost the guest while it booted.
#[derive(Debug, Serialize)]
pub struct SshProbing {
    pub canary_probes: u32,
    pub sshd_probes: u32,
    pub qmp_commands: u32,
    pub logins: u32,
    pub login_began_at: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StartFailed {
    pub name: String,
    /// Always false.
    pub ok: bool,
    pub error: String,
    pub serial_tail: Vec<String>,
    pub qemu_tail: Vec<String>,
    pub kept_running_pid: Option<i32>,
}

impl StartVm {
    pub fn new(vm: &str, result: &Result<StartReport, StartError>) -> Self {
        match result {
            Ok(report) => StartVm::Ready(StartReady {
                name: report.vm.clone(),
                ok: true,
                already_running: report.already_running,
                pid: report.pid,
                launched_at: report.launched_at.map(timestamp),
                stages: report
                    .stages
                    .iter()
                    .map(|mark| Stage {
                        stage: mark.stage.as_str(),
                        started_at: timestamp(mark.at.checked_sub(mark.took).unwrap_or(mark.at)),
                        at: timestamp(mark.at),
                        took_s: seconds(mark.took),
                    })
                    .collect(),
                ssh_probing: report.ssh_probing.as_ref().map(|p| SshProbing {
                    canary_probes: p.canary_probes,
                    sshd_probes: p.sshd_probes,
                    qmp_commands: p.qmp_commands,
                    logins: p.logins,
                    login_began_at: p.login_began_at.map(timestamp),
                }),
                total_s: seconds(report.total),
                from_snapshot: report.from_snapshot.clone(),
                error: None,
            }),
            Err(StartError::NotReady(failure)) => StartVm::Failed(StartFailed {
                name: vm.to_string(),
                ok: false,
                error: failure.reason.clone(),
                serial_tail: failure.serial_tail.clone(),
                qemu_tail: failure.qemu_tail.clone(),
                kept_running_pid: failure.kept_running,
            }),
            Err(other) => StartVm::Failed(StartFailed {
                name: vm.to_string(),
                ok: false,
                error: Failure::from(other).to_string(),
                serial_tail: Vec::new(),
                qemu_tail: Vec::new(),
                kept_running_pid: None,
            }),
        }
    }
}
