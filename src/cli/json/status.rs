//! `qcmdr.status/1`: one entry per VM of `status --json`.

use serde::Serialize;

use super::common::{seconds, Forward, Paths};
use crate::lifecycle::status::VmStatus;

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
        }
    }
}
