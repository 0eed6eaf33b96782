//! The SSH side of the readiness race as a state machine that never blocks: banner probes on
//! a short backoff until sshd greets, then the master login as a child process. It hands the
//! readiness loop one descriptor to poll (the probe's socket or the login's pidfd) and the
//! time it next wants to act, so it runs in the same `poll` as the login watch while the
//! guest is still booting.

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;

use super::ssh_probe::{Banner, BannerProbe};
use crate::runtime::process::ProcessHandle;
use crate::ssh::master::SshTarget;

/// Retry backoff: first and longest pause between attempts.
const RETRY_FIRST: Duration = Duration::from_millis(25);
const RETRY_MAX: Duration = Duration::from_millis(400);
/// Bound of ssh's own connect when opening the master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound of one banner probe. Before the guest's network is up, QEMU's user network accepts
/// the connection and then says nothing; a probe that waited longer would only delay the
/// next, luckier one.
const BANNER_TIMEOUT: Duration = Duration::from_millis(1500);

/// Where the SSH side stands after it was moved on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Pending,
    /// The master is open: SSH is ready.
    Ready,
    /// A failure that retrying cannot fix (ssh's own words).
    Refused(String),
}

enum State {
    /// The next attempt is due at this time.
    Pause(Instant),
    Probing(BannerProbe),
    /// The master login runs; its `ssh` exits when it has logged in or failed.
    Login {
        child: Child,
        exit: ProcessHandle,
    },
    Ready,
    /// Ended by a failure that retrying cannot fix.
    Refused(String),
}

pub(super) struct SshStage {
    target: SshTarget,
    host: String,
    port: u16,
    /// False when ssh reaches the guest through a proxy: the banner would prove nothing.
    use_banner: bool,
    master_log: PathBuf,
    state: State,
    pause: Duration,
    /// Why the last attempt failed, for the message if SSH never comes.
    pub(super) last_problem: String,
}

impl SshStage {
    pub(super) fn new(
        target: SshTarget,
        host: &str,
        port: u16,
        use_banner: bool,
        master_log: PathBuf,
    ) -> Self {
        // A socket left by a killed master would make the new one fail or be skipped.
        target.clear_stale_master();
        SshStage {
            target,
            host: host.to_string(),
            port,
            use_banner,
            master_log,
            state: State::Pause(Instant::now()),
            pause: RETRY_FIRST,
            last_problem: "no attempt finished yet".into(),
        }
    }

    /// The descriptor whose readiness moves this stage on, if any.
    pub(super) fn poll_fd(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        match &self.state {
            State::Probing(probe) => probe.poll_fd(),
            State::Login { exit, .. } => Some((exit.pidfd(), PollFlags::IN)),
            State::Pause(_) | State::Ready | State::Refused(_) => None,
        }
    }

    /// When this stage must be moved on even if nothing happened.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        match &self.state {
            State::Pause(at) => Some(*at),
            State::Probing(probe) => probe.deadline(),
            State::Login { .. } | State::Ready | State::Refused(_) => None,
        }
    }

    /// Moves on as far as possible without blocking.
    pub(super) fn advance(&mut self) -> Step {
        loop {
            let next = match &mut self.state {
                State::Ready => return Step::Ready,
                State::Refused(problem) => return Step::Refused(problem.clone()),
                State::Pause(at) if Instant::now() < *at => return Step::Pending,
                State::Pause(_) if self.use_banner => {
                    State::Probing(BannerProbe::start(&self.host, self.port, BANNER_TIMEOUT))
                }
                State::Pause(_) => match self.login() {
                    Ok(state) => state,
                    Err(problem) => self.retry(problem, false),
                },
                State::Probing(probe) => match probe.advance() {
                    None => return Step::Pending,
                    Some(Banner::Ready) => match self.login() {
                        Ok(state) => state,
                        Err(problem) => self.retry(problem, false),
                    },
                    Some(banner) => {
                        let problem = self.banner_problem(banner);
                        // A probe that timed out has waited already: the next one goes at once.
                        self.retry(problem, banner == Banner::Timeout)
                    }
                },
                State::Login { child, exit } => {
                    if !exit.has_exited() {
                        return Step::Pending;
                    }
                    let outcome = match child.wait() {
                        Ok(status) => SshTarget::master_outcome(status, &self.master_log),
                        Err(err) => Err(format!("cannot wait for ssh: {err}")),
                    };
                    match outcome {
                        Ok(()) => State::Ready,
                        Err(problem) => self.retry(problem, false),
                    }
                }
            };
            self.state = next;
        }
    }

    /// Ends a master login still in flight (the start failed or was interrupted).
    pub(super) fn abandon(&mut self) {
        if let State::Login { child, .. } = &mut self.state {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.state = State::Pause(Instant::now());
    }

    fn login(&self) -> Result<State, String> {
        let child = self
            .target
            .spawn_master(&self.master_log, CONNECT_TIMEOUT)?;
        match ProcessHandle::from_child(child.id() as i32) {
            Ok(exit) => Ok(State::Login { child, exit }),
            Err(err) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("cannot watch ssh: {err}"))
            }
        }
    }

    /// The pause before the next attempt, or the end of the stage if `problem` is final.
    fn retry(&mut self, problem: String, at_once: bool) -> State {
        if is_fatal(&problem) {
            return State::Refused(problem);
        }
        self.last_problem = problem;
        let pause = if at_once { Duration::ZERO } else { self.pause };
        self.pause = (self.pause * 2).min(RETRY_MAX);
        State::Pause(Instant::now() + pause)
    }

    fn banner_problem(&self, banner: Banner) -> String {
        match banner {
            Banner::Refused => format!("nothing listens on {}:{}", self.host, self.port),
            Banner::Timeout => "sshd did not greet in time".into(),
            _ => "the connection was closed before sshd greeted (sshd not running in the guest?)"
                .into(),
        }
    }
}

impl Drop for SshStage {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// Failures that retrying cannot fix.
fn is_fatal(problem: &str) -> bool {
    [
        "Permission denied",
        "Host key verification failed",
        "no such identity",
        "Bad configuration",
    ]
    .iter()
    .any(|needle| problem.contains(needle))
}
