//! Running a helper process (ssh) with a hard time bound, woken by its exit, not a poll tick.

use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::kill_on_drop::KillOnDrop;
use super::process::ProcessHandle;

/// Runs `command`; `None` if it had to be killed after `limit`.
pub fn run_bounded(mut command: Command, limit: Duration) -> Option<ExitStatus> {
    let mut child = KillOnDrop(command.spawn().ok()?);
    let watched = ProcessHandle::from_child(child.id() as i32).ok()?;
    if watched.wait_exit(limit) {
        child.wait().ok()
    } else {
        None
    }
}
