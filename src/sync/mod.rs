//! File sync between host folders and a VM: Mutagen, or rsync where Mutagen is absent.
//!
//! The lifecycle calls the hooks below; they never print (progress goes through the
//! observer, failures come back as errors that name the `sync` entry at fault).
//! - Mutagen ([`sessions`]): one session per entry, labelled with the VM, living in a
//!   private data directory with private SSH wrappers; created once SSH is ready, ended
//!   before the VM shuts down; the private daemon stops once no VM of the state dir runs.
//! - rsync ([`rsync`]): a one-way replica pushed on start, on `sync flush`, and by
//!   `sync watch` ([`watch`]) on every local change.

pub mod entry;
mod error;
pub mod mutagen;
pub mod mutagen_names;
pub mod rsync;
pub mod rsync_record;
pub mod sessions;
pub mod status;
mod tool;
pub mod watch;

pub use error::SyncError;

use crate::model::{Project, SyncEngine, SyncSpec, Vm};
use crate::runtime::executable::find_on_path;
use crate::runtime::process::{self, Identity};
use crate::state_dir::paths::{StateDir, VmPaths};
use mutagen::Mutagen;

/// The VM's entries that use `engine`, with their 0-based index in the config.
pub fn entries(vm: &Vm, engine: SyncEngine) -> Vec<(usize, &SyncSpec)> {
    vm.sync
        .iter()
        .enumerate()
        .filter(|(_, spec)| spec.engine == engine)
        .collect()
}

/// Before QEMU is launched: fails if an engine this VM needs is missing, so a start never
/// boots a VM it cannot finish setting up.
pub fn check_available(project: &Project, vm: &Vm) -> Result<(), SyncError> {
    let _ = project;
    if !entries(vm, SyncEngine::Mutagen).is_empty() && find_on_path("mutagen").is_none() {
        return Err(SyncError::MutagenMissing);
    }
    if !entries(vm, SyncEngine::Rsync).is_empty() && find_on_path("rsync").is_none() {
        return Err(SyncError::RsyncMissing);
    }
    Ok(())
}

/// Once SSH is ready: (re)creates this VM's sync sessions and waits until the files are in
/// the guest. On failure, whatever was created is removed again.
pub fn after_start(project: &Project, state: &StateDir, vm: &Vm) -> Result<(), SyncError> {
    let with_mutagen = entries(vm, SyncEngine::Mutagen);
    let mutagen = if with_mutagen.is_empty() {
        None
    } else {
        let mutagen = Mutagen::prepare(project, state)?;
        sessions::open(&mutagen, state, vm, &with_mutagen)?;
        Some(mutagen)
    };
    for (index, spec) in entries(vm, SyncEngine::Rsync) {
        if let Err(err) = rsync::run(state, &vm.name, index, spec) {
            return Err(match &mutagen {
                Some(mutagen) => sessions::roll_back(mutagen, state, &vm.name, err),
                None => err,
            });
        }
    }
    Ok(())
}

/// `sync flush`: brings the guest up to date now. Mutagen sessions are flushed; when one is
/// missing (a start with `--no-sync`, a terminated session) they are all created afresh, the
/// same way `start` does. rsync entries run once.
pub fn flush(project: &Project, state: &StateDir, vm: &Vm) -> Result<(), SyncError> {
    sources_present(vm)?;
    let with_mutagen = entries(vm, SyncEngine::Mutagen);
    if !with_mutagen.is_empty() {
        let mutagen = Mutagen::prepare(project, state)?;
        let existing = sessions::list(&mutagen, &vm.name)?;
        let complete = with_mutagen.iter().all(|(index, _)| {
            let name = sessions::session_name(&vm.name, *index);
            existing.iter().any(|s| s.name == name)
        });
        if complete {
            sessions::flush(&mutagen, vm, &with_mutagen)?;
        } else {
            sessions::open(&mutagen, state, vm, &with_mutagen)?;
        }
    }
    entries(vm, SyncEngine::Rsync)
        .into_iter()
        .try_for_each(|(index, spec)| rsync::run(state, &vm.name, index, spec).map(drop))
}

/// Fails, naming the entry and the path, when a source folder is not on this machine (a
/// config is shared across machines, so this is no load error).
pub fn sources_present(vm: &Vm) -> Result<(), SyncError> {
    for (index, spec) in vm.sync.iter().enumerate() {
        if let Some(problem) = entry::source_problem(spec) {
            return Err(
                SyncError::Missing(problem).for_entry(entry::describe(&vm.name, index, spec))
            );
        }
    }
    Ok(())
}

/// Before the VM is shut down (also when the guest is unreachable, or already gone): ends
/// its Mutagen sessions, if it may have any.
pub fn before_stop(project: &Project, state: &StateDir, vm: &Vm) -> Result<(), SyncError> {
    if !sessions::may_exist(state, &vm.name) {
        return Ok(());
    }
    let mutagen = Mutagen::prepare(project, state)?;
    sessions::close(&mutagen, state, &vm.name)
}

/// For a start without sync: ends the Mutagen sessions an earlier run of the VM left behind
/// (a crash, a killed qcmdr), if it may have any.
pub fn end_leftovers(project: &Project, state: &StateDir, vm: &Vm) -> Result<(), SyncError> {
    before_stop(project, state, vm)
}

/// After a VM stopped: stops Mutagen's private daemon once no VM of the state dir runs.
pub fn after_stop(project: &Project, state: &StateDir) -> Result<(), SyncError> {
    let _ = project;
    if !Mutagen::used(state) || any_vm_running(state) {
        return Ok(());
    }
    // Without mutagen there is no daemon to stop.
    let Ok(mutagen) = Mutagen::find(state) else {
        return Ok(());
    };
    match mutagen.run(&["daemon", "stop"]) {
        // Exit 1 is also how `daemon stop` says no daemon ran: the goal is reached either way.
        Ok(_) | Err(SyncError::Tool { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

fn any_vm_running(state: &StateDir) -> bool {
    let Ok(folders) = std::fs::read_dir(state.vms_dir()) else {
        return false;
    };
    folders.flatten().any(|folder| {
        let paths = VmPaths::new(folder.path());
        matches!(process::identify(&paths.pidfile), Ok(Identity::Running(_)))
    })
}
