//! Setting the guest's wall clock to the host's over SSH. A guest's clock stands still while
//! its VM is paused or saved, so after a restore it is behind by as long as the snapshot sat
//! unused.
//!
//! GNU `date` takes `@SECONDS.FRACTION` (sub-second precision); busybox only whole seconds,
//! so it gets the host time rounded to the nearest second (off by at most half a second).
//! The time is taken just before the command goes out through the SSH master.

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::runtime::wait_child::run_bounded;
use crate::ssh::master::SshTarget;

const CLOCK_TIMEOUT: Duration = Duration::from_secs(10);

pub fn set_guest_clock(target: &SshTarget) -> Result<(), String> {
    let remote = format!("{} >/dev/null 2>&1", setting_command());
    let mut command = target.batch_command(CLOCK_TIMEOUT, &remote);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    match run_bounded(command, CLOCK_TIMEOUT) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("`date -s` in the guest failed ({status})")),
        None => Err(format!("no answer over SSH within {CLOCK_TIMEOUT:?}")),
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
