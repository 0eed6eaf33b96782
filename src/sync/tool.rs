//! What a failed helper program (mutagen, rsync) said, for error messages, and how long
//! one call of it may take.

use std::time::Duration;

use super::error::SyncError;

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

/// Runs `command` within [`call_limit`]; a timeout is an error naming `shown`.
pub fn run_bounded(
    command: &mut std::process::Command,
    shown: impl FnOnce() -> String,
) -> Result<std::io::Result<std::process::Output>, SyncError> {
    let limit = call_limit();
    match crate::runtime::bounded_output::output(command, limit) {
        Ok(Some(output)) => Ok(Ok(output)),
        Ok(None) => Err(SyncError::TimedOut {
            command: shown(),
            seconds: limit.as_secs_f64().ceil() as u64,
        }),
        Err(err) => Ok(Err(err)),
    }
}

/// What a failed helper said: its stderr (else stdout), trimmed, on one line.
pub fn said(output: &std::process::Output) -> String {
    let pick = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let text = pick(&output.stderr);
    if !text.is_empty() {
        return text;
    }
    let text = pick(&output.stdout);
    if !text.is_empty() {
        return text;
    }
    format!("exited with {}", output.status)
}
