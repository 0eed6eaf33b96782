//! What can go wrong while syncing, worded for the person who has to fix it.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "Mutagen is not installed (no `mutagen` on PATH); install it \
         (https://mutagen.io/documentation/introduction/installation) or sync with rsync: \
         set engine = \"rsync\" on the entry, or sync_engine = \"rsync\" at the top of the config"
    )]
    MutagenMissing,
    #[error(
        "rsync is not installed (no `rsync` on PATH); install it (Debian: apt-get install rsync)"
    )]
    RsyncMissing,
    #[error(
        "VM {0:?} has no rsync entries to watch (Mutagen entries sync continuously by themselves)"
    )]
    NothingToWatch(String),
    /// A failure of one `sync` entry; `entry` names it as the config does.
    #[error("{entry}")]
    Entry {
        entry: String,
        #[source]
        source: Box<SyncError>,
    },
    /// Something the sync needs is not on this machine (a source folder).
    #[error("{0}")]
    Missing(String),
    /// A helper (mutagen, rsync, ssh) ran and failed; `said` is its own explanation.
    #[error("`{command}` failed: {said}")]
    Tool { command: String, said: String },
    /// A helper ran past the bound of one call and was stopped.
    #[error("`{command}` did not finish within {seconds} s and was stopped (the bound of one sync call; set QCMDR_SYNC_TIMEOUT=SECONDS to change it)")]
    TimedOut { command: String, seconds: u64 },
    /// A helper could not be run (not installed) or waited for.
    #[error(transparent)]
    Helper(crate::runtime::helper::HelperError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl SyncError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> SyncError {
        let context = context.into();
        move |source| SyncError::Io { context, source }
    }

    /// Attributes this failure to one entry of the config.
    pub(crate) fn for_entry(self, entry: String) -> SyncError {
        SyncError::Entry {
            entry,
            source: Box::new(self),
        }
    }
}
