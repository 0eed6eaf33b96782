//! Running Mutagen with qcmdr's private data directory and SSH wrappers, never the user's.
//!
//! One daemon serves each `MUTAGEN_DATA_DIRECTORY`, and it keeps the environment of whichever
//! command started it, so every call sets exactly the same environment. `MUTAGEN_PROMPTER` is
//! removed: when set, mutagen behaves as an askpass helper instead of running the command.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use super::error::SyncError;
use super::tool;
use crate::model::Project;
use crate::runtime::executable::find_on_path;
use crate::state_dir::paths::StateDir;

#[derive(Debug, Clone)]
pub struct Mutagen {
    binary: PathBuf,
    data_dir: PathBuf,
    ssh_dir: PathBuf,
}

impl Mutagen {
    /// The `mutagen` on PATH, if any; nothing is written.
    pub fn find(state: &StateDir) -> Result<Self, SyncError> {
        let binary = find_on_path("mutagen").ok_or(SyncError::MutagenMissing)?;
        Ok(Mutagen {
            binary,
            data_dir: state.mutagen_data_dir(),
            ssh_dir: state.mutagen_ssh_dir(),
        })
    }

    /// [`Mutagen::find`], plus the private SSH config, its wrappers and the data directory,
    /// which must all exist before a call may autostart the daemon.
    pub fn prepare(project: &Project, state: &StateDir) -> Result<Self, SyncError> {
        let mutagen = Self::find(state)?;
        crate::ssh::prepare(project, state)
            .map_err(SyncError::io("cannot write the private SSH setup"))?;
        crate::state_dir::private_dir::ensure(state, &mutagen.data_dir).map_err(SyncError::io(
            format!("cannot create {}", mutagen.data_dir.display()),
        ))?;
        Ok(mutagen)
    }

    /// `mutagen ARGS` with the private environment; arguments are never seen by a shell.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("MUTAGEN_DATA_DIRECTORY", &self.data_dir)
            .env("MUTAGEN_SSH_PATH", &self.ssh_dir)
            .env_remove("MUTAGEN_PROMPTER")
            .stdin(std::process::Stdio::null());
        command
    }

    /// Runs `mutagen ARGS` to the end; its stdout on success, what it said otherwise.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String, SyncError> {
        let shown = || {
            let words: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            format!("mutagen {}", words.join(" "))
        };
        let output = tool::run_bounded(self.command(args), shown)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(SyncError::Tool {
                command: shown(),
                said: tool::said(&output),
            })
        }
    }

    /// True if Mutagen was ever used from this state dir (so a daemon may exist).
    pub fn used(state: &StateDir) -> bool {
        state.mutagen_data_dir().is_dir()
    }
}
