//! `qcmdr.sync-status/1`: one entry per VM of `sync status --json`, each sync entry in it.

use std::path::PathBuf;

use serde::Serialize;

use crate::model::Vm;
use crate::sync::status::EntryStatus;

#[derive(Debug, Serialize)]
pub struct SyncStatusVm {
    pub name: String,
    pub running: bool,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Serialize)]
pub struct Entry {
    /// `sync[N]`, 1-based as in the config.
    pub entry: String,
    pub engine: &'static str,
    pub source: PathBuf,
    pub dest: String,
    pub remote: String,
    pub state: String,
    pub problems: Vec<String>,
    pub session: Option<Session>,
    pub last_run: Option<LastRun>,
}

/// Mutagen's session record, as far as qcmdr reads it.
#[derive(Debug, Serialize)]
pub struct Session {
    pub name: String,
    pub identifier: String,
    pub status: String,
    pub paused: bool,
    pub last_error: Option<String>,
    pub successful_cycles: u64,
    pub alpha_connected: bool,
    pub beta_connected: bool,
}

/// rsync's last run.
#[derive(Debug, Serialize)]
pub struct LastRun {
    pub at: f64,
    pub ok: bool,
    pub took_s: f64,
    pub error: Option<String>,
}

impl SyncStatusVm {
    pub fn new(vm: &Vm, running: bool, entries: &[EntryStatus]) -> Self {
        SyncStatusVm {
            name: vm.name.clone(),
            running,
            entries: entries.iter().map(|e| Entry::new(vm, e)).collect(),
        }
    }
}

impl Entry {
    fn new(vm: &Vm, entry: &EntryStatus) -> Self {
        Entry {
            entry: format!("sync[{}]", entry.index + 1),
            engine: entry.engine.as_str(),
            source: entry.source.clone(),
            dest: entry.dest.clone(),
            remote: format!("{}:{}", vm.name, entry.dest),
            state: entry.state.clone(),
            problems: entry.problems.clone(),
            session: entry.session.as_ref().map(|s| Session {
                name: s.name.clone(),
                identifier: s.identifier.clone(),
                status: s.status.clone(),
                paused: s.paused,
                last_error: s.last_error.clone(),
                successful_cycles: s.successful_cycles,
                alpha_connected: s.alpha_connected,
                beta_connected: s.beta_connected,
            }),
            last_run: entry.last_run.as_ref().map(|r| LastRun {
                at: r.at,
                ok: r.ok,
                took_s: r.took_s,
                error: r.error.clone(),
            }),
        }
    }
}
