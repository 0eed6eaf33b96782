//! Why a launched QEMU did not become ready: each cause its own variant, so the CLI can tell
//! an interruption (exit 130) from a failure, and the message is made once, when shown.

use std::time::Duration;

use crate::lifecycle::start::boot::SavedStateError;

/// The bound that ran out, named as the user set it: `15 s (--timeout)`, `60 s (ssh_timeout)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub after: Duration,
    pub key: &'static str,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} s ({})", seconds(self.after), self.key)
    }
}

/// What the SSH side had got to when the login prompt's wait ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshAtPromptDeadline {
    NotAwaited,
    Answered,
    Pending(String),
}

#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// QEMU ended by itself; `said` is the end of its log.
    #[error("QEMU exited with {status}{}", said_text(.said))]
    Exited { status: String, said: String },
    #[error("QEMU did not write its pidfile")]
    NoPidfile,
    #[error(transparent)]
    Load(SavedStateError),
    #[error(
        "no login prompt ({pattern:?}) on the serial console within {within}{}{}",
        disk_text(.disk_full),
        ssh_text(.ssh)
    )]
    NoPrompt {
        pattern: String,
        within: Bound,
        /// ENOSPC on the log's file system, judged at the deadline.
        disk_full: Option<String>,
        ssh: SshAtPromptDeadline,
    },
    #[error("SSH not ready within {within}: {last_problem}")]
    SshTimeout { within: Bound, last_problem: String },
    #[error("SSH login refused: {0}")]
    SshRefused(String),
    #[error("cannot set the guest clock")]
    Clock(#[source] SavedStateError),
    #[error("sync failed")]
    Sync(#[source] crate::sync::SyncError),
    #[error("interrupted")]
    Interrupted,
}

fn said_text(said: &str) -> String {
    match said {
        "" => String::new(),
        said => format!(": {said}"),
    }
}

fn disk_text(full: &Option<String>) -> String {
    full.as_ref().map(|f| format!(": {f}")).unwrap_or_default()
}

fn ssh_text(ssh: &SshAtPromptDeadline) -> String {
    match ssh {
        SshAtPromptDeadline::NotAwaited => String::new(),
        SshAtPromptDeadline::Answered => {
            "; SSH did answer (does login_pattern match the guest's prompt?)".into()
        }
        SshAtPromptDeadline::Pending(problem) => format!("; SSH not ready either: {problem}"),
    }
}

/// `15`, `2.5`: seconds as the user wrote them.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_as_written() {
        assert_eq!(seconds(Duration::from_secs(15)), "15");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5");
    }

    #[test]
    fn messages_read_as_before() {
        let within = Bound {
            after: Duration::from_secs(60),
            key: "login_timeout",
        };
        let err = NotReady::NoPrompt {
            pattern: "login:".into(),
            within,
            disk_full: None,
            ssh: SshAtPromptDeadline::Answered,
        };
        assert_eq!(
            err.to_string(),
            "no login prompt (\"login:\") on the serial console within 60 s (login_timeout); \
             SSH did answer (does login_pattern match the guest's prompt?)"
        );
        let exited = NotReady::Exited {
            status: "code 1".into(),
            said: String::new(),
        };
        assert_eq!(exited.to_string(), "QEMU exited with code 1");
    }
}
