//! Setting the guest's wall clock to the host's over SSH. A guest's clock stands still while
//! its VM is paused or saved, so after a restore it is behind by as long as the snapshot sat
//! unused.
//!
//! GNU `date` takes `@SECONDS.FRACTION` (sub-second precision); busybox only whole seconds,
//! so it gets the host time rounded to the nearest second (off by at most half a second).
//! The time is taken just before the command goes out through the SSH master.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use crate::runtime::helper::{Helper, HelperError};
use crate::ssh::master::SshTarget;

const CLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the guest's clock was not set.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("no answer over SSH within {} s", CLOCK_TIMEOUT.as_secs())]
    NoAnswer,
    #[error("`date -s` in the guest failed ({0})")]
    Refused(ExitStatus),
    /// The ssh client itself could not run (not installed, not executable).
    #[error(transparent)]
    Ssh(HelperError),
}

pub fn set_guest_clock(target: &SshTarget) -> Result<(), ClockError> {
    let remote = format!("{} >/dev/null 2>&1", setting_command());
    let mut command = target.batch_command(CLOCK_TIMEOUT, &remote);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    match Helper::new(command).timeout(CLOCK_TIMEOUT).status() {
        Ok(()) => Ok(()),
        Err(HelperError::Exited { status, .. }) => Err(ClockError::Refused(status)),
        Err(HelperError::TimedOut { .. }) => Err(ClockError::NoAnswer),
        Err(other) => Err(ClockError::Ssh(other)),
    }
}

/// The guest's shell command that sets its clock to the host's time as of now (to be run at
/// once: `qcmdr run` puts it in front of its command, saving a round trip). Its output is
/// the caller's to discard.
pub fn setting_command() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let whole = (now.as_secs_f64()).round() as u64;
    // One program run in the guest, as each costs under emulation: busybox's `date` (a
    // symlink to busybox) gets whole seconds at once; any other gets the fraction, and whole
    // seconds only if it refuses that.
    let precise = format!("@{}.{:09}", now.as_secs(), now.subsec_nanos());
    format!(
        "if [ -L /bin/date ]; then date -u -s @{whole}; \
         else date -u -s {precise} || date -u -s @{whole}; fi"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssh_client_that_cannot_run_is_named_not_taken_for_a_silent_guest() {
        let tmp = tempfile::tempdir().unwrap();
        let target = SshTarget {
            program: tmp.path().join("no-ssh-here"),
            ..SshTarget::new(tmp.path().join("ssh_config"), "demo")
        };
        let err = set_guest_clock(&target).unwrap_err();
        assert!(matches!(err, ClockError::Ssh(_)), "{err:?}");
        assert_eq!(
            crate::error_chain::chain(&err),
            format!(
                "cannot run {}: No such file or directory (os error 2)",
                target.program.display()
            )
        );
    }
}
