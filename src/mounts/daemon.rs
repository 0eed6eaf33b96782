//! Starting one `virtiofsd` per mount before QEMU, ending them with the VM, and their health.

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::{files, find_virtiofsd, tag_of_pidfile, MountFiles, NOT_FOUND_HINT};
use crate::model::{MountSpec, Vm};
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::poll_until::poll_until;
use crate::runtime::process::{self, remove_files, Identity, ProcessHandle};
use crate::state_dir::paths::VmPaths;

/// How long a daemon gets to create its socket (milliseconds normally; a loaded machine
/// takes longer).
const READY_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{NOT_FOUND_HINT}")]
    NotInstalled,
    #[error("VM {vm:?}: mounts[{index}].source: {} is not a folder on this machine; create it or fix the source", .source_dir.display())]
    MissingSource {
        vm: String,
        index: usize,
        source_dir: PathBuf,
    },
    #[error("cannot run virtiofsd for mounts[{index}] ({})", .source_dir.display())]
    Spawn {
        index: usize,
        source_dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("virtiofsd for mounts[{index}] ({}) exited before it was ready: {last_line} (its log: {})", .source_dir.display(), .log.display())]
    Exited {
        index: usize,
        source_dir: PathBuf,
        last_line: String,
        log: PathBuf,
    },
    #[error("virtiofsd for mounts[{index}] made no socket within {}s (its log: {})", READY_WITHIN.as_secs(), .log.display())]
    NoSocket { index: usize, log: PathBuf },
    #[error("interrupted while virtiofsd was starting")]
    Interrupted,
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The daemons of one start; dropped without [`Daemons::keep`], they are ended (a start that
/// fails at any point leaves none behind).
#[derive(Debug)]
pub struct Daemons {
    running: Vec<(Child, ProcessHandle, MountFiles)>,
}

impl Daemons {
    /// They serve the launched QEMU from now on, beyond this qcmdr.
    pub fn keep(mut self) {
        self.running.clear();
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for (mut child, process, files) in self.running.drain(..) {
            process.terminate(|| {});
            let _ = child.wait();
            remove_files(files.leftovers());
        }
    }
}

/// Checks every source first, then starts one daemon per mount of `vm` and waits until each
/// listens (or `cancel`); nothing is started when a check fails.
pub fn start_all(vm: &Vm, paths: &VmPaths, cancel: &Cancel) -> Result<Daemons, MountError> {
    let mut daemons = Daemons {
        running: Vec::new(),
    };
    if vm.mounts.is_empty() {
        return Ok(daemons);
    }
    sources_present(vm)?;
    let binary = find_virtiofsd().ok_or(MountError::NotInstalled)?;
    // Whatever an earlier run left (it would hold the socket path).
    end_all(paths);
    let watch = DirWatch::new(&paths.socket_dir).map_err(|source| MountError::Io {
        context: format!("cannot watch {}", paths.socket_dir.display()),
        source,
    })?;
    for (i, mount) in vm.mounts.iter().enumerate() {
        let files = files(paths, &mount.tag);
        let (child, process) = spawn(&binary, mount, &files, i + 1)?;
        daemons.running.push((child, process, files));
        let (_, process, files) = daemons.running.last().expect("just pushed");
        wait_listening(process, files, &watch, cancel, mount, i + 1)?;
    }
    Ok(daemons)
}

/// Every mount's source is a folder on this machine.
pub fn sources_present(vm: &Vm) -> Result<(), MountError> {
    for (i, mount) in vm.mounts.iter().enumerate() {
        if !mount.source.is_dir() {
            return Err(MountError::MissingSource {
                vm: vm.name.clone(),
                index: i + 1,
                source_dir: mount.source.clone(),
            });
        }
    }
    Ok(())
}

fn spawn(
    binary: &Path,
    mount: &MountSpec,
    files: &MountFiles,
    index: usize,
) -> Result<(Child, ProcessHandle), MountError> {
    let spawn_err = |source| MountError::Spawn {
        index,
        source_dir: mount.source.clone(),
        source,
    };
    remove_files([files.socket.as_path(), files.daemon_lock.as_path()]);
    let log = crate::state_dir::private_file::create_fresh(&files.log).map_err(spawn_err)?;
    let log_err = log.try_clone().map_err(spawn_err)?;
    let mut command = Command::new(binary);
    command
        .arg(format!("--socket-path={}", files.socket.display()))
        .arg(format!("--shared-dir={}", mount.source.display()))
        // As root it pivots into the shared folder in its own namespaces; a regular user
        // may not, and then it runs with that user's rights only.
        .arg(if rustix::process::geteuid().is_root() {
            "--sandbox=namespace"
        } else {
            "--sandbox=none"
        })
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    if mount.readonly {
        command.arg("--readonly");
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent. Its own
    // session: a Ctrl-C meant for qcmdr never reaches the daemon of a running VM.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(|_| ()).map_err(Into::into));
    }
    let mut child = command.spawn().map_err(spawn_err)?;
    let tracked = ProcessHandle::from_child(child.id() as i32).and_then(|handle| {
        let mut file = crate::state_dir::private_file::create_fresh(&files.pidfile)?;
        file.write_all(format!("{}\n", child.id()).as_bytes())?;
        Ok(handle)
    });
    match tracked {
        Ok(handle) => Ok((child, handle)),
        Err(source) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(MountError::Io {
                context: format!("cannot track virtiofsd for mounts[{index}]"),
                source,
            })
        }
    }
}

/// Until the daemon's socket exists, the daemon exits, or [`READY_WITHIN`] passes.
fn wait_listening(
    process: &ProcessHandle,
    files: &MountFiles,
    watch: &DirWatch,
    cancel: &Cancel,
    mount: &MountSpec,
    index: usize,
) -> Result<(), MountError> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if files.socket.exists() {
            return Ok(());
        }
        if process.has_exited() {
            let last_line = crate::logs::log_tail::last_lines(&files.log, 1)
                .pop()
                .unwrap_or_else(|| "no output".to_string());
            return Err(MountError::Exited {
                index,
                source_dir: mount.source.clone(),
                last_line,
                log: files.log.clone(),
            });
        }
        if cancel.is_cancelled() {
            return Err(MountError::Interrupted);
        }
        let mut fds = [
            PollFd::from_borrowed_fd(process.pidfd(), PollFlags::IN),
            PollFd::from_borrowed_fd(watch.fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(cancel.fd(), PollFlags::IN),
        ];
        let woke = poll_until(&mut fds, Some(deadline)).map_err(|source| MountError::Io {
            context: "cannot wait for virtiofsd".into(),
            source,
        })?;
        watch.drain();
        if !woke && !files.socket.exists() {
            return Err(MountError::NoSocket {
                index,
                log: files.log.clone(),
            });
        }
    }
}

/// Ends every daemon this VM's folder has a pidfile of (verified to be this VM's first),
/// and removes their pidfiles and sockets. Their logs stay for post-mortems.
pub fn end_all(paths: &VmPaths) {
    let Ok(entries) = fs::read_dir(&paths.dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(tag) = tag_of_pidfile(&entry.path()) else {
            continue;
        };
        let files = files(paths, &tag);
        if let Identity::Running(daemon) = identify(&files) {
            daemon.terminate(|| {});
        }
        remove_files(files.leftovers());
    }
}

fn identify(files: &MountFiles) -> Identity {
    let flag = format!("--socket-path={}", files.socket.display());
    process::identify_with(&files.pidfile, "this VM's virtiofsd", |_, argv| {
        argv.contains(&flag)
    })
    .unwrap_or_else(|err| Identity::Stale {
        pid: None,
        reason: format!("cannot read its pidfile: {err}"),
    })
}

/// One mount and its daemon, for `status`.
#[derive(Debug, Clone)]
pub struct MountHealth {
    pub tag: String,
    pub source: PathBuf,
    pub dest: String,
    pub readonly: bool,
    /// The daemon's PID when it runs.
    pub pid: Option<i32>,
    /// `running`, `stopped` (no daemon), or `stale` with [`MountHealth::detail`].
    pub daemon: &'static str,
    pub detail: Option<String>,
}

/// Each of `vm`'s mounts with its daemon's state.
pub fn health(vm: &Vm, paths: &VmPaths) -> Vec<MountHealth> {
    vm.mounts
        .iter()
        .map(|mount| {
            let (pid, daemon, detail) = match identify(&files(paths, &mount.tag)) {
                Identity::Running(p) => (Some(p.pid()), "running", None),
                Identity::NotRunning => (None, "stopped", None),
                Identity::Stale { pid, reason } => (pid, "stale", Some(reason)),
            };
            MountHealth {
                tag: mount.tag.clone(),
                source: mount.source.clone(),
                dest: mount.dest.clone(),
                readonly: mount.readonly,
                pid,
                daemon,
                detail,
            }
        })
        .collect()
}
