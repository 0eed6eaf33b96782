//! `sync status`: per entry, which engine, between which ends, how it is doing, and what is
//! wrong in plain words. Mutagen is asked only while the VM runs: asking starts its daemon,
//! which nothing would stop again for a VM that is down.

use std::path::PathBuf;
use std::time::SystemTime;

use super::mutagen::Mutagen;
use super::rsync_record::{self, LastRun};
use super::sessions::{self, Session};
use super::SyncError;
use crate::error_chain::chain;
use crate::model::{Project, SyncEngine, Vm};
use crate::state_dir::paths::StateDir;

#[derive(Debug, Clone)]
pub struct EntryStatus {
    /// 0-based position in the VM's `sync` list.
    pub index: usize,
    pub engine: SyncEngine,
    pub source: PathBuf,
    /// As configured (`~` is the guest user's home).
    pub dest: String,
    /// One word: Mutagen's own status, or `synced`, `failed`, `never-run`, `no-session`,
    /// `unknown`, `vm-stopped`.
    pub state: String,
    /// Mutagen entries: the session, when the VM runs and it exists.
    pub session: Option<Session>,
    /// rsync entries: the last run, if any.
    pub last_run: Option<LastRun>,
    pub problems: Vec<String>,
}

/// The status of every entry of `vm`; `started` is when its QEMU started, if it runs.
pub fn of_vm(
    project: &Project,
    state: &StateDir,
    vm: &Vm,
    started: Option<SystemTime>,
) -> Vec<EntryStatus> {
    let sessions = if started.is_some() && vm.sync.iter().any(|s| s.engine == SyncEngine::Mutagen) {
        Some(Mutagen::prepare(project, state).and_then(|m| sessions::list(&m, &vm.name)))
    } else {
        None
    };
    vm.sync
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let mut status = EntryStatus {
                index,
                engine: spec.engine,
                source: spec.source.clone(),
                dest: spec.dest.clone(),
                state: String::new(),
                session: None,
                last_run: None,
                problems: Vec::new(),
            };
            match spec.engine {
                SyncEngine::Mutagen => mutagen_entry(&mut status, vm, sessions.as_ref()),
                SyncEngine::Rsync => rsync_entry(&mut status, state, vm, started),
            }
            status
        })
        .collect()
}

fn mutagen_entry(
    status: &mut EntryStatus,
    vm: &Vm,
    sessions: Option<&Result<Vec<Session>, SyncError>>,
) {
    let name = sessions::session_name(&vm.name, status.index);
    let found = match sessions {
        None => {
            status.state = "vm-stopped".into();
            return;
        }
        Some(Err(err)) => {
            status.state = "unknown".into();
            status
                .problems
                .push(format!("cannot ask Mutagen: {}", chain(err)));
            return;
        }
        Some(Ok(all)) => all.iter().find(|s| s.name == name),
    };
    let Some(session) = found else {
        status.state = "no-session".into();
        status.problems.push(format!(
            "no Mutagen session {name}: the VM was started with --no-sync, or the session \
             was terminated; restart the VM to create it"
        ));
        return;
    };
    status.state = session.status.clone();
    if session.paused {
        status.problems.push(format!(
            "paused; resume with: qcmdr mutagen sync resume {name}"
        ));
    }
    if let Some(explained) = explain(&session.status) {
        status.problems.push(explained);
    }
    if let Some(error) = &session.last_error {
        status
            .problems
            .push(format!("Mutagen's last error: {error}"));
    }
    status.session = Some(session.clone());
}

/// Mutagen's statuses that need the user, in plain words.
fn explain(mutagen_status: &str) -> Option<String> {
    let text = match mutagen_status {
        "disconnected" => "not connected to the guest (Mutagen keeps retrying)",
        "halted-on-root-emptied" => {
            "halted: one side's folder became empty, and Mutagen stops rather than empty the \
             other; refill it, then: qcmdr mutagen sync reset"
        }
        "halted-on-root-deletion" => {
            "halted: one side's folder was deleted; restore it, then: qcmdr mutagen sync reset"
        }
        "halted-on-root-type-change" => {
            "halted: a synced folder was replaced by a file (or the reverse)"
        }
        _ => return None,
    };
    Some(text.to_string())
}

fn rsync_entry(status: &mut EntryStatus, state: &StateDir, vm: &Vm, started: Option<SystemTime>) {
    status.last_run = rsync_record::load(state, &vm.name, status.index);
    let stale = |run: &LastRun| started.is_some_and(|at| run.ended_at() < at);
    match &status.last_run {
        None => status.state = "never-run".into(),
        Some(run) if run.ok => status.state = "synced".into(),
        Some(run) => {
            status.state = "failed".into();
            status.problems.push(format!(
                "the last run failed: {}",
                run.error.as_deref().unwrap_or("no details")
            ));
        }
    }
    if started.is_some() && status.last_run.as_ref().map_or(true, stale) {
        status.problems.push(format!(
            "not synced since the VM started (--no-sync?); sync now with: qcmdr sync flush {}",
            vm.name
        ));
    }
}
