//! The readiness race of one launched QEMU: its exit (pidfd), the pidfile and the serial log
//! (inotify), Ctrl-C (a pipe) and the SSH side ([`SshStage`]: banner probes, then the master
//! login) in one `poll`. SSH is tried from the moment the pidfile is written, alongside the
//! login watch, so its key exchange is paid while the guest finishes booting instead of after
//! the prompt. Nothing sleeps a fixed time.

use std::fs;
use std::os::fd::BorrowedFd;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{PollFd, PollFlags};

pub mod login_watch;
mod network_canary;
mod not_ready;
mod ssh_stage;

use self::login_watch::LoginWatch;
pub(super) use self::not_ready::NotReady;
use self::not_ready::{Bound, SshAtPromptDeadline};
use self::ssh_stage::{SshStage, SshStageSetup, Step};
use super::boot::SavedState;
use super::types::{
    SshProbing, StageMark, StartError, StartFailure, StartOptions, FAILURE_TAIL_LINES,
};
use crate::lifecycle::cleanup;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::{Event, Observer, Stage};
use crate::lifecycle::origin;
use crate::logs::log_tail;
use crate::model::Vm;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::poll_until::poll_until;
use crate::runtime::process::ProcessHandle;
use crate::ssh::banner;
use crate::state_dir::free_space;
use crate::state_dir::paths::VmPaths;

/// One launched QEMU on its way to ready.
pub(super) struct Launched<'a> {
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
    /// Set when starting from a saved state: loaded instead of waiting for a boot.
    pub(super) restore: Option<&'a dyn SavedState>,
    /// What the SSH stage asked of the guest, once it ran.
    pub(super) ssh_probing: Option<SshProbing>,
}

/// What woke a wait.
enum Wake {
    Exited,
    Changed,
    Cancelled,
    Deadline,
}

impl Launched<'_> {
    pub(super) fn wait_ready(&mut self, launched: Instant) -> Result<(), NotReady> {
        let overall = self.options.timeout.map(|t| launched + t);
        let login_deadline = overall.unwrap_or(launched + self.vm.login_timeout);

        // Launch: the pidfile proves QEMU got past option parsing.
        while !self.pidfile_written() {
            self.wake_or_fail(login_deadline, || NotReady::NoPidfile)?;
        }
        self.stage_done(Stage::Launch);

        if let Some(state) = self.restore {
            // No login prompt comes after a restore: the guest is already past it.
            self.begin(Stage::Restore);
            if let Err(err) = state.load(self.paths, login_deadline) {
                return Err(match self.process.has_exited() {
                    true => self.exited(),
                    false => NotReady::Load(err),
                });
            }
            let _ = origin::record(self.paths, state.name(), self.process.pid());
            self.stage_done(Stage::Restore);
        }

        self.login_and_ssh(overall, login_deadline)?;

        if let Some(state) = self
            .restore
            .filter(|_| self.vm.wait_for.ssh() && !self.options.defer_clock)
        {
            self.begin(Stage::Clock);
            state
                .after_ssh(&self.ctx.ssh_target(self.vm))
                .map_err(NotReady::Clock)?;
            self.stage_done(Stage::Clock);
        }
        Ok(())
    }

    /// The login prompt and SSH, side by side; done when every awaited one has arrived, in
    /// whichever order. `ssh_timeout` counts from the prompt (or, without a login stage, from
    /// now): before the prompt, `login_timeout` bounds both. After a restore there is no
    /// prompt to wait for.
    fn login_and_ssh(
        &mut self,
        overall: Option<Instant>,
        login_deadline: Instant,
    ) -> Result<(), NotReady> {
        let began = Instant::now();
        let mut login = (self.restore.is_none() && self.vm.wait_for.login())
            .then(|| LoginWatch::new(self.paths.serial_log.clone(), &self.vm.login_pattern));
        let prompt_awaited = login.is_some();
        // With `login-then-ssh` the SSH side begins at the prompt, as a wait without a
        // prompt to come. Its canary then answers at once (the network is up by then, as a
        // rule), so the first connection to sshd is the login.
        let after_prompt = prompt_awaited && self.vm.wait_for.ssh_after_prompt();
        let ssh_setup = |prompt_awaited: bool| SshStageSetup {
            target: self.ctx.ssh_target(self.vm),
            host: self.vm.ssh.host_name.clone(),
            port: self.vm.ssh.port,
            // After a restore sshd is known to listen, and a banner probe would cost
            // the guest one more sshd process before the login.
            use_banner: self.restore.is_none() && banner::applies_to(&self.ctx.project, self.vm),
            canary_qmp_socket: Some(self.paths.qmp_socket.clone()),
            prompt_awaited,
            master_log: self.paths.dir.join("ssh-master.log"),
        };
        let mut ssh_later = (self.vm.wait_for.ssh() && after_prompt).then(|| ssh_setup(false));
        let mut ssh = (self.vm.wait_for.ssh() && !after_prompt)
            .then(|| SshStage::new(ssh_setup(prompt_awaited)));
        if login.is_some() {
            self.begin(Stage::Login);
        }
        if ssh.is_some() {
            self.begin(Stage::Ssh);
        }
        let mut ssh_began = began;
        let ssh_clock = |from: Instant| overall.unwrap_or(from + self.vm.ssh_timeout);
        let mut ssh_deadline = login.is_none().then(|| ssh_clock(began));
        let mut ssh_seen = false;
        loop {
            if login.as_mut().is_some_and(LoginWatch::check) {
                login = None;
                self.stage_done_since(Stage::Login, began);
                if let Some(stage) = ssh.as_mut() {
                    stage.prompt_seen();
                }
                if let Some(setup) = ssh_later.take() {
                    ssh = Some(SshStage::new(setup));
                    self.begin(Stage::Ssh);
                    ssh_began = Instant::now();
                }
                ssh_deadline = Some(ssh_clock(Instant::now()));
            }
            if let Some(stage) = ssh.as_mut() {
                match stage.advance() {
                    Step::Pending => {}
                    Step::Ready => {
                        self.ssh_probing = Some(stage.probing.clone());
                        ssh = None;
                        ssh_seen = true;
                        self.stage_done_since(Stage::Ssh, ssh_began);
                    }
                    Step::Refused(problem) => return Err(NotReady::SshRefused(problem)),
                }
            }
            if login.is_none() && ssh.is_none() {
                return Ok(());
            }

            let now = Instant::now();
            if login.is_some() && now >= login_deadline {
                return Err(NotReady::NoPrompt {
                    pattern: self.vm.login_pattern.clone(),
                    within: self.bound(overall, "login_timeout", self.vm.login_timeout),
                    // Judged at the deadline: a full file system is what keeps the log (and
                    // its inotify events) from coming, so the last wake says nothing about it.
                    disk_full: free_space::full_hint(&self.paths.serial_log),
                    ssh: match &ssh {
                        Some(stage) => SshAtPromptDeadline::Pending(stage.last_problem.clone()),
                        None if ssh_seen => SshAtPromptDeadline::Answered,
                        None => SshAtPromptDeadline::NotAwaited,
                    },
                });
            }
            if let (Some(stage), Some(deadline)) = (&ssh, ssh_deadline) {
                if now >= deadline {
                    return Err(NotReady::SshTimeout {
                        within: self.bound(overall, "ssh_timeout", self.vm.ssh_timeout),
                        last_problem: stage.last_problem.clone(),
                    });
                }
            }

            let wake_at = [
                login.as_ref().map(|_| login_deadline),
                ssh.as_ref().and(ssh_deadline),
                ssh.as_ref().and_then(SshStage::wake_at),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a pending stage has a deadline");
            let ssh_fds = ssh.as_ref().map(SshStage::poll_fds).unwrap_or_default();
            match self.wait(wake_at, login.is_some(), &ssh_fds) {
                Wake::Exited => return Err(self.exited()),
                Wake::Cancelled => return Err(NotReady::Interrupted),
                Wake::Changed | Wake::Deadline => {}
            }
        }
    }

    /// The bound in force, named as the user set it: `--timeout`, or the config's `key`.
    fn bound(&self, overall: Option<Instant>, key: &'static str, configured: Duration) -> Bound {
        match (overall, self.options.timeout) {
            (Some(_), Some(timeout)) => Bound {
                after: timeout,
                key: "--timeout",
            },
            _ => Bound {
                after: configured,
                key,
            },
        }
    }

    /// Waits for the next event before `deadline`; errors end the start.
    fn wake_or_fail(
        &mut self,
        deadline: Instant,
        on_deadline: impl FnOnce() -> NotReady,
    ) -> Result<(), NotReady> {
        match self.wait(deadline, true, &[]) {
            Wake::Changed => Ok(()),
            Wake::Exited => Err(self.exited()),
            Wake::Cancelled => Err(NotReady::Interrupted),
            Wake::Deadline => Err(on_deadline()),
        }
    }

    /// Waits for QEMU's exit, Ctrl-C, a change in the VM folder (if `with_files`) or one of `extra`.
    fn wait(
        &self,
        deadline: Instant,
        with_files: bool,
        extra: &[(BorrowedFd<'_>, PollFlags)],
    ) -> Wake {
        let (pidfd, cancel, files) = (self.process.pidfd(), self.cancel.fd(), self.watch.fd());
        let mut fds = vec![
            PollFd::new(&pidfd, PollFlags::IN),
            PollFd::new(&cancel, PollFlags::IN),
        ];
        if with_files {
            fds.push(PollFd::new(&files, PollFlags::IN));
        }
        fds.extend(
            extra
                .iter()
                .map(|(fd, flags)| PollFd::from_borrowed_fd(*fd, *flags)),
        );
        match poll_until(&mut fds, Some(deadline)) {
            Ok(false) | Err(_) => Wake::Deadline,
            Ok(true) if !fds[1].revents().is_empty() => Wake::Cancelled,
            Ok(true) if !fds[0].revents().is_empty() => Wake::Exited,
            Ok(true) => {
                if with_files {
                    self.watch.drain();
                }
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
        NotReady::Exited {
            status: code,
            said: log_tail::last_lines(&self.paths.qemu_log, 3).join(" / "),
        }
    }

    pub(super) fn begin(&mut self, stage: Stage) {
        self.stage_started = Instant::now();
        self.observer.event(&self.vm.name, Event::Stage(stage));
    }

    pub(super) fn stage_done(&mut self, stage: Stage) {
        self.stage_done_since(stage, self.stage_started);
    }

    /// Marks `stage` done; it began at `started` (stages that overlap each have their own).
    fn stage_done_since(&mut self, stage: Stage, started: Instant) {
        let took = started.elapsed();
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
        let exited = matches!(why, NotReady::Exited { .. });
        let interrupted = matches!(why, NotReady::Interrupted);
        let reason = crate::error_chain::chain(&why);
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
            interrupted,
            qemu_exited: exited,
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
