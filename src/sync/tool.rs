//! Finding the helper programs (mutagen, rsync) before anything depends on them.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::SyncError;

/// The first executable `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

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
