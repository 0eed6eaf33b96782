//! `qcmdr.run/1`: the one document of `run --json`, printed after the command's own output.

use std::path::PathBuf;

use serde::Serialize;

use super::common::seconds;
use crate::lifecycle::run::RunReport;

pub const RUN_SCHEMA: &str = "qcmdr.run/1";

#[derive(Debug, Serialize)]
pub struct Run {
    pub schema: &'static str,
    pub vm: String,
    /// What `qcmdr run` exits with.
    pub exit_code: u8,
    pub cause: &'static str,
    pub command_exit_code: Option<i32>,
    pub bisect: bool,
    pub from_snapshot: Option<String>,
    pub stages: Vec<Stage>,
    pub total_s: f64,
    pub error: Option<String>,
    pub panic_lines: Vec<String>,
    pub serial_tail: Vec<String>,
    pub qemu_tail: Vec<String>,
    pub instance_dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Stage {
    pub stage: &'static str,
    pub took_s: f64,
}

impl Run {
    pub fn new(report: &RunReport, bisect: bool) -> Self {
        Run {
            schema: RUN_SCHEMA,
            vm: report.vm.clone(),
            exit_code: report.exit_code(bisect),
            cause: report.cause.as_str(),
            command_exit_code: report.command_code,
            bisect,
            from_snapshot: report.from_snapshot.clone(),
            stages: report
                .stages
                .iter()
                .map(|(stage, took)| Stage {
                    stage,
                    took_s: seconds(*took),
                })
                .collect(),
            total_s: seconds(report.total),
            error: report.reason.clone(),
            panic_lines: report.panic_lines.clone(),
            serial_tail: report.serial_tail.clone(),
            qemu_tail: report.qemu_tail.clone(),
            instance_dir: report.kept.clone(),
        }
    }
}
