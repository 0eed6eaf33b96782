//! When each rsync entry last ran and how it went, kept in the VM's folder for `sync status`.
//! One small file per entry, so concurrent runs (a watch and a flush) never lose an update.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::state_dir::paths::StateDir;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// When the run ended, in seconds since the Unix epoch.
    pub at: f64,
    pub ok: bool,
    pub took_s: f64,
    pub error: Option<String>,
}

impl LastRun {
    pub fn now(took: Duration, error: Option<String>) -> Self {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        LastRun {
            at: at.as_secs_f64(),
            ok: error.is_none(),
            took_s: took.as_secs_f64(),
            error,
        }
    }

    pub fn ended_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(self.at.max(0.0))
    }
}

fn path(state: &StateDir, vm: &str, index: usize) -> PathBuf {
    state.vm(vm).dir.join(format!("rsync-{index}.json"))
}

/// Best effort: a record that cannot be written only makes `sync status` less informed.
pub fn save(state: &StateDir, vm: &str, index: usize, run: &LastRun) {
    let target = path(state, vm, index);
    let temp = target.with_extension("json.tmp");
    let Ok(text) = serde_json::to_vec(run) else {
        return;
    };
    let written = crate::state_dir::private_file::create_fresh(&temp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &text));
    if written.is_ok() {
        let _ = std::fs::rename(&temp, &target);
    }
}

pub fn load(state: &StateDir, vm: &str, index: usize) -> Option<LastRun> {
    let text = std::fs::read(path(state, vm, index)).ok()?;
    serde_json::from_slice(&text).ok()
}
