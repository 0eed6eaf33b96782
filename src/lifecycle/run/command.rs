//! The command itself: run in the guest over the instance's SSH master with its argv exact
//! (quoted for the guest's shell) and qcmdr's stdin, stdout and stderr handed to ssh as they
//! are. One `poll` waits for ssh's exit, QEMU's exit, the serial log growing (a panic), the
//! timeout and Ctrl-C, whichever comes first.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::panic_watch::PanicWatch;
use crate::lifecycle::snapshot::clock;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::kill_on_drop::KillOnDrop;
use crate::runtime::poll_until::poll_until;
use crate::runtime::process::ProcessHandle;
use crate::ssh::master::SshTarget;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// ssh returned the command's code (a signal's number plus 128).
    Exited(i32),
    TimedOut,
    /// The guest kernel panicked or oopsed (the watch holds its lines).
    Panicked,
    /// QEMU exited first.
    QemuExited,
    Cancelled,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot quote the command for the guest's shell")]
    Quote(#[source] shlex::QuoteError),
    #[error("cannot run ssh")]
    Spawn(#[source] std::io::Error),
    #[error("cannot wait for ssh")]
    Wait(#[source] std::io::Error),
}

/// What the wait needs to watch besides ssh.
pub struct Watched<'a> {
    pub qemu: &'a ProcessHandle,
    /// The instance's VM folder, where the serial log is written.
    pub folder: &'a DirWatch,
    pub panic: &'a mut PanicWatch,
    pub cancel: &'a Cancel,
}

/// Runs `argv` in the guest and waits until it ends (or something else ends the run);
/// `set_clock` first sets the guest's clock to the host's in the same call (after a restore).
pub fn run(
    target: &SshTarget,
    argv: &[String],
    set_clock: bool,
    timeout: Option<Duration>,
    watched: Watched<'_>,
) -> Result<Ended, CommandError> {
    // ssh joins its remote words with spaces for the guest's shell to split again.
    let quoted = shlex::try_join(argv.iter().map(String::as_str)).map_err(CommandError::Quote)?;
    // The time is taken right before ssh goes out (through the master: no handshake).
    let remote = match set_clock {
        true => format!("{} >/dev/null 2>&1\n{quoted}", clock::setting_command()),
        false => quoted,
    };
    let mut command = target.command();
    command
        .args(["-T", "-o", "BatchMode=yes"])
        .arg(&target.host)
        .arg("--")
        .arg(remote)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut ssh = KillOnDrop(command.spawn().map_err(CommandError::Spawn)?);
    let handle = ProcessHandle::from_child(ssh.id() as i32).map_err(CommandError::Spawn)?;
    let deadline = timeout.map(|limit| Instant::now() + limit);
    let Watched {
        qemu,
        folder,
        panic,
        cancel,
    } = watched;
    loop {
        let (ssh_fd, qemu_fd, folder_fd, cancel_fd) =
            (handle.pidfd(), qemu.pidfd(), folder.fd(), cancel.fd());
        let mut fds = [
            PollFd::new(&ssh_fd, PollFlags::IN),
            PollFd::new(&qemu_fd, PollFlags::IN),
            PollFd::new(&folder_fd, PollFlags::IN),
            PollFd::new(&cancel_fd, PollFlags::IN),
        ];
        let woke = poll_until(&mut fds, deadline).map_err(CommandError::Wait)?;
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        if !woke {
            return Ok(Ended::TimedOut);
        }
        if ready[3] || cancel.is_cancelled() {
            return Ok(Ended::Cancelled);
        }
        if ready[2] {
            folder.drain();
        }
        if ready[0] {
            let status = ssh.wait().map_err(CommandError::Wait)?;
            // A guest that died under the command shows as ssh losing its connection.
            if panic.update() {
                panic.read_rest(folder, cancel);
                return Ok(Ended::Panicked);
            }
            return Ok(Ended::Exited(code_of(status)));
        }
        if panic.update() {
            panic.read_rest(folder, cancel);
            return Ok(Ended::Panicked);
        }
        if ready[1] {
            return Ok(Ended::QemuExited);
        }
    }
}

/// The shell's convention: a signal's number plus 128.
fn code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}
