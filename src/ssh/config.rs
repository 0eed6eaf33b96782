//! Renders the private `ssh_config` of a project.

use crate::model::Project;
use crate::runtime::paths::StateDir;

/// The whole file: one `Host <vm>` block per VM, then `Host *` with the base options and
/// qcmdr's defaults. Deterministic.
pub fn render(project: &Project, state: &StateDir) -> String {
    let _ = (project, state);
    todo!("ssh::config::render")
}

/// Writes the rendered config into the state dir (0600, atomically, only when changed).
pub fn write(project: &Project, state: &StateDir) -> std::io::Result<std::path::PathBuf> {
    let _ = (project, state);
    todo!("ssh::config::write")
}
