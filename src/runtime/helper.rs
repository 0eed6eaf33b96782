//! The one way qcmdr runs a helper program (ssh, rsync, mutagen, qemu-img, mmdebstrap, ...):
//! a builder with an optional time bound, an optional cancel, and an optional process group
//! of its own, and one error type that says which of those ended it.
//!
//! ```no_run
//! # use std::{process::Command, time::Duration};
//! # use qcmdr::runtime::helper::Helper;
//! let out = Helper::new(Command::new("qemu-img"))
//!     .timeout(Duration::from_secs(120))
//!     .process_group()
//!     .output()?;
//! # Ok::<(), qcmdr::runtime::helper::HelperError>(())
//! ```
//!
//! The wait is one `poll` over the helper's pidfd and the cancel pipe with a deadline, never a
//! tick. A helper in its own process group is ended as a group (the helper and whatever it
//! started: the ssh under rsync, apt under mmdebstrap), so nothing outlives the call: SIGTERM
//! first when a grace is set (mmdebstrap unmounts what it mounted on SIGTERM), then SIGKILL.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{kill_process_group, Pid, Signal};

use super::cancel::Cancel;
use super::kill_on_drop::KillOnDrop;
use super::poll_until::poll_until;
use super::process::ProcessHandle;

/// How long the output pipes may stay open after the helper ended (a grandchild that
/// inherited them); what arrived until then is kept.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Why a helper did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// It could not be started at all (not installed, not executable); `hint` says how to
    /// install it, when the caller knows.
    #[error("cannot run {program}{}", hint.map(|hint| format!(" ({hint})")).unwrap_or_default())]
    SpawnFailed {
        program: String,
        hint: Option<&'static str>,
        #[source]
        source: io::Error,
    },
    /// It ran past its bound and was killed.
    #[error("{program} did not finish within {} and was stopped", shown(*after))]
    TimedOut { program: String, after: Duration },
    /// The cancel fired (Ctrl-C) before or while it ran; it (and its group) was ended.
    #[error("{program} was interrupted")]
    Cancelled { program: String },
    /// It ran and failed; `stderr` is what it said there, when that was captured.
    #[error("{program} failed ({status}){}", said(stderr))]
    Exited {
        program: String,
        status: ExitStatus,
        stderr: String,
    },
    /// Waiting for it failed (a pidfd or poll error).
    #[error("cannot wait for {program}")]
    Io {
        program: String,
        #[source]
        source: io::Error,
    },
}

impl HelperError {
    /// The helper's exit code when it ran and failed with one.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            HelperError::Exited { status, .. } => status.code(),
            _ => None,
        }
    }

    /// The signal that ended a failed helper, when one did.
    pub fn exit_signal(&self) -> Option<i32> {
        match self {
            HelperError::Exited { status, .. } => status.signal(),
            _ => None,
        }
    }

    /// True when the helper could not be started because it does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HelperError::SpawnFailed { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// `120 s`, or `50 ms` for a bound under a second or not in whole seconds.
fn shown(after: Duration) -> String {
    if after.subsec_nanos() == 0 {
        format!("{} s", after.as_secs())
    } else {
        format!("{} ms", after.as_millis())
    }
}

fn said(stderr: &str) -> String {
    let one_line = one_line(stderr.as_bytes());
    if one_line.is_empty() {
        String::new()
    } else {
        format!(": {one_line}")
    }
}

/// A helper's output on one line: its non-empty lines, trimmed, joined by " / ".
pub fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A helper call being set up; run it with [`Helper::output`], [`Helper::output_any`] or
/// [`Helper::status`].
#[must_use]
pub struct Helper<'a> {
    command: Command,
    program: String,
    timeout: Option<Duration>,
    cancel: Option<&'a Cancel>,
    grace: Duration,
    group: bool,
    stderr_set: bool,
    hint: Option<&'static str>,
    input: Option<Vec<u8>>,
}

impl<'a> Helper<'a> {
    /// `command` as the caller built it (arguments, environment, stdin, current folder).
    pub fn new(command: Command) -> Self {
        let program = command.get_program().to_string_lossy().into_owned();
        Helper {
            command,
            program,
            timeout: None,
            cancel: None,
            grace: Duration::ZERO,
            group: false,
            stderr_set: false,
            hint: None,
            input: None,
        }
    }

    /// Feeds `bytes` to its stdin (then end of file), on a thread of its own so that a
    /// helper which stops reading early cannot block the call.
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.command.stdin(Stdio::piped());
        self.input = Some(bytes.into());
        self
    }

    /// How to install the program, for the message when it cannot be started (e.g.
    /// `Debian: apt-get install qemu-utils`).
    pub fn install_hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    /// Killed (and [`HelperError::TimedOut`]) if still running after `bound`.
    pub fn timeout(mut self, bound: Duration) -> Self {
        self.timeout = Some(bound);
        self
    }

    /// Ended (and [`HelperError::Cancelled`]) once `cancel` fires; never started if it has.
    pub fn cancel(mut self, cancel: &'a Cancel) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Runs in a process group of its own, which is ended as a whole on timeout or cancel;
    /// a Ctrl-C at the terminal then reaches only qcmdr, not the helper.
    pub fn process_group(mut self) -> Self {
        self.group = true;
        self
    }

    /// When ending it: SIGTERM, up to `grace` to exit, then SIGKILL (default: SIGKILL at once).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sends its stderr to `stderr` instead of capturing it.
    pub fn stderr(mut self, stderr: impl Into<Stdio>) -> Self {
        self.command.stderr(stderr);
        self.stderr_set = true;
        self
    }

    /// Runs it with stdout (and stderr, unless redirected) captured; a non-zero exit is
    /// [`HelperError::Exited`].
    pub fn output(self) -> Result<Output, HelperError> {
        let program = self.program.clone();
        let output = self.output_any()?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(HelperError::Exited {
                program,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// Like [`Helper::output`], but a helper that ran to its end is `Ok` whatever its exit
    /// status (for callers that read what a failed helper printed).
    pub fn output_any(mut self) -> Result<Output, HelperError> {
        self.command.stdout(Stdio::piped());
        if !self.stderr_set {
            self.command.stderr(Stdio::piped());
        }
        self.run()
    }

    /// Runs it with stdio as the caller set them; a non-zero exit is [`HelperError::Exited`].
    pub fn status(self) -> Result<(), HelperError> {
        let program = self.program.clone();
        let output = self.run()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(HelperError::Exited {
                program,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    fn run(mut self) -> Result<Output, HelperError> {
        let program = self.program;
        if self.cancel.is_some_and(Cancel::is_cancelled) {
            return Err(HelperError::Cancelled { program });
        }
        if self.group {
            self.command.process_group(0);
        }
        let deadline = self.timeout.map(|bound| Instant::now() + bound);
        let mut child = match self.command.spawn() {
            Ok(child) => KillOnDrop(child),
            Err(source) => {
                return Err(HelperError::SpawnFailed {
                    program,
                    hint: self.hint,
                    source,
                })
            }
        };
        if let (Some(mut stdin), Some(bytes)) = (child.stdin.take(), self.input) {
            // A helper that gives up early closes its end: what it said then is what counts.
            thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let io = |program: &str| {
            let program = program.to_string();
            move |source| HelperError::Io { program, source }
        };
        let watched = ProcessHandle::from_child(child.id() as i32).map_err(io(&program))?;
        let exited = {
            let pidfd = watched.pidfd();
            let cancel_fd = self.cancel.map(Cancel::fd);
            let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
            if let Some(fd) = &cancel_fd {
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
            poll_until(&mut fds, deadline).map_err(io(&program))?;
            !fds[0].revents().is_empty()
        };
        if exited {
            let status = child.wait().map_err(io(&program))?;
            return Ok(Output {
                status,
                stdout: stdout.recv_timeout(DRAIN_LIMIT).unwrap_or_default(),
                stderr: stderr.recv_timeout(DRAIN_LIMIT).unwrap_or_default(),
            });
        }
        end(&child, &watched, self.group, self.grace);
        // The guard kills (if need be) and reaps the leader.
        drop(child);
        if self.cancel.is_some_and(Cancel::is_cancelled) {
            Err(HelperError::Cancelled { program })
        } else {
            Err(HelperError::TimedOut {
                program,
                after: self.timeout.unwrap_or_default(),
            })
        }
    }
}

/// Ends a helper that is still running: its group when it has one (signalled while the
/// leader is unreaped, so the group's ID cannot be reused yet), else the helper alone.
fn end(child: &KillOnDrop, watched: &ProcessHandle, group: bool, grace: Duration) {
    let signal = |signal: Signal| match Pid::from_raw(child.id() as i32) {
        Some(leader) if group => {
            let _ = kill_process_group(leader, signal);
        }
        _ => {
            let _ = watched.signal(signal);
        }
    };
    if !grace.is_zero() {
        signal(Signal::TERM);
        watched.wait_exit(grace);
    }
    signal(Signal::KILL);
}

/// Reads `pipe` to its end on a thread of its own (a pipe left unread would block the helper).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = send.send(bytes);
        });
    } else {
        let _ = send.send(Vec::new());
    }
    receive
}

#[cfg(test)]
mod tests;
