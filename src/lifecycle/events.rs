//! What `start` and `stop` report while they work, for the CLI to render as progress.

use std::time::Duration;

/// Readiness stages of `start`, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// QEMU spawned; waiting for its pidfile.
    Launch,
    /// Waiting for the login prompt on the serial console.
    Login,
    /// Loading a snapshot's saved state (instead of booting).
    Restore,
    /// Waiting for SSH to accept a login (which also opens the multiplexed master).
    Ssh,
    /// Setting the guest's clock after a restore.
    Clock,
    /// Syncing files into the guest.
    Sync,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Launch => "launch",
            Stage::Login => "login",
            Stage::Restore => "restore",
            Stage::Clock => "clock",
            Stage::Ssh => "ssh",
            Stage::Sync => "sync",
        }
    }

    /// What the VM is doing while this stage runs, for progress lines.
    pub fn waiting_text(self) -> &'static str {
        match self {
            Stage::Launch => "launching QEMU",
            Stage::Login => "waiting for the login prompt",
            Stage::Restore => "loading the snapshot",
            Stage::Clock => "setting the guest clock",
            Stage::Ssh => "waiting for SSH",
            Stage::Sync => "syncing files",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A stage began.
    Stage(Stage),
    /// A stage finished after `took`.
    StageDone { stage: Stage, took: Duration },
    /// Something worth one line (a stale pidfile cleaned, a stop step tried, ...).
    Notice(String),
}

/// Receives events of one or more VMs; called from the worker threads.
pub trait Observer: Sync {
    fn event(&self, vm: &str, event: Event);
}

/// For callers that do not show progress.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _vm: &str, _event: Event) {}
}
