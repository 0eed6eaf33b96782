//! `qcmdr.status/1`: one entry per VM of `status --json`.

use serde::Serialize;

use super::common::{seconds, Forward, Paths};
use crate::lifecycle::status::VmStatus;
use crate::mounts::MountHealth;

#[derive(Debug, Serialize)]
pub struct StatusVm {
    pub name: String,
    pub state: &'static str,
    pub pid: Option<i32>,
    pub uptime_s: Option<f64>,
    pub ssh: &'static str,
    pub detail: Option<String>,
    pub ssh_port: u16,
    pub forwards: Vec<Forward>,
    pub paths: Paths,
    pub from_snapshot: Option<String>,
    pub mounts: Vec<StatusMount>,
}

/// One of the VM's `mounts` and its virtiofsd.
#[derive(Debug, Serialize)]
pub struct StatusMount {
    pub tag: String,
    pub source: String,
    pub dest: String,
    pub readonly: bool,
    pub daemon: &'static str,
    pub daemon_pid: Option<i32>,
    pub detail: Option<String>,
}

impl StatusMount {
    pub fn new(health: &MountHealth) -> Self {
        StatusMount {
            tag: health.tag.clone(),
            source: health.source.display().to_string(),
            dest: health.dest.clone(),
            readonly: health.readonly,
            daemon: health.daemon,
            daemon_pid: health.pid,
            detail: health.detail.clone(),
        }
    }
}

impl StatusVm {
    pub fn new(status: &VmStatus) -> Self {
        StatusVm {
            name: status.name.clone(),
            state: status.state.as_str(),
            pid: status.pid,
            uptime_s: status.uptime.map(seconds),
            ssh: status.ssh.as_str(),
            detail: status.detail.clone(),
            ssh_port: status.ssh_port,
            forwards: Forward::list(&status.forwards),
            paths: Paths::new(&status.paths, &status.ssh_config),
            from_snapshot: status.from_snapshot.clone(),
            mounts: status.mounts.iter().map(StatusMount::new).collect(),
        }
    }
}
