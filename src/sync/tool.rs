//! How long one call of a sync helper (mutagen, rsync, ssh) may take, and what a failed one
//! said, for error messages.

use std::time::Duration;

use super::error::SyncError;
use crate::runtime::helper::{one_line, Helper, HelperError};

/// Default bound of one helper call (a Mutagen command, one rsync run).
const CALL_LIMIT: Duration = Duration::from_secs(300);

/// The bound of one helper call: `$QCMDR_SYNC_TIMEOUT` seconds, else [`CALL_LIMIT`].
pub fn call_limit() -> Duration {
    std::env::var("QCMDR_SYNC_TIMEOUT")
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1e6)
        .map_or(CALL_LIMIT, Duration::from_secs_f64)
}

/// `command` run within [`call_limit`] in a process group of its own (an rsync's ssh dies
/// with it), to its end whatever its exit status; a timeout is an error naming `shown`.
pub fn run_bounded(
    command: std::process::Command,
    shown: impl FnOnce() -> String,
) -> Result<std::process::Output, SyncError> {
    let limit = call_limit();
    match Helper::new(command)
        .timeout(limit)
        .process_group()
        .output_any()
    {
        Ok(output) => Ok(output),
        Err(HelperError::TimedOut { .. }) => Err(SyncError::TimedOut {
            command: shown(),
            seconds: limit.as_secs_f64().ceil() as u64,
        }),
        Err(other) => Err(SyncError::Helper(other)),
    }
}

/// What a failed helper said: its stderr (else stdout), trimmed, on one line.
pub fn said(output: &std::process::Output) -> String {
    let text = one_line(&output.stderr);
    if !text.is_empty() {
        return text;
    }
    let text = one_line(&output.stdout);
    if !text.is_empty() {
        return text;
    }
    format!("exited with {}", output.status)
}
