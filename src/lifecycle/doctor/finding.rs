//! One result of `qcmdr doctor`: what was checked, how it went, and what to do about it.

/// How a check went. Only a failure makes `doctor` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    /// Works, but slower or with a feature missing that this config does not need.
    Warning,
    /// Something this config needs will not work.
    Failure,
}

impl Status {
    /// The spelling in text and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which check: `kvm`, `qemu`, `ssh`, `sockets`, ... (see docs/doctor.md).
    pub check: &'static str,
    /// What it is about when not the whole machine: a VM, a tool, a folder.
    pub subject: Option<String>,
    pub status: Status,
    /// What was found, in one sentence.
    pub summary: String,
    /// What to do about it; `None` when there is nothing to do.
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &'static str, summary: impl Into<String>) -> Finding {
        Finding {
            check,
            subject: None,
            status: Status::Ok,
            summary: summary.into(),
            fix: None,
        }
    }

    /// A warning or a failure (`status`) with its fix.
    pub fn problem(
        check: &'static str,
        status: Status,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            subject: None,
            status,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }

    /// The same finding about `subject`.
    pub fn about(mut self, subject: impl Into<String>) -> Finding {
        self.subject = Some(subject.into());
        self
    }
}

/// A failure when `needed`, else a warning: a missing piece only fails the config that uses it.
pub fn severity(needed: bool) -> Status {
    if needed {
        Status::Failure
    } else {
        Status::Warning
    }
}
