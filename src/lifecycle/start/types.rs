//! What `start` takes and gives back: its options, its report, its error. They import
//! nothing from `start/` but the pre-launch error, which a start error can be, and the
//! boot source.

use std::time::{Duration, SystemTime};

use super::boot::{Boot, SavedStateError};
use super::preflight::PreflightError;
use super::prelaunch::PrelaunchError;
use crate::lifecycle::events::Stage;
use crate::model::Vm;

/// Lines of each log shown when a start fails.
pub const FAILURE_TAIL_LINES: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Overall bound for the readiness wait, replacing `login_timeout` and `ssh_timeout`.
    pub timeout: Option<Duration>,
    /// Leave QEMU running when a start fails (for a post-mortem in the guest).
    pub keep_running: bool,
    /// Skip file sync for this start.
    pub no_sync: bool,
    /// A cold boot, or a saved state loaded instead.
    pub boot: Boot,
    /// From a snapshot: leave setting the guest's clock to the caller (`qcmdr run` sets it in
    /// the same SSH call as its command, saving a round trip into the guest).
    pub defer_clock: bool,
}

impl StartOptions {
    /// Whether this start syncs files into `vm`.
    pub fn syncs(&self, vm: &Vm) -> bool {
        !self.no_sync && !vm.sync.is_empty()
    }
}

/// What the SSH side asked of the guest on its way to ready: what it costs a booting guest,
/// reported by `start --json` (`ssh_probing`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshProbing {
    /// Connections to the canary forward (each a SYN the guest's kernel refuses, once up).
    pub canary_probes: u32,
    /// Connections to sshd's forward that were not a login (each, once sshd listens, one
    /// sshd process in the guest).
    pub sshd_probes: u32,
    /// Monitor commands sent for the canary (`info usernet`, `hostfwd_add`, `hostfwd_remove`).
    pub qmp_commands: u32,
    /// Master logins begun (each an `ssh` and, in the guest, an sshd process and a key
    /// exchange).
    pub logins: u32,
    /// When the last master login began.
    pub login_began_at: Option<SystemTime>,
}

/// When a stage completed.
#[derive(Debug, Clone)]
pub struct StageMark {
    pub stage: Stage,
    pub at: SystemTime,
    pub took: Duration,
}

#[derive(Debug, Clone)]
pub struct StartReport {
    pub vm: String,
    pub pid: i32,
    /// True when the VM was running already and nothing was done.
    pub already_running: bool,
    pub launched_at: Option<SystemTime>,
    pub stages: Vec<StageMark>,
    /// What the SSH stage asked of the guest (None when no SSH stage ran).
    pub ssh_probing: Option<SshProbing>,
    pub total: Duration,
    /// The snapshot this start came from (or, already running, the one its QEMU came from).
    pub from_snapshot: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Prelaunch(#[from] PrelaunchError),
    #[error("sync")]
    Sync(#[source] crate::sync::SyncError),
    /// A saved state cannot have virtiofs devices (QEMU cannot migrate them).
    #[error("the VM has mounts (its mount {tag:?} on {dest}); a saved state cannot hold a virtiofs device, so it cannot start from snapshot {snapshot:?}; drop mounts from the VM to use its snapshots")]
    MountsAndSnapshot {
        tag: String,
        dest: String,
        snapshot: String,
    },
    /// A mount's daemon did not come up; QEMU was not launched.
    #[error("mounts")]
    Mounts(#[source] crate::mounts::MountError),
    /// The saved state to start from was refused or could not be prepared; nothing was
    /// launched.
    #[error(transparent)]
    SavedState(SavedStateError),
    #[error(
        "running; to go back to snapshot {snapshot:?} use: qcmdr snapshot restore {vm} {snapshot}"
    )]
    Running { vm: String, snapshot: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// This machine cannot finish starting the VM; nothing was launched.
    #[error("{0}; nothing was launched")]
    Preflight(PreflightError),
    /// Its image could not be built (the CLI builds missing images first); nothing was
    /// launched.
    #[error(transparent)]
    Image(crate::images::BuildError),
    /// QEMU was launched but the VM did not come up.
    #[error("{}", .0.reason)]
    NotReady(Box<StartFailure>),
}

impl From<PreflightError> for StartError {
    fn from(err: PreflightError) -> Self {
        StartError::Preflight(err)
    }
}

/// Everything a user needs to see about a start that launched QEMU and then failed.
#[derive(Debug)]
pub struct StartFailure {
    pub reason: String,
    /// Ctrl-C (or SIGTERM, SIGHUP) ended the wait.
    pub interrupted: bool,
    /// QEMU itself exited (rather than the guest never becoming ready).
    pub qemu_exited: bool,
    pub serial_log: std::path::PathBuf,
    pub serial_tail: Vec<String>,
    pub qemu_log: std::path::PathBuf,
    pub qemu_tail: Vec<String>,
    /// `Some(pid)` when QEMU was left running (`--keep-running`).
    pub kept_running: Option<i32>,
}

/// Wraps an I/O error with what was being done, for `map_err`.
pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}
