//! The QEMU version as one comparable string, read either from a running QEMU (QMP
//! `query-version`) or from a binary on disk (`--version`), in the same spelling:
//! `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. A saved machine state only loads reliably
//! into the same QEMU build, so snapshots record it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::qmp::{Qmp, QmpError};
use crate::runtime::helper::{Helper, HelperError};
use crate::state_dir::private_file;

/// Bound of `qemu-system-* --version`; it answers in milliseconds.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a QEMU binary's version is not known.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("`{} --version`", binary.display())]
    Run {
        binary: std::path::PathBuf,
        #[source]
        source: HelperError,
    },
    #[error("{} --version printed no version: {printed:?}", binary.display())]
    NoVersion {
        binary: std::path::PathBuf,
        printed: String,
    },
}

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
pub fn of_binary(binary: &Path) -> Result<String, VersionError> {
    let mut command = Command::new(binary);
    command.arg("--version").stdin(Stdio::null());
    let output = Helper::new(command)
        .timeout(VERSION_TIMEOUT)
        .output()
        .map_err(|source| VersionError::Run {
            binary: binary.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    from_version_text(&text).ok_or_else(|| VersionError::NoVersion {
        binary: binary.to_path_buf(),
        printed: text.into_owned(),
    })
}

/// [`of_binary`], remembered in `cache` (a file of the private state dir) for as long as the
/// binary's identity (device, inode, size, change time) stays the same: running QEMU just to
/// print its version costs 30-100 ms, a fifth of a start from a snapshot.
pub fn of_binary_cached(binary: &Path, cache: &Path) -> Result<String, VersionError> {
    let identity = identity(binary);
    let remembered = std::fs::read_to_string(cache)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    if let (Some(identity), Some(remembered)) = (&identity, &remembered) {
        if remembered["identity"] == *identity {
            if let Some(version) = remembered["version"].as_str() {
                return Ok(version.to_string());
            }
        }
    }
    let version = of_binary(binary)?;
    if let Some(identity) = identity {
        let record = serde_json::json!({ "identity": identity, "version": version });
        let temp = cache.with_extension(format!("tmp{}", std::process::id()));
        // Only a speed-up: a cache that cannot be written is asked again next time.
        let written = private_file::create_fresh(&temp).and_then(|mut file| {
            std::io::Write::write_all(&mut file, record.to_string().as_bytes())
        });
        if written.is_err() || std::fs::rename(&temp, cache).is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
    Ok(version)
}

/// What changes whenever the file at `binary` is replaced or rewritten.
fn identity(binary: &Path) -> Option<Value> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(binary).ok()?;
    Some(serde_json::json!([
        binary.to_string_lossy(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.ctime(),
        meta.ctime_nsec(),
    ]))
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
    fn the_cached_version_is_asked_again_once_the_binary_changes() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let binary = tmp.path().join("qemu-system-x86_64");
        let cache = tmp.path().join("qemu-version.json");
        let fake = |version: &str| {
            std::fs::write(
                &binary,
                format!("#!/bin/sh\necho 'QEMU emulator version {version}'\n"),
            )
            .unwrap();
            std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        fake("8.0.0");
        assert_eq!(of_binary_cached(&binary, &cache).unwrap(), "8.0.0");
        // Same file: the cache answers, even though the script would now say otherwise.
        let record = std::fs::read_to_string(&cache).unwrap();
        assert!(record.contains("8.0.0"), "{record}");
        std::fs::write(&cache, record.replace("8.0.0", "cached")).unwrap();
        assert_eq!(of_binary_cached(&binary, &cache).unwrap(), "cached");
        // A rebuilt binary (new inode or change time) is asked again.
        std::fs::remove_file(&binary).unwrap();
        fake("9.1.50");
        assert_eq!(of_binary_cached(&binary, &cache).unwrap(), "9.1.50");
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
