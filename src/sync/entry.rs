//! Naming a `sync` entry the way the config does, so every message points at its line.

use std::path::{Path, PathBuf};

use crate::model::SyncSpec;
use crate::state_dir::paths::StateDir;

/// `sync[2] (/home/u/src → demo:~/src)`; `index` is 0-based, the name 1-based like Lua's.
pub fn describe(vm: &str, index: usize, spec: &SyncSpec) -> String {
    format!(
        "sync[{}] ({} → {vm}:{})",
        index + 1,
        spec.source.display(),
        spec.dest
    )
}

/// `path` with symlinks resolved when it exists, else as given.
pub fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// When the state dir lies inside `source` (a project syncing its own folder), an anchored
/// pattern that keeps it out of the guest: its sockets, logs and keys are not the user's
/// files, and every run would change it again. The same spelling works for both engines.
pub fn state_dir_ignore(state: &StateDir, spec: &SyncSpec) -> Option<String> {
    let inside = canonical(state.root());
    let relative = inside.strip_prefix(canonical(&spec.source)).ok()?;
    let relative = relative.to_str()?;
    (!relative.is_empty()).then(|| format!("/{relative}/"))
}

/// Why `spec`'s source cannot be synced on this machine right now, if it cannot. A config is
/// shared across machines, so this is checked when the VM's sync is about to run.
pub fn source_problem(spec: &SyncSpec) -> Option<String> {
    match std::fs::metadata(&spec.source) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some(format!("{} is not a folder", spec.source.display())),
        Err(_) => Some(format!("{} does not exist", spec.source.display())),
    }
}
