//! The private SSH setup: config rendering, wrapper scripts, multiplexed master control, and
//! the cheap banner probe of a guest's sshd.
mod atomic_file;
pub mod banner;
pub mod config_file;
pub mod config_value;
pub mod master;
pub mod validate;
pub mod wrappers;

use crate::model::Project;
use crate::state_dir::paths::StateDir;

/// Writes the private ssh_config and the wrappers that use it; every SSH use (qcmdr's own,
/// Mutagen's, a user's tools) goes through them. Cheap when nothing changed.
pub fn prepare(project: &Project, state: &StateDir) -> std::io::Result<()> {
    config_file::write(project, state)?;
    wrappers::install(state)
}
