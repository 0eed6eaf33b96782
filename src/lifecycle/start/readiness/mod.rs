//! The readiness race of one launched QEMU: its exit (pidfd), the pidfile and the serial log
//! (inotify) and Ctrl-C (a pipe) in one `poll`, then SSH with a cheap banner probe and a short
//! backoff. Nothing sleeps a fixed time.

use std::fs;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{PollFd, PollFlags};

pub mod login_watch;
pub mod ssh_probe;

use self::login_watch::LoginWatch;
use self::ssh_probe::Banner;
use super::types::{StageMark, StartError, StartFailure, StartOptions, FAILURE_TAIL_LINES};
use crate::error_chain::chain;
use crate::lifecycle::cleanup;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::{Event, Observer, Stage};
use crate::lifecycle::snapshot::clock;
use crate::lifecycle::snapshot::restore::Plan;
use crate::logs::log_tail;
use crate::model::Vm;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::free_space;
use crate::runtime::paths::VmPaths;
use crate::runtime::poll_until::poll_until;
use crate::runtime::process::ProcessHandle;
use crate::ssh::master::MasterError;

/// SSH retry backoff: first and longest pause between attempts.
const SSH_RETRY_FIRST: Duration = Duration::from_millis(25);
const SSH_RETRY_MAX: Duration = Duration::from_millis(400);
/// Bound of ssh's own connect when opening the master.
const SSH_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound of one banner probe. Before the guest's network is up, QEMU's user network accepts
/// the connection and then says nothing; a probe that waited longer would only delay the
/// next, luckier one.
const BANNER_TIMEOUT: Duration = Duration::from_millis(1500);

/// Why the wait ended early; turned into a [`StartFailure`].
pub(super) enum NotReady {
    Exited(String),
    Other(String),
}

/// One launched QEMU on its way to ready.
pub(super) struct Run<'a> {
    pub(super) ctx: &'a Context,
    pub(super) vm: &'a Vm,
    pub(super) paths: &'a VmPaths,
    pub(super) options: &'a StartOptions,
    pub(super) observer: &'a dyn Observer,
    pub(super) cancel: &'a Cancel,
    pub(super) child: Child,
    pub(super) process: ProcessHandle,
    pub(super) watch: DirWatch,
    pub(super) stages: Vec<StageMark>,
    pub(super) stage_started: Instant,
    /// Set when starting from a snapshot: loaded instead of waiting for a boot.
    pub(super) restore: Option<&'a Plan>,
}

/// What woke a wait.
enum Wake {
    Exited,
    Changed,
    Cancelled,
    Deadline,
}

impl Run<'_> {
    pub(super) fn wait_ready(&mut self, launched: Instant) -> Result<(), NotReady> {
        let overall = self.options.timeout.map(|t| launched + t);
        let login_deadline = overall.unwrap_or(launched + self.vm.login_timeout);

        // Launch: the pidfile proves QEMU got past option parsing.
        while !self.pidfile_written() {
            self.wake_or_fail(login_deadline, || "QEMU did not write its pidfile".into())?;
        }
        self.stage_done(Stage::Launch);

        if let Some(plan) = self.restore {
            // No login prompt comes after a restore: the guest is already past it.
            self.begin(Stage::Restore);
            if let Err(err) = plan.load(self.paths, login_deadline) {
                return Err(match self.process.has_exited() {
                    true => self.exited(),
                    false => NotReady::Other(crate::error_chain::chain(&err)),
                });
            }
            let _ = plan.record_origin(self.paths, self.process.pid());
            self.stage_done(Stage::Restore);
        } else if self.vm.wait_for.login() {
            self.begin(Stage::Login);
            let mut login = LoginWatch::new(self.paths.serial_log.clone(), &self.vm.login_pattern);
            let bound = self.bound_text(overall, "login_timeout", self.vm.login_timeout);
            let serial_log = self.paths.serial_log.clone();
            let pattern = self.vm.login_pattern.clone();
            while !login.check() {
                // Judged at the deadline: a full file system is what keeps the log (and its
                // inotify events) from coming, so the last wake says nothing about it.
                self.wake_or_fail(login_deadline, || {
                    let what = format!(
                        "no login prompt ({pattern:?}) on the serial console within {bound}"
                    );
                    match free_space::full_hint(&serial_log) {
                        Some(full) => format!("{what}: {full}"),
                        None => what,
                    }
                })?;
            }
            self.stage_done(Stage::Login);
        }

        if self.vm.wait_for.ssh() {
            self.begin(Stage::Ssh);
            let deadline = overall.unwrap_or(Instant::now() + self.vm.ssh_timeout);
            self.wait_ssh(deadline, overall)?;
            self.stage_done(Stage::Ssh);
            if self.restore.is_some() {
                self.begin(Stage::Clock);
                clock::set_guest_clock(&self.ctx.ssh_target(self.vm))
                    .map_err(|why| NotReady::Other(format!("cannot set the guest clock: {why}")))?;
                self.stage_done(Stage::Clock);
            }
        }

        Ok(())
    }

    /// The bound in force, named as the user set it: `15 s (--timeout)` or `60 s (ssh_timeout)`.
    fn bound_text(&self, overall: Option<Instant>, key: &str, configured: Duration) -> String {
        match (overall, self.options.timeout) {
            (Some(_), Some(timeout)) => format!("{} s (--timeout)", seconds(timeout)),
            _ => format!("{} s ({key})", seconds(configured)),
        }
    }

    fn wait_ssh(&mut self, deadline: Instant, overall: Option<Instant>) -> Result<(), NotReady> {
        let target = self.ctx.ssh_target(self.vm);
        // After a restore sshd is known to listen, and a banner probe would cost the guest
        // one more sshd process before the login.
        let use_banner =
            self.restore.is_none() && ssh_probe::applies_to(&self.ctx.project, self.vm);
        let master_log = self.paths.dir.join("ssh-master.log");
        let mut pause = SSH_RETRY_FIRST;
        let mut last_problem;
        loop {
            let banner = if use_banner {
                ssh_probe::probe(&self.vm.ssh.host_name, self.vm.ssh.port, BANNER_TIMEOUT)
            } else {
                Banner::Ready
            };
            if banner == Banner::Ready {
                match target.open_master(&master_log, SSH_PROBE_TIMEOUT) {
                    Ok(()) => return Ok(()),
                    Err(MasterError::Refused { said }) => {
                        return Err(NotReady::Other(format!("SSH login refused: {said}")))
                    }
                    Err(problem) => last_problem = chain(&problem),
                }
            } else {
                last_problem = match banner {
                    Banner::Refused => format!("nothing listens on {}:{}", self.vm.ssh.host_name, self.vm.ssh.port),
                    Banner::Timeout => "sshd did not greet in time".into(),
                    _ => "the connection was closed before sshd greeted (sshd not running in the guest?)".into(),
                };
            }
            // A probe that timed out has already waited; the next one goes at once.
            let pause_now = if banner == Banner::Timeout {
                Duration::ZERO
            } else {
                pause
            };
            let retry_at = (Instant::now() + pause_now).min(deadline);
            match self.wait(retry_at, false) {
                Wake::Exited => return Err(self.exited()),
                Wake::Cancelled => return Err(NotReady::Other("interrupted".into())),
                _ if Instant::now() >= deadline => {
                    return Err(NotReady::Other(format!(
                        "SSH not ready within {}: {last_problem}",
                        self.bound_text(overall, "ssh_timeout", self.vm.ssh_timeout)
                    )))
                }
                _ => {}
            }
            pause = (pause * 2).min(SSH_RETRY_MAX);
        }
    }

    /// Waits for the next event before `deadline`; errors end the start.
    fn wake_or_fail(
        &mut self,
        deadline: Instant,
        on_deadline: impl FnOnce() -> String,
    ) -> Result<(), NotReady> {
        match self.wait(deadline, true) {
            Wake::Changed => Ok(()),
            Wake::Exited => Err(self.exited()),
            Wake::Cancelled => Err(NotReady::Other("interrupted".into())),
            Wake::Deadline => Err(NotReady::Other(on_deadline())),
        }
    }

    fn wait(&self, deadline: Instant, with_files: bool) -> Wake {
        let (pidfd, cancel, files) = (self.process.pidfd(), self.cancel.fd(), self.watch.fd());
        let mut fds = vec![
            PollFd::new(&pidfd, PollFlags::IN),
            PollFd::new(&cancel, PollFlags::IN),
        ];
        if with_files {
            fds.push(PollFd::new(&files, PollFlags::IN));
        }
        match poll_until(&mut fds, Some(deadline)) {
            Ok(false) | Err(_) => Wake::Deadline,
            Ok(true) if !fds[1].revents().is_empty() => Wake::Cancelled,
            Ok(true) if !fds[0].revents().is_empty() => Wake::Exited,
            Ok(true) => {
                self.watch.drain();
                Wake::Changed
            }
        }
    }

    fn pidfile_written(&self) -> bool {
        fs::read_to_string(&self.paths.pidfile)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            == Some(self.process.pid())
    }

    fn exited(&mut self) -> NotReady {
        let status = self.child.wait().ok();
        let code = match status {
            Some(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(code), _) => format!("code {code}"),
                (None, Some(signal)) => format!("signal {signal}"),
                _ => s.to_string(),
            },
            None => "unknown status".into(),
        };
        let said = log_tail::last_lines(&self.paths.qemu_log, 3).join(" / ");
        if said.is_empty() {
            NotReady::Exited(format!("QEMU exited with {code}"))
        } else {
            NotReady::Exited(format!("QEMU exited with {code}: {said}"))
        }
    }

    pub(super) fn begin(&mut self, stage: Stage) {
        self.stage_started = Instant::now();
        self.observer.event(&self.vm.name, Event::Stage(stage));
    }

    pub(super) fn stage_done(&mut self, stage: Stage) {
        let took = self.stage_started.elapsed();
        self.stages.push(StageMark {
            stage,
            at: SystemTime::now(),
            took,
        });
        self.observer
            .event(&self.vm.name, Event::StageDone { stage, took });
    }

    /// Stops what was launched (unless asked to keep it) and gathers the logs.
    pub(super) fn fail(mut self, why: NotReady) -> StartError {
        let (reason, exited) = match why {
            NotReady::Exited(reason) => (reason, true),
            NotReady::Other(reason) => (reason, false),
        };
        let keep = self.options.keep_running && !exited && !self.cancel.is_cancelled();
        if !keep && !exited {
            self.observer
                .event(&self.vm.name, Event::Notice("stopping the VM".into()));
            self.kill();
        }
        if !keep {
            self.ctx.ssh_target(self.vm).close_master();
            cleanup::remove_runtime_files(self.paths);
        }
        StartError::NotReady(Box::new(StartFailure {
            reason,
            serial_log: self.paths.serial_log.clone(),
            serial_tail: log_tail::last_lines(&self.paths.serial_log, FAILURE_TAIL_LINES),
            qemu_log: self.paths.qemu_log.clone(),
            qemu_tail: log_tail::last_lines(&self.paths.qemu_log, FAILURE_TAIL_LINES),
            kept_running: keep.then(|| self.process.pid()),
        }))
    }

    /// QEMU is our child here: once it is gone, reap it.
    fn kill(&mut self) {
        self.process.terminate(|| {});
        let _ = self.child.wait();
    }
}

/// `15`, `2.5`: seconds as the user wrote them.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_as_written() {
        assert_eq!(seconds(Duration::from_secs(15)), "15");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5");
    }
}
