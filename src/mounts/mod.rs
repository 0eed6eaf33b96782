//! `mounts`: host folders the guest sees live, each served by its own `virtiofsd` (the Rust
//! vhost-user daemon) that qcmdr starts before QEMU and ends with the VM.
//!
//! Each daemon is tracked like QEMU: a pidfile in the VM's private folder, verified through
//! a pidfd against the daemon's argv (its `--socket-path`, which is this VM's) before it is
//! ever signalled. A daemon exits by itself when QEMU disconnects (QEMU died or quit);
//! whatever is left (a start killed before QEMU connected) is ended by the next `stop` or
//! `start` of the VM, through [`end_all`].

mod binary;
mod daemon;

use std::path::{Path, PathBuf};

pub use binary::{find_virtiofsd, NOT_FOUND_HINT};
pub use daemon::{end_all, health, sources_present, start_all, Daemons, MountError, MountHealth};

use crate::model::MountSpec;
use crate::state_dir::paths::VmPaths;

/// The files of one mount's daemon.
#[derive(Debug, Clone)]
pub struct MountFiles {
    /// The vhost-user socket virtiofsd listens on and QEMU connects to.
    pub socket: PathBuf,
    /// Written by qcmdr with the daemon's PID.
    pub pidfile: PathBuf,
    /// virtiofsd's own lock file beside its socket (`<socket>.pid`), which it leaves behind.
    pub daemon_lock: PathBuf,
    /// The daemon's stdout and stderr.
    pub log: PathBuf,
}

/// Where `tag`'s daemon keeps its files.
pub fn files(paths: &VmPaths, tag: &str) -> MountFiles {
    let socket = socket(paths, tag);
    MountFiles {
        daemon_lock: PathBuf::from(format!("{}.pid", socket.display())),
        socket,
        pidfile: paths.dir.join(format!("virtiofsd-{tag}.pid")),
        log: paths.dir.join(format!("virtiofsd-{tag}.log")),
    }
}

impl MountFiles {
    /// What a daemon that ended leaves (its log stays).
    pub fn leftovers(&self) -> [&Path; 3] {
        [&self.pidfile, &self.socket, &self.daemon_lock]
    }
}

/// The vhost-user socket of the mount tagged `tag` (at most `qcmdr99.sock`: no longer than
/// the VM's longest socket name, so it fits wherever the VM's sockets do).
pub fn socket(paths: &VmPaths, tag: &str) -> PathBuf {
    paths.socket_dir.join(format!("{tag}.sock"))
}

/// The tag of a daemon's pidfile name (`virtiofsd-<tag>.pid`), for the cleanup of daemons
/// whose mounts the config no longer has.
fn tag_of_pidfile(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let tag = name.strip_prefix("virtiofsd-")?.strip_suffix(".pid")?;
    Some(tag.to_string())
}

/// The words the guest's kernel command line gets: `qcmdr.mount=<tag>:<dest>:<ro|rw>` each
/// (qcmdr's test guest mounts them at boot; other guests use an fstab line).
pub fn kernel_words(mounts: &[MountSpec]) -> Vec<String> {
    mounts
        .iter()
        .map(|m| {
            let mode = if m.readonly { "ro" } else { "rw" };
            format!("qcmdr.mount={}:{}:{mode}", m.tag, m.dest)
        })
        .collect()
}
