//! `qcmdr.doctor/1`: every finding of `qcmdr doctor --json`.

use std::path::PathBuf;

use serde::Serialize;

use crate::lifecycle::doctor::{Finding, Status};

#[derive(Debug, Serialize)]
pub struct Doctor {
    pub schema: &'static str,
    pub ok: bool,
    pub config: Option<PathBuf>,
    pub failures: usize,
    pub warnings: usize,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub subject: Option<String>,
    pub status: &'static str,
    pub summary: String,
    pub fix: Option<String>,
}

impl Doctor {
    pub fn new(config: Option<PathBuf>, findings: &[Finding]) -> Self {
        let count = |status| findings.iter().filter(|f| f.status == status).count();
        Doctor {
            schema: super::DOCTOR_SCHEMA,
            ok: count(Status::Failure) == 0,
            config,
            failures: count(Status::Failure),
            warnings: count(Status::Warning),
            checks: findings
                .iter()
                .map(|f| Check {
                    check: f.check,
                    subject: f.subject.clone(),
                    status: f.status.as_str(),
                    summary: f.summary.clone(),
                    fix: f.fix.clone(),
                })
                .collect(),
        }
    }
}
