//! The multiplexed SSH master of a VM: opened once by `start`, reused by every later
//! `ssh`/`scp`/`exec`, closed by `stop`.
//!
//! The master is started explicitly (`-f -N -o ControlMaster=yes`) with its output going to a
//! file: a master forked by `ControlMaster auto` keeps the stderr pipe it inherited, which
//! would block any caller that reads that pipe until `ControlPersist` runs out.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::runtime::helper::{Helper, HelperError};

/// Bound of an `ssh -O` or `ssh -G` call: they talk to a local socket or only read the
/// config, so they answer in milliseconds unless something is badly wrong.
const LOCAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`SshTarget::spawn_master`] did not open a master.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// sshd answered and said no (key, host key, config): retrying cannot help.
    #[error("{said}")]
    Refused { said: String },
    /// Not reachable yet (nothing listens, the connection dropped, a timeout): worth a retry.
    #[error("{said}")]
    NotYet { said: String },
    #[error("cannot create {}", log.display())]
    Log {
        log: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run ssh")]
    Spawn(#[source] std::io::Error),
}

/// What ssh says when it reached sshd and was turned away, or could not even use its config
/// (lowercase: ssh words a bad config both as "Bad configuration option: x" and as
/// "terminating, 1 bad configuration options", the line a log ends with).
const REFUSALS: [&str; 5] = [
    "permission denied",
    "host key verification failed",
    "no such identity",
    "bad configuration option",
    "bad owner or permissions",
];

impl MasterError {
    /// Classifies ssh's last words (it exits 255 for every failure).
    fn from_said(said: String) -> Self {
        let lower = said.to_ascii_lowercase();
        if REFUSALS.iter().any(|refusal| lower.contains(refusal)) {
            MasterError::Refused { said }
        } else {
            MasterError::NotYet { said }
        }
    }
}

/// How to reach one VM through the private config.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub config: PathBuf,
    pub host: String,
    /// The ssh client: `ssh` on `PATH`.
    pub program: PathBuf,
}

impl SshTarget {
    pub fn new(config: impl Into<PathBuf>, host: impl Into<String>) -> Self {
        SshTarget {
            config: config.into(),
            host: host.into(),
            program: "ssh".into(),
        }
    }

    /// `ssh -F <config>`, ready for options; the host is NOT added yet.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("-F").arg(&self.config);
        command
    }

    /// A non-interactive command run in the guest with a bounded connect time.
    pub fn batch_command(&self, connect_timeout: Duration, remote: &str) -> Command {
        let mut command = self.command();
        command
            // Uses a live master, but never becomes one: a master forked here would outlive
            // the command and hold its output open.
            .args(["-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o"])
            .arg(format!(
                "ConnectTimeout={}",
                connect_timeout.as_secs().max(1)
            ))
            .arg(&self.host)
            .arg("--")
            .arg(remote)
            .stdin(Stdio::null());
        command
    }

    /// Starts opening the master in the background without waiting for it: the returned
    /// `ssh` exits once authentication succeeded (status 0, the master stays behind) or
    /// failed; [`SshTarget::master_outcome`] then tells which. Call
    /// [`SshTarget::clear_stale_master`] once before the first attempt.
    pub fn spawn_master(
        &self,
        log: &Path,
        connect_timeout: Duration,
    ) -> Result<Child, MasterError> {
        let log_file = crate::state_dir::private_file::create_fresh(log).map_err(|source| {
            MasterError::Log {
                log: log.to_path_buf(),
                source,
            }
        })?;
        self.command()
            .args([
                "-f",
                "-N",
                "-o",
                "ControlMaster=yes",
                "-o",
                "BatchMode=yes",
                "-o",
            ])
            .arg(format!(
                "ConnectTimeout={}",
                connect_timeout.as_secs().max(1)
            ))
            .arg(&self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(MasterError::Spawn)
    }

    /// Ok once the `ssh` of [`SshTarget::spawn_master`] exited with `status` after logging
    /// in; otherwise ssh's last words (also kept in `log`), classified.
    pub fn master_outcome(status: ExitStatus, log: &Path) -> Result<(), MasterError> {
        if status.success() {
            Ok(())
        } else {
            Err(MasterError::from_said(
                last_line(log).unwrap_or_else(|| format!("ssh exited with {status}")),
            ))
        }
    }

    /// True if a live master answers on the control socket.
    pub fn master_alive(&self) -> bool {
        self.master_check().unwrap_or(false)
    }

    /// Whether a live master answers on the control socket; an error when that cannot be
    /// asked (the ssh client cannot run).
    pub fn master_check(&self) -> Result<bool, HelperError> {
        self.control("check")
    }

    /// Asks the master to exit; fine if there is none.
    pub fn close_master(&self) {
        let _ = self.control("exit");
        self.clear_stale_master();
    }

    /// Removes a control socket that no master listens on any more (left by a killed ssh),
    /// which would otherwise make every later ssh complain or skip multiplexing.
    pub fn clear_stale_master(&self) {
        if let Some(path) = self.control_path() {
            if path.exists() && !self.master_alive() {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The expanded `ControlPath` for this host, as ssh computes it.
    pub fn control_path(&self) -> Option<PathBuf> {
        let mut command = self.command();
        command.arg("-G").arg(&self.host).stdin(Stdio::null());
        let output = Helper::new(command)
            .timeout(LOCAL_CALL_TIMEOUT)
            .stderr(Stdio::null())
            .output_any()
            .ok()?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("controlpath "))
            .filter(|path| *path != "none")
            .map(PathBuf::from)
    }

    /// `ssh -O operation`: true if the master did it, false if there is none (or it hung).
    fn control(&self, operation: &str) -> Result<bool, HelperError> {
        let mut command = self.command();
        command
            .args(["-O", operation])
            .arg(&self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match Helper::new(command).timeout(LOCAL_CALL_TIMEOUT).status() {
            Ok(()) => Ok(true),
            Err(HelperError::Exited { .. } | HelperError::TimedOut { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_told_apart_from_not_yet() {
        let said = |text: &str| MasterError::from_said(text.to_string());
        assert!(matches!(
            said("root@localhost: Permission denied (publickey)."),
            MasterError::Refused { .. }
        ));
        assert!(matches!(
            said("Host key verification failed."),
            MasterError::Refused { .. }
        ));
        assert!(matches!(
            said("/x/ssh_config: terminating, 1 bad configuration options"),
            MasterError::Refused { .. }
        ));
        assert!(matches!(
            said("kex_exchange_identification: read: Connection reset by peer"),
            MasterError::NotYet { .. }
        ));
    }
}
