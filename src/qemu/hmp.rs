//! The human monitor (HMP) reached through QMP, for commands QMP lacks or prints poorly.

use serde_json::{json, Value};

use super::qmp::{Qmp, QmpError};

/// Runs `command_line` (e.g. `info status`) and returns what the monitor printed.
pub fn human_monitor_command(qmp: &mut Qmp, command_line: &str) -> Result<String, QmpError> {
    let output = qmp.execute(
        "human-monitor-command",
        Some(json!({ "command-line": command_line })),
    )?;
    match output {
        Value::String(text) => Ok(text),
        other => Err(QmpError::Protocol(format!(
            "human-monitor-command returned {other}, not text"
        ))),
    }
}
