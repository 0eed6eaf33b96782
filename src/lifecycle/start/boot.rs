//! Where a start's guest comes from: a cold boot, or a saved state loaded into a fresh QEMU.
//!
//! Start knows saved states only through [`SavedStates`] and [`SavedState`]; the snapshot
//! code implements them (`lifecycle::snapshot::restore`) and the caller hands that
//! implementation in. So a cold start and a start from a snapshot are one sequence with one
//! difference in the middle, and `start/` never imports `snapshot/` (which uses `start`
//! for `snapshot restore`).

use std::time::Instant;

use crate::lifecycle::context::Context;
use crate::model::Vm;
use crate::ssh::master::SshTarget;
use crate::state_dir::paths::VmPaths;

/// What a saved-state implementation fails with; its message is shown as it is.
pub type SavedStateError = Box<dyn std::error::Error + Send + Sync>;

/// How the guest gets to the point where the readiness checks begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Launch and boot; `reset_disk` gives an image-backed VM a fresh disk first.
    Cold { reset_disk: bool },
    /// Launch, then load saved state `name` instead of booting; `force` loads it even into
    /// another QEMU version than the one that saved it.
    FromSnapshot { name: String, force: bool },
}

impl Default for Boot {
    fn default() -> Self {
        Boot::Cold { reset_disk: false }
    }
}

impl Boot {
    pub fn snapshot(&self) -> Option<&str> {
        match self {
            Boot::FromSnapshot { name, .. } => Some(name),
            Boot::Cold { .. } => None,
        }
    }

    pub fn reset_disk(&self) -> bool {
        matches!(self, Boot::Cold { reset_disk: true })
    }
}

/// Finds and checks saved states (the snapshot store implements this).
pub trait SavedStates {
    /// Saved state `name` of `vm`, checked against `argv` (the command line about to run):
    /// a refusal here comes before anything was changed or launched.
    fn check(
        &self,
        ctx: &Context,
        vm: &Vm,
        name: &str,
        argv: &[String],
        force: bool,
    ) -> Result<Box<dyn SavedState>, SavedStateError>;
}

/// One checked saved state, on its way into a fresh QEMU.
pub trait SavedState {
    fn name(&self) -> &str;

    /// The last step before launch, after every check: the disks become the saved ones and
    /// `argv` gets what makes QEMU wait for the state instead of booting.
    fn prepare_launch(&self, argv: &mut Vec<String>) -> Result<(), SavedStateError>;

    /// Loads the state into the QEMU launched with [`SavedState::prepare_launch`]'s argv and
    /// resumes the guest.
    fn load(&self, paths: &VmPaths, deadline: Instant) -> Result<(), SavedStateError>;

    /// Once SSH is up: what a resumed guest needs (its wall clock stood still meanwhile).
    fn after_ssh(&self, target: &SshTarget) -> Result<(), SavedStateError>;
}
