//! The QEMU version as one comparable string, read either from a running QEMU (QMP
//! `query-version`) or from a binary on disk (`--version`), in the same spelling:
//! `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. A saved machine state only loads reliably
//! into the same QEMU build, so snapshots record it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::qmp::{Qmp, QmpError};
use crate::runtime::process::ProcessHandle;

/// Bound of `qemu-system-* --version`; it answers in milliseconds.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The version of the QEMU behind `qmp`.
pub fn of_running(qmp: &mut Qmp) -> Result<String, QmpError> {
    let answer = qmp.execute("query-version", None)?;
    Ok(from_query_version(&answer))
}

/// `{"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "Debian ..."}` → text.
pub fn from_query_version(answer: &Value) -> String {
    let number = |key: &str| answer["qemu"][key].as_u64().unwrap_or(0);
    let base = format!(
        "{}.{}.{}",
        number("major"),
        number("minor"),
        number("micro")
    );
    with_package(base, answer["package"].as_str().unwrap_or(""))
}

/// The version `binary --version` prints, e.g. for
/// `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
pub fn of_binary(binary: &Path) -> Result<String, String> {
    let output = bounded_output(binary)?;
    let text = String::from_utf8_lossy(&output);
    from_version_text(&text).ok_or_else(|| {
        format!(
            "{} --version printed no version: {text:?}",
            binary.display()
        )
    })
}

pub fn from_version_text(text: &str) -> Option<String> {
    let rest = text.lines().next()?.split("version ").nth(1)?.trim();
    let (base, package) = match rest.split_once(' ') {
        Some((base, package)) => (
            base,
            package.trim().trim_start_matches('(').trim_end_matches(')'),
        ),
        None => (rest, ""),
    };
    Some(with_package(base.to_string(), package))
}

fn with_package(base: String, package: &str) -> String {
    let package = package.trim();
    if package.is_empty() {
        base
    } else {
        format!("{base} ({package})")
    }
}

fn bounded_output(binary: &Path) -> Result<Vec<u8>, String> {
    let failed = |why: String| format!("cannot run {} --version: {why}", binary.display());
    let mut child = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let handle = ProcessHandle::from_child(child.id() as i32).map_err(|e| failed(e.to_string()))?;
    if !handle.wait_exit(VERSION_TIMEOUT) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(failed(format!("no answer within {VERSION_TIMEOUT:?}")));
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(format!("it exited with {}", output.status)));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_sources_spell_the_version_the_same_way() {
        let from_qmp = from_query_version(&json!({
            "qemu": {"micro": 22, "minor": 2, "major": 7},
            "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"
        }));
        let from_text = from_version_text(
            "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022\n",
        );
        assert_eq!(from_qmp, "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
        assert_eq!(from_text.as_deref(), Some(from_qmp.as_str()));
    }

    #[test]
    fn a_build_from_git_has_no_package() {
        assert_eq!(
            from_version_text("QEMU emulator version 9.1.50\n").as_deref(),
            Some("9.1.50")
        );
        assert_eq!(
            from_query_version(
                &json!({"qemu": {"micro": 50, "minor": 1, "major": 9}, "package": ""})
            ),
            "9.1.50"
        );
    }
}
