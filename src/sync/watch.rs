//! `sync watch`: keeps a VM's rsync entries in step with local changes until interrupted or
//! until the VM stops.
//!
//! Everything that can trigger a run or end the watch arrives on one channel: file-system
//! events (inotify through `notify`, tagged with their entry), QEMU's exit (a thread blocked
//! on its pidfd) and the interrupt (a thread blocked on the cancel pipe). Bursts of events are debounced into one run; runs happen
//! one at a time, and events that arrive during a run wait in the channel, so they cause
//! exactly one more run after it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use rustix::event::{PollFd, PollFlags};

use super::entry::{self, describe};
use super::{rsync, SyncError};
use crate::error_chain::chain;
use crate::model::{SyncEngine, SyncSpec, Vm};
use crate::runtime::cancel::Cancel;
use crate::runtime::poll_until::poll_until;
use crate::runtime::process::ProcessHandle;
use crate::state_dir::paths::StateDir;

/// A run starts once the tree has been quiet this long...
const QUIET: Duration = Duration::from_millis(150);
/// ...or this long after the first change, whichever comes first, so that a tree that never
/// stops changing is still synced.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// How often the QEMU thread re-arms its (event-driven) wait; nothing is polled.
const REARM: Duration = Duration::from_secs(3600);

enum Wake {
    Changed(usize),
    VmStopped,
    Interrupted,
    WatchFailed(String),
}

/// What happened, for the caller to show.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    Synced { entry: String, took: Duration },
    Failed(String),
}

/// Why the watch ended (both are normal ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    Interrupted,
    VmStopped,
}

pub struct Watch {
    state: StateDir,
    vm: String,
    entries: Vec<(usize, SyncSpec)>,
    wakes: Receiver<Wake>,
    _watchers: Vec<notify::RecommendedWatcher>,
}

impl Watch {
    /// Starts watching the VM's rsync sources and its QEMU (`qemu`, verified by the caller);
    /// `cancel` ends the watch.
    pub fn new(
        state: &StateDir,
        vm: &Vm,
        qemu: ProcessHandle,
        cancel: Cancel,
    ) -> Result<Self, SyncError> {
        let entries: Vec<(usize, SyncSpec)> = super::entries(vm, SyncEngine::Rsync)
            .into_iter()
            .map(|(index, spec)| (index, spec.clone()))
            .collect();
        if entries.is_empty() {
            return Err(SyncError::NothingToWatch(vm.name.clone()));
        }
        let (sender, wakes) = mpsc::channel();
        let own_files = entry::canonical(state.root());
        let mut watchers = Vec::new();
        for (index, spec) in &entries {
            let (tx, own_files, index) = (sender.clone(), own_files.clone(), *index);
            let watcher = notify::recommended_watcher(move |event| {
                if let Some(wake) = wake_for(event, index, &own_files) {
                    let _ = tx.send(wake);
                }
            })
            .and_then(|mut w| w.watch(&spec.source, RecursiveMode::Recursive).map(|()| w))
            .map_err(|err| SyncError::Tool {
                command: format!("watching {}", spec.source.display()),
                said: err.to_string(),
            })?;
            watchers.push(watcher);
        }
        let tx = sender.clone();
        std::thread::spawn(move || {
            while !qemu.wait_exit(REARM) {}
            let _ = tx.send(Wake::VmStopped);
        });
        let tx = sender.clone();
        std::thread::spawn(move || {
            let fd = cancel.fd();
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            if poll_until(&mut fds, None).is_ok() {
                let _ = tx.send(Wake::Interrupted);
            }
        });
        Ok(Watch {
            state: state.clone(),
            vm: vm.name.clone(),
            entries,
            wakes,
            _watchers: watchers,
        })
    }

    /// Syncs every entry once, then on each change, until interrupted or the VM stops.
    pub fn run(self, report: &mut dyn FnMut(WatchEvent)) -> Result<WatchEnd, SyncError> {
        let all = self.entries.iter().map(|(index, _)| *index).collect();
        self.sync(&all, report);
        loop {
            let mut pending = BTreeSet::new();
            match self.wakes.recv() {
                Ok(Wake::Changed(index)) => pending.insert(index),
                Ok(other) => return end(other),
                Err(_) => return Ok(WatchEnd::Interrupted),
            };
            let deadline = Instant::now() + MAX_DELAY;
            loop {
                let wait = QUIET.min(deadline.saturating_duration_since(Instant::now()));
                match self.wakes.recv_timeout(wait) {
                    Ok(Wake::Changed(index)) => {
                        pending.insert(index);
                    }
                    Ok(other) => return end(other),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.sync(&pending, report);
        }
    }

    fn sync(&self, which: &BTreeSet<usize>, report: &mut dyn FnMut(WatchEvent)) {
        for (index, spec) in self.entries.iter().filter(|(i, _)| which.contains(i)) {
            report(match rsync::run(&self.state, &self.vm, *index, spec) {
                Ok(took) => WatchEvent::Synced {
                    entry: describe(&self.vm, *index, spec),
                    took,
                },
                Err(err) => WatchEvent::Failed(chain(&err)),
            });
        }
    }
}

fn end(wake: Wake) -> Result<WatchEnd, SyncError> {
    match wake {
        Wake::VmStopped => Ok(WatchEnd::VmStopped),
        Wake::WatchFailed(said) => Err(SyncError::Tool {
            command: "watching for changes".into(),
            said,
        }),
        Wake::Interrupted | Wake::Changed(_) => Ok(WatchEnd::Interrupted),
    }
}

/// A change worth a run: content or metadata, not mere reads (rsync's own reads would
/// otherwise trigger the next run), and not qcmdr's own files when the state dir lies inside
/// the source.
fn wake_for(event: notify::Result<notify::Event>, index: usize, own: &Path) -> Option<Wake> {
    match event {
        Err(err) => Some(Wake::WatchFailed(err.to_string())),
        Ok(event) => {
            let changes = matches!(
                event.kind,
                EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            );
            let ours = !event.paths.is_empty() && event.paths.iter().all(|p| p.starts_with(own));
            (changes && !ours).then_some(Wake::Changed(index))
        }
    }
}
