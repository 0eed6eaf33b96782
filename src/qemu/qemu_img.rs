//! `qemu-img` on the disks of a stopped VM: whether a disk holds an internal snapshot,
//! reverting to one, deleting one. (A running QEMU locks its images; then QMP does this.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::runtime::helper::{Helper, HelperError};

#[derive(Debug, thiserror::Error)]
pub enum QemuImgError {
    /// `command` (a qemu-img call) did not do its job; the helper's error says how.
    #[error("`{command}`")]
    Run {
        command: String,
        #[source]
        source: HelperError,
    },
    /// It printed what qcmdr cannot read.
    #[error("cannot read what `qemu-img info {file}` printed")]
    Output {
        file: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Internal snapshots are metadata inside the image: even a large disk takes seconds.
const QEMU_IMG_TIMEOUT: Duration = Duration::from_secs(120);

/// `qemu-img` beside the QEMU binary (a build folder has both), else on `PATH`.
pub fn binary(qemu: &Path) -> PathBuf {
    let beside = qemu.with_file_name("qemu-img");
    if qemu.is_absolute() && crate::runtime::executable::is_executable(&beside) {
        return beside;
    }
    crate::runtime::executable::find_on_path("qemu-img").unwrap_or_else(|| "qemu-img".into())
}

/// The qemu-img to use and the folder relative disk paths are relative to.
#[derive(Debug, Clone)]
pub struct QemuImg {
    pub binary: PathBuf,
    pub cwd: PathBuf,
}

impl QemuImg {
    pub fn has_snapshot(&self, file: &str, name: &str) -> Result<bool, QemuImgError> {
        let out = self.run(&["info", "--output=json", "--", file])?;
        let info: serde_json::Value =
            serde_json::from_str(&out).map_err(|source| QemuImgError::Output {
                file: file.to_string(),
                source,
            })?;
        Ok(info["snapshots"]
            .as_array()
            .is_some_and(|all| all.iter().any(|s| s["name"].as_str() == Some(name))))
    }

    pub fn apply(&self, file: &str, name: &str) -> Result<(), QemuImgError> {
        self.run(&["snapshot", "-a", name, "--", file]).map(drop)
    }

    /// Deletes the internal snapshot; one that is already gone is fine.
    pub fn delete(&self, file: &str, name: &str) -> Result<(), QemuImgError> {
        match self.run(&["snapshot", "-d", name, "--", file]) {
            Err(QemuImgError::Run {
                source: HelperError::Exited { stderr, .. },
                ..
            }) if stderr.contains("not found") => Ok(()),
            other => other.map(drop),
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, QemuImgError> {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        let output = Helper::new(command)
            .timeout(QEMU_IMG_TIMEOUT)
            .process_group()
            .install_hint("Debian: apt-get install qemu-utils")
            .output()
            .map_err(|source| QemuImgError::Run {
                command: format!("qemu-img {}", args.join(" ")),
                source,
            })?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
