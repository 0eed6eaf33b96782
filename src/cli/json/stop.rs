//! `qcmdr.stop/1`: one entry per VM of `stop --json`, shaped by whether it stopped.

use serde::Serialize;

use super::common::seconds;
use crate::cli::Failure;
use crate::lifecycle::stop::{StopError, StopReport};

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StopVm {
    Stopped(Stopped),
    Failed(StopFailed),
}

#[derive(Debug, Serialize)]
pub struct Stopped {
    pub name: String,
    /// Always true.
    pub ok: bool,
    pub was_running: bool,
    pub ended_by: Option<&'static str>,
    pub pid: Option<i32>,
    pub took_s: f64,
    pub stale: Option<String>,
    /// Always null.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StopFailed {
    pub name: String,
    /// Always false.
    pub ok: bool,
    pub error: String,
}

impl StopVm {
    pub fn new(vm: &str, result: &Result<StopReport, StopError>) -> Self {
        match result {
            Ok(report) => StopVm::Stopped(Stopped {
                name: report.vm.clone(),
                ok: true,
                was_running: report.ended_by.is_some(),
                ended_by: report.ended_by.map(|step| step.as_str()),
                pid: report.pid,
                took_s: seconds(report.took),
                stale: report.stale.clone(),
                error: None,
            }),
            Err(err) => StopVm::Failed(StopFailed {
                name: vm.to_string(),
                ok: false,
                error: Failure::from(err).to_string(),
            }),
        }
    }
}
