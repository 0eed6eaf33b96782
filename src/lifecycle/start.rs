//! `start`: launch QEMU and learn as early as physically possible whether the VM came up.
//!
//! Readiness is a race of events, never a fixed sleep: QEMU exiting (its pidfd), the pidfile
//! and the serial log changing (inotify on the VM folder), and Ctrl-C (a pipe), all in one
//! `poll`. Only the SSH stage retries, with a short backoff and a banner probe that costs the
//! guest next to nothing.

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::cancel::Cancel;
use super::context::Context;
use super::dir_watch::DirWatch;
use super::events::{Event, Observer, Stage};
use super::login_watch::LoginWatch;
use super::ports::{self, PortTaken};
use super::ssh_probe::{self, Banner};
use super::{cleanup, launch, log_tail};
use crate::model::Vm;
use crate::runtime::lock::{self, LockError};
use crate::runtime::paths::VmPaths;
use crate::runtime::private_dir;
use crate::runtime::process::{self, Identity, ProcessHandle};

/// Lines of each log shown when a start fails.
pub const FAILURE_TAIL_LINES: usize = 20;
/// SSH retry backoff: first and longest pause between attempts.
const SSH_RETRY_FIRST: Duration = Duration::from_millis(25);
const SSH_RETRY_MAX: Duration = Duration::from_millis(400);
/// Bound of ssh's own connect when opening the master.
const SSH_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound of one banner probe. Before the guest's network is up, QEMU's user network accepts
/// the connection and then says nothing; a probe that waited longer would only delay the
/// next, luckier one.
const BANNER_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Overall bound for the readiness wait, replacing `login_timeout` and `ssh_timeout`.
    pub timeout: Option<Duration>,
    /// Leave QEMU running when a start fails (for a post-mortem in the guest).
    pub keep_running: bool,
    /// Skip file sync for this start.
    pub no_sync: bool,
}

/// When a stage completed.
#[derive(Debug, Clone)]
pub struct StageMark {
    pub stage: Stage,
    pub at: SystemTime,
    pub took: Duration,
}

#[derive(Debug, Clone)]
pub struct StartReport {
    pub vm: String,
    pub pid: i32,
    /// True when the VM was running already and nothing was done.
    pub already_running: bool,
    pub launched_at: Option<SystemTime>,
    pub stages: Vec<StageMark>,
    pub total: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    PortTaken(#[from] PortTaken),
    #[error("QEMU binary {binary} not found{hint}")]
    MissingBinary { binary: String, hint: String },
    #[error("sync: {0}")]
    Sync(#[source] crate::sync::SyncError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// QEMU was launched but the VM did not come up.
    #[error("{}", .0.reason)]
    NotReady(Box<Failure>),
}

/// Everything a user needs to see about a failed start.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    pub serial_log: std::path::PathBuf,
    pub serial_tail: Vec<String>,
    pub qemu_log: std::path::PathBuf,
    pub qemu_tail: Vec<String>,
    /// `Some(pid)` when QEMU was left running (`--keep-running`).
    pub kept_running: Option<i32>,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

/// Starts one VM and waits until it is ready (or fails, in which case QEMU is stopped unless
/// `keep_running`).
pub fn start(
    ctx: &Context,
    vm: &Vm,
    options: &StartOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let started = Instant::now();
    let paths = ctx.paths(vm);
    private_dir::ensure(&paths.dir)
        .map_err(io_err(format!("cannot create {}", paths.dir.display())))?;
    let _lock = lock::acquire(&paths.lock, &format!("qcmdr start {}", vm.name))?;

    match process::identify(&paths.pidfile).map_err(io_err("cannot read the pidfile"))? {
        Identity::Running(running) => {
            return Ok(StartReport {
                vm: vm.name.clone(),
                pid: running.pid(),
                already_running: true,
                launched_at: None,
                stages: Vec::new(),
                total: started.elapsed(),
            })
        }
        Identity::Stale { reason, .. } => {
            observer.event(
                &vm.name,
                Event::Notice(format!("removed a stale pidfile: {reason}")),
            );
            cleanup::remove_runtime_files(&paths);
        }
        Identity::NotRunning => cleanup::remove_runtime_files(&paths),
    }

    let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    check_binary(&argv[0], ctx)?;
    ports::check_free(vm, &ctx.state)?;
    let sync = !options.no_sync && !vm.sync.is_empty();
    if sync {
        crate::sync::check_available(&ctx.project, vm).map_err(StartError::Sync)?;
    }
    ctx.prepare_ssh()
        .map_err(io_err("cannot write the private SSH config"))?;
    if paths.uses_short_socket_dir() {
        private_dir::ensure(&paths.socket_dir).map_err(io_err(format!(
            "cannot create {}",
            paths.socket_dir.display()
        )))?;
    }
    launch::rotate_logs(&paths);
    let watch = DirWatch::new(&paths.dir).map_err(io_err("cannot watch the VM folder"))?;

    observer.event(&vm.name, Event::Stage(Stage::Launch));
    let launched_at = SystemTime::now();
    let launched = Instant::now();
    let child = launch::spawn(&argv, &ctx.qemu_cwd(), &paths.qemu_log)
        .map_err(io_err(format!("cannot run {}", argv[0])))?;
    let mut run = Run {
        ctx,
        vm,
        paths: &paths,
        options,
        observer,
        cancel,
        process: ProcessHandle::from_child(child.id() as i32)
            .map_err(io_err("cannot watch the QEMU process"))?,
        child,
        watch,
        stages: Vec::new(),
        stage_started: launched,
    };
    match run.wait_ready(launched) {
        Ok(()) => Ok(StartReport {
            vm: vm.name.clone(),
            pid: run.process.pid(),
            already_running: false,
            launched_at: Some(launched_at),
            stages: run.stages,
            total: started.elapsed(),
        }),
        Err(reason) => Err(run.fail(reason)),
    }
}

/// Why the wait ended early; turned into a [`Failure`].
enum NotReady {
    Exited(String),
    Other(String),
}

/// One launched QEMU on its way to ready.
struct Run<'a> {
    ctx: &'a Context,
    vm: &'a Vm,
    paths: &'a VmPaths,
    options: &'a StartOptions,
    observer: &'a dyn Observer,
    cancel: &'a Cancel,
    child: Child,
    process: ProcessHandle,
    watch: DirWatch,
    stages: Vec<StageMark>,
    stage_started: Instant,
}

/// What woke a wait.
enum Wake {
    Exited,
    Changed,
    Cancelled,
    Deadline,
}

impl Run<'_> {
    fn wait_ready(&mut self, launched: Instant) -> Result<(), NotReady> {
        let overall = self.options.timeout.map(|t| launched + t);
        let login_deadline = overall.unwrap_or(launched + self.vm.login_timeout);

        // Launch: the pidfile proves QEMU got past option parsing.
        while !self.pidfile_written() {
            self.wake_or_fail(login_deadline, "QEMU did not write its pidfile")?;
        }
        self.stage_done(Stage::Launch);

        if self.vm.wait_for.login() {
            self.begin(Stage::Login);
            let mut login = LoginWatch::new(self.paths.serial_log.clone(), &self.vm.login_pattern);
            while !login.check() {
                let what = format!(
                    "no login prompt ({:?}) on the serial console within {:.0} s",
                    self.vm.login_pattern,
                    login_deadline
                        .saturating_duration_since(launched)
                        .as_secs_f64()
                );
                self.wake_or_fail(login_deadline, &what)?;
            }
            self.stage_done(Stage::Login);
        }

        if self.vm.wait_for.ssh() {
            self.begin(Stage::Ssh);
            let deadline = overall.unwrap_or(Instant::now() + self.vm.ssh_timeout);
            self.wait_ssh(deadline)?;
            self.stage_done(Stage::Ssh);
        }

        if !self.options.no_sync && !self.vm.sync.is_empty() {
            self.begin(Stage::Sync);
            crate::sync::after_start(&self.ctx.project, &self.ctx.state, self.vm)
                .map_err(|err| NotReady::Other(format!("sync failed: {err}")))?;
            self.stage_done(Stage::Sync);
        }
        Ok(())
    }

    fn wait_ssh(&mut self, deadline: Instant) -> Result<(), NotReady> {
        let target = self.ctx.ssh_target(self.vm);
        let use_banner = ssh_probe::applies_to(&self.ctx.project, self.vm);
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
                    Err(problem) if is_fatal_ssh(&problem) => {
                        return Err(NotReady::Other(format!("SSH login refused: {problem}")))
                    }
                    Err(problem) => last_problem = problem,
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
                        "SSH not ready within {:.0} s: {last_problem}",
                        self.vm.ssh_timeout.as_secs_f64()
                    )))
                }
                _ => {}
            }
            pause = (pause * 2).min(SSH_RETRY_MAX);
        }
    }

    /// Waits for the next event before `deadline`; errors end the start.
    fn wake_or_fail(&mut self, deadline: Instant, on_deadline: &str) -> Result<(), NotReady> {
        match self.wait(deadline, true) {
            Wake::Changed => Ok(()),
            Wake::Exited => Err(self.exited()),
            Wake::Cancelled => Err(NotReady::Other("interrupted".into())),
            Wake::Deadline => Err(NotReady::Other(on_deadline.to_string())),
        }
    }

    fn wait(&self, deadline: Instant, with_files: bool) -> Wake {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let spec = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: 3600,
                tv_nsec: 0,
            });
            let (pidfd, cancel, files) = (self.process.pidfd(), self.cancel.fd(), self.watch.fd());
            let mut fds = vec![
                PollFd::new(&pidfd, PollFlags::IN),
                PollFd::new(&cancel, PollFlags::IN),
            ];
            if with_files {
                fds.push(PollFd::new(&files, PollFlags::IN));
            }
            match poll(&mut fds, Some(&spec)) {
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) | Ok(0) => {
                    if Instant::now() >= deadline {
                        return Wake::Deadline;
                    }
                }
                Ok(_) => {
                    if !fds[1].revents().is_empty() {
                        return Wake::Cancelled;
                    }
                    if !fds[0].revents().is_empty() {
                        return Wake::Exited;
                    }
                    self.watch.drain();
                    return Wake::Changed;
                }
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

    fn begin(&mut self, stage: Stage) {
        self.stage_started = Instant::now();
        self.observer.event(&self.vm.name, Event::Stage(stage));
    }

    fn stage_done(&mut self, stage: Stage) {
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
    fn fail(mut self, why: NotReady) -> StartError {
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
        StartError::NotReady(Box::new(Failure {
            reason,
            serial_log: self.paths.serial_log.clone(),
            serial_tail: log_tail::last_lines(&self.paths.serial_log, FAILURE_TAIL_LINES),
            qemu_log: self.paths.qemu_log.clone(),
            qemu_tail: log_tail::last_lines(&self.paths.qemu_log, FAILURE_TAIL_LINES),
            kept_running: keep.then(|| self.process.pid()),
        }))
    }

    /// QEMU is our child here: SIGTERM lets it flush and unlink; SIGKILL if it hangs.
    fn kill(&mut self) {
        use rustix::process::Signal;
        let _ = self.process.signal(Signal::TERM);
        if !self.process.wait_exit(Duration::from_secs(3)) {
            let _ = self.process.signal(Signal::KILL);
            self.process.wait_exit(Duration::from_secs(5));
        }
        let _ = self.child.wait();
    }
}

/// Failures that retrying cannot fix.
fn is_fatal_ssh(problem: &str) -> bool {
    [
        "Permission denied",
        "Host key verification failed",
        "no such identity",
        "Bad configuration",
    ]
    .iter()
    .any(|needle| problem.contains(needle))
}

pub(crate) fn check_binary(binary: &str, ctx: &Context) -> Result<(), StartError> {
    let path = Path::new(binary);
    let usable = path.is_absolute()
        && fs::metadata(path)
            .map(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
            .unwrap_or(false);
    if usable {
        return Ok(());
    }
    let hint = match &ctx.project.qemu_bin_dir {
        Some(dir) => format!(
            " in qemu_bin_dir_fpath ({}); fix qemu_bin_dir_fpath in {} or remove it to search PATH",
            dir.display(),
            ctx.project.config_file.display()
        ),
        None => " on PATH; install QEMU (Debian: apt-get install qemu-system-x86) or set qemu_bin_dir_fpath".into(),
    };
    Err(StartError::MissingBinary {
        binary: binary.to_string(),
        hint,
    })
}
