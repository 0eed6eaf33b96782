//! The SSH side of the readiness race as a state machine that never blocks: until the guest's
//! network is up, probes of a [`NetworkCanary`] only (or none before the login prompt when
//! there is no canary, then one banner probe of sshd at a time); once the guest has answered
//! anything, the master login as a child process, retried on a short backoff until sshd lets
//! it in (the login is the probe: no sshd process is spent on a greeting). It hands the
//! readiness loop the descriptors to poll (the probes' sockets or the login's pidfd) and the
//! time it next wants to act, so it runs in the same `poll` as the login watch while the
//! guest is still booting. A login still running when the stage is dropped (the start failed
//! or was interrupted) is killed.

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::PollFlags;

use super::network_canary::{CanaryError, NetworkCanary};
use crate::error_chain::chain;
use crate::lifecycle::start::types::SshProbing;
use crate::runtime::clock::{Clock, SystemClock};
use crate::runtime::kill_on_drop::KillOnDrop;
use crate::runtime::process::ProcessHandle;
use crate::ssh::banner::{Banner, BannerProbe};
use crate::ssh::master::{MasterError, SshTarget};

/// Backoff between attempts: from the first pause up to the longest. Master logins (each an
/// `ssh` process and a key exchange in the guest) and banner probes while the guest has not
/// answered any probe yet follow it all the way.
const RETRY_FIRST: Duration = Duration::from_millis(25);
const RETRY_MAX: Duration = Duration::from_millis(400);
/// Longest pause between master logins once the guest's kernel has answered (a reset: the
/// network is up, sshd not yet). A login turned away then costs the guest a reset, no more,
/// and this puts the login within this much of sshd's start. Before that answer a
/// connection is not cheap: QEMU's user network holds one the guest cannot take yet and
/// replays it once the guest's network is up, so it reaches sshd later and costs it a fork;
/// hence the slower cadence until then.
const PROBE_MAX: Duration = Duration::from_millis(100);
/// Bound of ssh's own connect when opening the master before the guest has answered.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound of ssh's connect and of sshd's greeting (ssh's `ConnectTimeout` covers both) once
/// the guest has answered: a connection is then reset at once while sshd does not listen,
/// and a silent one is an sshd on a loaded emulated guest starting its process for us, so
/// giving up on it would only cost sshd another.
const GREETING_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds of a probe of sshd before the guest has answered any, which only happens without a
/// canary (or once the prompt's grace ran out): the only banner probes left. QEMU's user network accepts such a connection
/// on the host and keeps knocking on the guest's port 22 for up to 75 s even after the prober
/// gave up and closed it (it does not look at the host socket until the guest answers). Every
/// probe abandoned then therefore reaches sshd later, all at once when the network comes up:
/// a Debian guest's sshd, its `MaxStartups` (10:30:100) filled with such connections, drops
/// every new one without a greeting until they are gone. So only one probe is out at a time
/// until the guest answers, held a sixth of the time waited so far (within these bounds).
const QUIET_TIMEOUT_FIRST: Duration = Duration::from_millis(1500);
const QUIET_TIMEOUT_MAX: Duration = Duration::from_secs(8);
const QUIET_TIMEOUT_SHARE: u32 = 6;
/// Bounds of one canary probe: a fresh one is refused by the guest's kernel at once when its
/// network is up, so the bound is how late that is seen. Each abandoned one stays in QEMU's
/// user network for up to 75 s (harmless to the guest, a socket in QEMU), so the bound grows
/// with the time waited: a few dozen probes in a slow boot, not hundreds.
const CANARY_HOLD_FIRST: Duration = Duration::from_millis(100);
const CANARY_HOLD_MAX: Duration = Duration::from_secs(1);
const CANARY_HOLD_SHARE: u32 = 20;
/// How long QEMU's QMP socket may take to appear after the pidfile, and the pause between
/// tries (QEMU writes its pidfile a moment before it creates its sockets).
const CANARY_SETUP_WINDOW: Duration = Duration::from_secs(2);
const CANARY_SETUP_RETRY: Duration = Duration::from_millis(10);
/// How long after the login prompt a canary that never answered is still believed: a guest
/// may serve port 1 silently, or bring its network up only after its getty.
const CANARY_GRACE_AFTER_PROMPT: Duration = Duration::from_secs(5);

/// Where probes may go before the guest has answered one.
enum Gate {
    /// The canary is being set up; tried again at `retry_at` until `give_up_at`.
    Opening {
        qmp_socket: PathBuf,
        retry_at: Instant,
        give_up_at: Instant,
    },
    /// Probes go to the canary, one at a time, until it answers (or `until`, set by the
    /// login prompt).
    Canary {
        canary: NetworkCanary,
        probe: Option<BannerProbe>,
        until: Option<Instant>,
    },
    /// No canary: no probe at all until the login prompt.
    Shut,
    /// Probes go to sshd.
    Open,
}

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
    /// Banner probes, a new one at `next_at` and then on the backoff, each kept until it
    /// answers or times out: a connection made before the guest's network was up can hang
    /// while a fresh one would already be greeted. Without the banner probe (`use_banner`
    /// false) the master login itself is tried at `next_at`.
    Probing {
        probes: Vec<BannerProbe>,
        next_at: Instant,
    },
    /// The master login runs; its `ssh` exits when it has logged in or failed.
    Login {
        child: KillOnDrop,
        exit: ProcessHandle,
    },
    Ready,
    /// Ended by a failure that retrying cannot fix.
    Refused(String),
}

/// What the SSH stage is to reach, and how.
pub(super) struct SshStageSetup {
    pub(super) target: SshTarget,
    pub(super) host: String,
    pub(super) port: u16,
    /// False when ssh reaches the guest through a proxy (the banner would prove nothing),
    /// or after a restore (sshd is known to listen, and a probe would cost it a process).
    pub(super) use_banner: bool,
    /// Where to set up the network canary; `None`: probe sshd from the start.
    pub(super) canary_qmp_socket: Option<PathBuf>,
    /// Whether the login prompt will be reported ([`SshStage::prompt_seen`]).
    pub(super) prompt_awaited: bool,
    pub(super) master_log: PathBuf,
}

pub(super) struct SshStage<C: Clock = SystemClock> {
    clock: C,
    target: SshTarget,
    host: String,
    port: u16,
    /// False when ssh reaches the guest through a proxy: the banner would prove nothing.
    use_banner: bool,
    master_log: PathBuf,
    state: State,
    pause: Duration,
    /// Whether the guest has answered a probe (a reset or a greeting): its network is up.
    answered: bool,
    /// When probing began (the hold of a probe before any answer grows with it).
    began: Instant,
    gate: Gate,
    /// Whether a login prompt is still to come: until then the gate stays shut when the
    /// canary cannot be used.
    prompt_pending: bool,
    /// Why the last attempt failed, for the message if SSH never comes.
    pub(super) last_problem: String,
    pub(super) probing: SshProbing,
}

impl SshStage {
    pub(super) fn new(setup: SshStageSetup) -> Self {
        SshStage::with_clock(setup, SystemClock)
    }
}

impl<C: Clock> SshStage<C> {
    /// The stage reading the time from `clock` (a test's, in unit tests).
    fn with_clock(setup: SshStageSetup, clock: C) -> Self {
        let SshStageSetup {
            target,
            host,
            port,
            use_banner,
            canary_qmp_socket,
            prompt_awaited,
            master_log,
        } = setup;
        // A socket left by a killed master would make the new one fail or be skipped.
        target.clear_stale_master();
        let now = clock.now();
        let gate = match canary_qmp_socket {
            Some(qmp_socket) if use_banner => Gate::Opening {
                qmp_socket,
                retry_at: now,
                give_up_at: now + CANARY_SETUP_WINDOW,
            },
            _ => Gate::Open,
        };
        SshStage {
            clock,
            target,
            host,
            port,
            use_banner,
            master_log,
            state: State::Probing {
                probes: Vec::new(),
                next_at: now,
            },
            pause: RETRY_FIRST,
            answered: false,
            began: now,
            gate,
            prompt_pending: prompt_awaited,
            last_problem: "no attempt finished yet".into(),
            probing: SshProbing::default(),
        }
    }

    /// The descriptors whose readiness moves this stage on.
    pub(super) fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        if let Gate::Canary { probe, .. } = &self.gate {
            return probe.iter().filter_map(BannerProbe::poll_fd).collect();
        }
        match &self.state {
            State::Probing { probes, .. } => {
                probes.iter().filter_map(BannerProbe::poll_fd).collect()
            }
            State::Login { exit, .. } => vec![(exit.pidfd(), PollFlags::IN)],
            State::Ready | State::Refused(_) => Vec::new(),
        }
    }

    /// When this stage must be moved on even if nothing happened.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        match &self.gate {
            Gate::Opening { retry_at, .. } => return Some(*retry_at),
            Gate::Canary { probe, until, .. } => {
                return probe
                    .as_ref()
                    .and_then(BannerProbe::deadline)
                    .into_iter()
                    .chain(*until)
                    .min()
            }
            Gate::Shut => return None,
            Gate::Open => {}
        }
        match &self.state {
            State::Probing { probes, next_at } => {
                // Before the guest answered, the next probe waits for the one out.
                let holding = self.use_banner && !self.answered && !probes.is_empty();
                probes
                    .iter()
                    .filter_map(BannerProbe::deadline)
                    .chain((!holding).then_some(*next_at))
                    .min()
            }
            State::Login { .. } | State::Ready | State::Refused(_) => None,
        }
    }

    /// Moves on as far as possible without blocking.
    pub(super) fn advance(&mut self) -> Step {
        loop {
            if matches!(self.state, State::Probing { .. }) && !self.gate_open() {
                return Step::Pending;
            }
            let next = match &mut self.state {
                State::Ready => return Step::Ready,
                State::Refused(problem) => return Step::Refused(problem.clone()),
                State::Probing { probes, next_at } => {
                    let now = self.clock.now();
                    // Before the guest answered, a probe is only closed by its own timeout:
                    // each abandoned one is replayed to sshd later (see QUIET_TIMEOUT_FIRST),
                    // so one is out at a time.
                    let may_start = probes.is_empty();
                    // Once the guest has answered (its network is up), the login itself is the
                    // probe: while sshd does not listen it is reset as cheaply as a probe, and
                    // once sshd listens a banner probe would cost the booting guest a whole
                    // sshd process (fork, re-exec, host keys) that nobody uses.
                    let login_now = !self.use_banner || self.answered;
                    if now >= *next_at && (may_start || login_now) {
                        if login_now {
                            self.state = self.login();
                            continue;
                        }
                        let timeout = (now.duration_since(self.began) / QUIET_TIMEOUT_SHARE)
                            .clamp(QUIET_TIMEOUT_FIRST, QUIET_TIMEOUT_MAX);
                        probes.push(BannerProbe::start(&self.host, self.port, timeout));
                        self.probing.sshd_probes += 1;
                        *next_at = now + self.pause;
                        self.pause = (self.pause * 2).min(RETRY_MAX);
                    }
                    let mut greeted = false;
                    let mut problem = None;
                    probes.retain_mut(|probe| match probe.advance_at(now) {
                        None => true,
                        Some(Banner::Ready) => {
                            greeted = true;
                            false
                        }
                        Some(banner) => {
                            problem = Some(banner);
                            false
                        }
                    });
                    if let Some(banner) = problem {
                        if banner == Banner::Closed && !self.answered {
                            self.answered = true;
                            *next_at = (*next_at).min(now + PROBE_MAX);
                        }
                        self.last_problem = banner_problem(banner, &self.host, self.port);
                    }
                    if greeted && !self.answered {
                        // sshd greeted before anything was reset: its network is up too.
                        self.answered = true;
                    }
                    if !greeted {
                        return Step::Pending;
                    }
                    self.login()
                }
                State::Login { child, exit } => {
                    if !exit.has_exited() {
                        return Step::Pending;
                    }
                    match child.wait() {
                        Ok(status) => match SshTarget::master_outcome(status, &self.master_log) {
                            Ok(()) => State::Ready,
                            Err(err) => self.retry(err),
                        },
                        Err(err) => self.retry_after(format!("cannot wait for ssh: {err}")),
                    }
                }
            };
            self.state = next;
        }
    }

    /// The login prompt was seen: without a canary, sshd may be probed now; a canary that has
    /// not answered yet is believed a little longer.
    pub(super) fn prompt_seen(&mut self) {
        self.prompt_pending = false;
        match &mut self.gate {
            Gate::Shut => self.gate = Gate::Open,
            Gate::Canary { until, .. } => {
                until.get_or_insert(self.clock.now() + CANARY_GRACE_AFTER_PROMPT);
            }
            Gate::Opening { .. } | Gate::Open => {}
        }
    }

    /// Moves the gate on as far as possible without blocking; true once sshd may be probed.
    fn gate_open(&mut self) -> bool {
        loop {
            let now = self.clock.now();
            match &mut self.gate {
                Gate::Open => return true,
                Gate::Shut => return false,
                Gate::Opening { retry_at, .. } if now < *retry_at => return false,
                Gate::Opening {
                    qmp_socket,
                    retry_at,
                    give_up_at,
                } => match NetworkCanary::open(qmp_socket, self.port) {
                    Ok(canary) => {
                        // `info usernet` and `hostfwd_add`; `hostfwd_remove` when it goes.
                        self.probing.qmp_commands += 2;
                        self.gate = Gate::Canary {
                            canary,
                            probe: None,
                            until: None,
                        }
                    }
                    Err(CanaryError::NotYet(_)) if now < *give_up_at => {
                        *retry_at = now + CANARY_SETUP_RETRY;
                        return false;
                    }
                    Err(err) => {
                        self.last_problem = format!(
                            "cannot tell when the guest's network is up ({}): probing sshd {}",
                            chain(&err),
                            if self.prompt_pending {
                                "from the login prompt on"
                            } else {
                                "at once"
                            }
                        );
                        self.gate = self.fallback_gate();
                    }
                },
                Gate::Canary { until, .. } if until.is_some_and(|until| now >= until) => {
                    self.leave_canary(Gate::Open)
                }
                Gate::Canary { canary, probe, .. } => {
                    let hold = (now.duration_since(self.began) / CANARY_HOLD_SHARE)
                        .clamp(CANARY_HOLD_FIRST, CANARY_HOLD_MAX);
                    let port = canary.host_port;
                    let counts = &mut self.probing;
                    let outcome = probe
                        .get_or_insert_with(|| {
                            counts.canary_probes += 1;
                            BannerProbe::start("127.0.0.1", port, hold)
                        })
                        .advance_at(now);
                    match outcome {
                        None => {
                            self.last_problem = "the guest's network is not up yet".into();
                            return false;
                        }
                        // Held by QEMU: the guest has no network yet; the next probe at once.
                        Some(Banner::Timeout) => *probe = None,
                        // The canary's listener is gone (QEMU is on its way out, or someone
                        // removed it): sshd is all there is to probe.
                        Some(Banner::Refused) => self.leave_canary(self.fallback_gate()),
                        Some(Banner::Closed | Banner::Ready) => {
                            self.answered = true;
                            self.leave_canary(Gate::Open);
                        }
                    }
                }
            }
        }
    }

    /// Drops the canary (its forward removed over QMP) for `next`.
    fn leave_canary(&mut self, next: Gate) {
        self.probing.qmp_commands += 1;
        self.gate = next;
    }

    fn fallback_gate(&self) -> Gate {
        if self.prompt_pending {
            Gate::Shut
        } else {
            Gate::Open
        }
    }

    /// Starts the master login (dropping any probes still in flight).
    fn login(&mut self) -> State {
        self.probing.logins += 1;
        self.probing.login_began_at = Some(SystemTime::now());
        // ssh's ConnectTimeout also bounds sshd's greeting. Once the guest has answered, a
        // silent connection is sshd starting its process for us on a busy guest: giving up
        // on it would only cost it another one.
        let timeout = match self.answered {
            true => GREETING_TIMEOUT,
            false => CONNECT_TIMEOUT,
        };
        let child = match self.target.spawn_master(&self.master_log, timeout) {
            Ok(child) => KillOnDrop(child),
            Err(err) => return self.retry(err),
        };
        match ProcessHandle::from_child(child.id() as i32) {
            Ok(exit) => State::Login { child, exit },
            Err(err) => self.retry_after(format!("cannot watch ssh: {err}")),
        }
    }

    /// The end of the stage if sshd turned the login away, else back to the backoff.
    fn retry(&mut self, err: MasterError) -> State {
        match err {
            MasterError::Refused { said } => State::Refused(said),
            other => self.retry_after(chain(&other)),
        }
    }

    /// Back to the backoff after a failure that can pass.
    fn retry_after(&mut self, problem: String) -> State {
        self.last_problem = problem;
        // Once the guest answered, a login turned away (sshd not listening yet) cost it a
        // reset, no more: retried on the probes' shorter cadence.
        let pause = match self.answered {
            true => self.pause.min(PROBE_MAX),
            false => self.pause,
        };
        let next_at = self.clock.now() + pause;
        self.pause = (self.pause * 2).min(RETRY_MAX);
        State::Probing {
            probes: Vec::new(),
            next_at,
        }
    }
}

fn banner_problem(banner: Banner, host: &str, port: u16) -> String {
    match banner {
        Banner::Refused => format!("nothing listens on {host}:{port}"),
        Banner::Timeout => "sshd did not greet in time".into(),
        _ => {
            "the connection was closed before sshd greeted (sshd not running in the guest?)".into()
        }
    }
}

#[cfg(test)]
mod tests {
    //! The timing rules run on a [`ManualClock`]: the test moves it to the moment the stage
    //! next wants to act, and plays the server side of its sockets in the same thread, so
    //! seconds of probing take no real time and every count is exact. Only the test with a
    //! real `ssh` runs on real time, and it waits for events, not for a time.
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::runtime::clock::ManualClock;

    fn setup(dir: &std::path::Path, host_alias: &str, port: u16) -> SshStageSetup {
        SshStageSetup {
            target: SshTarget::new(dir.join("ssh_config"), host_alias),
            host: "127.0.0.1".into(),
            port,
            use_banner: true,
            canary_qmp_socket: None,
            prompt_awaited: false,
            master_log: dir.join("ssh-master.log"),
        }
    }

    /// The host side of a forwarded port: a listener the test accepts on without blocking,
    /// keeping (`hold`) or closing each connection.
    struct Server {
        listener: TcpListener,
        accepted: usize,
        held: Vec<TcpStream>,
    }

    impl Server {
        fn new() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            Server {
                listener,
                accepted: 0,
                held: Vec::new(),
            }
        }

        fn port(&self) -> u16 {
            self.listener.local_addr().unwrap().port()
        }

        /// Takes every waiting connection; `hold(n)` says whether the n-th (from 0) is kept
        /// open silently or closed at once. True if any came.
        fn serve(&mut self, hold: impl Fn(usize) -> bool) -> bool {
            let mut any = false;
            while let Ok((stream, _)) = self.listener.accept() {
                if hold(self.accepted) {
                    self.held.push(stream);
                }
                self.accepted += 1;
                any = true;
            }
            any
        }
    }

    /// Moves the stage on until the clock reaches `until`, every step pending: after each
    /// step the server acts; what it did is let in (a short real wait for the sockets), and
    /// otherwise the clock jumps to when the stage next wants to act.
    fn drive(
        stage: &mut SshStage<ManualClock>,
        clock: &ManualClock,
        until: Instant,
        server: &mut Server,
        hold: &dyn Fn(usize) -> bool,
    ) {
        loop {
            assert_eq!(stage.advance(), Step::Pending, "{}", stage.last_problem);
            if server.serve(hold) {
                let fds = stage.poll_fds();
                let mut polled: Vec<_> = fds
                    .iter()
                    .map(|(fd, flags)| rustix::event::PollFd::from_borrowed_fd(*fd, *flags))
                    .collect();
                let soon = Instant::now() + Duration::from_millis(200);
                let _ = crate::runtime::poll_until::poll_until(&mut polled, Some(soon));
                continue;
            }
            if clock.now() >= until {
                return;
            }
            let wake = stage.wake_at().unwrap_or(until).min(until);
            clock.advance_to(wake);
        }
    }

    /// A guest whose network is not up yet looks, through QEMU's user network, like a port
    /// that accepts and says nothing; every connection abandoned then is replayed to sshd
    /// later. So before any answer the stage holds one probe at a time, each for
    /// `QUIET_TIMEOUT_FIRST` at first: a handful of connections, not one per backoff step.
    #[test]
    fn a_silent_port_gets_one_probe_at_a_time_and_few_in_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::new();
        let clock = ManualClock::new();
        let mut stage =
            SshStage::with_clock(setup(dir.path(), "quiet", server.port()), clock.clone());
        let started = clock.now();
        let hold_all = |_: usize| true;
        drive(
            &mut stage,
            &clock,
            started + Duration::from_millis(1300),
            &mut server,
            &hold_all,
        );
        assert_eq!(server.accepted, 1, "a second probe too early");
        drive(
            &mut stage,
            &clock,
            started + Duration::from_millis(5500),
            &mut server,
            &hold_all,
        );
        // Probes at 0, 1.5, 3 and 4.5 s: each held until its timeout, none beside it.
        assert_eq!(server.accepted, 4, "connections in 5.5 s");
        assert!(
            stage.last_problem.contains("did not greet"),
            "{}",
            stage.last_problem
        );
    }

    /// Without a canary (here QEMU's QMP socket hangs up at once) sshd is not probed before
    /// the login prompt: a probe then could be held and replayed to sshd later.
    #[test]
    fn without_a_canary_sshd_is_left_alone_until_the_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let qmp_socket = dir.path().join("qmp.sock");
        let qmp = std::os::unix::net::UnixListener::bind(&qmp_socket).unwrap();
        std::thread::spawn(move || {
            for stream in qmp.incoming() {
                drop(stream);
            }
        });
        let mut server = Server::new();
        let clock = ManualClock::new();
        let mut stage = SshStage::with_clock(
            SshStageSetup {
                canary_qmp_socket: Some(qmp_socket),
                prompt_awaited: true,
                ..setup(dir.path(), "early", server.port())
            },
            clock.clone(),
        );
        let close_all = |_: usize| false;
        let soon = clock.now() + Duration::from_secs(3);
        drive(&mut stage, &clock, soon, &mut server, &close_all);
        assert_eq!(server.accepted, 0, "sshd probed before the prompt");
        assert!(
            stage
                .last_problem
                .contains("cannot tell when the guest's network is up"),
            "{}",
            stage.last_problem
        );
        stage.prompt_seen();
        let soon = clock.now() + Duration::from_millis(600);
        drive(&mut stage, &clock, soon, &mut server, &close_all);
        assert!(server.accepted >= 1, "no probe after the prompt");
    }

    /// Once the guest answered (a reset: its network is up), the next attempt is the master
    /// login itself, not another probe: a probe greeted by sshd would cost the booting guest
    /// an sshd process nobody uses. A login that sshd is slow to greet is left to wait (no
    /// other connection beside it), and it goes with the stage.
    #[test]
    fn after_the_guest_answered_the_login_is_the_probe() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::new();
        let config = dir.path().join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host slow\n  HostName 127.0.0.1\n  Port {}\n  User root\n  \
                 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  \
                 ControlPath {}/%C\n",
                server.port(),
                dir.path().display()
            ),
        )
        .unwrap();
        let clock = ManualClock::new();
        let mut stage = SshStage::with_clock(
            SshStageSetup {
                target: SshTarget::new(&config, "slow"),
                ..setup(dir.path(), "slow", server.port())
            },
            clock.clone(),
        );
        // The first connection is reset (the guest answered), every later one held silent.
        let hold_after_first = |n: usize| n > 0;
        assert_eq!(stage.advance(), Step::Pending);
        let give_up = Instant::now() + Duration::from_secs(30);
        // The probe is reset, then real ssh connects: wait for it (the bound only keeps a
        // broken stage from hanging the test).
        while server.accepted < 2 && Instant::now() < give_up {
            server.serve(hold_after_first);
            assert_eq!(stage.advance(), Step::Pending, "{}", stage.last_problem);
            if let Some(wake) = stage.wake_at() {
                clock.advance_to(wake.max(clock.now()));
            }
            let fds = stage.poll_fds();
            let mut polled: Vec<_> = fds
                .iter()
                .map(|(fd, flags)| rustix::event::PollFd::from_borrowed_fd(*fd, *flags))
                .collect();
            let soon = Instant::now() + Duration::from_millis(50);
            let _ = crate::runtime::poll_until::poll_until(&mut polled, Some(soon));
        }
        assert_eq!(server.accepted, 2, "the probe, then the login's connection");
        assert_eq!(stage.probing.sshd_probes, 1, "{:?}", stage.probing);
        assert_eq!(stage.probing.logins, 1, "{:?}", stage.probing);
        let State::Login { child, .. } = &stage.state else {
            panic!("not logging in: {}", stage.last_problem)
        };
        let ssh_pid = child.id();
        // sshd says nothing: the stage waits for this login and sends nothing beside it.
        clock.advance_to(clock.now() + Duration::from_secs(5));
        assert_eq!(stage.advance(), Step::Pending, "{}", stage.last_problem);
        server.serve(hold_after_first);
        assert_eq!(
            server.accepted, 2,
            "another connection beside a silent login"
        );
        drop(stage);
        let stat = std::fs::read_to_string(format!("/proc/{ssh_pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "ssh {ssh_pid} outlived the stage: {stat}");
    }

    /// A server that greets like sshd and then hangs up: every master login fails in a way
    /// that can pass, so the stage must go back to probing and try again, never block, and
    /// leave no `ssh` behind.
    #[test]
    fn a_greeting_server_that_hangs_up_is_retried_with_real_ssh() {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
            }
        });
        let config = dir.path().join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host fake\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  \
                 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  \
                 ControlPath {}/%C\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut stage = SshStage::new(SshStageSetup {
            target: SshTarget::new(&config, "fake"),
            ..setup(dir.path(), "fake", port)
        });
        // Real ssh takes real time: wait for its attempts (the bound only keeps a broken
        // stage from hanging the test).
        let give_up = Instant::now() + Duration::from_secs(60);
        let mut logins = std::collections::HashSet::new();
        while logins.len() < 3 && Instant::now() < give_up {
            assert_eq!(stage.advance(), Step::Pending, "{}", stage.last_problem);
            if let State::Login { child, .. } = &stage.state {
                logins.insert(child.id());
            }
            let fds = stage.poll_fds();
            let mut polled: Vec<_> = fds
                .iter()
                .map(|(fd, flags)| rustix::event::PollFd::from_borrowed_fd(*fd, *flags))
                .collect();
            let wake = stage.wake_at().unwrap_or(give_up).min(give_up);
            let _ = crate::runtime::poll_until::poll_until(&mut polled, Some(wake));
        }
        assert!(
            logins.len() >= 3,
            "the master login was retried ({} attempts): {}",
            logins.len(),
            stage.last_problem
        );
        assert!(
            accepted.load(Ordering::SeqCst) >= 4,
            "probes and logins connected"
        );
        // ssh's own words ("Connection closed by 127.0.0.1 port N", "... Broken pipe").
        assert!(
            stage.last_problem.contains(&format!("port {port}")),
            "{}",
            stage.last_problem
        );
        let ssh_pid = match &stage.state {
            State::Login { child, .. } => Some(child.id()),
            _ => None,
        };
        drop(stage);
        if let Some(pid) = ssh_pid {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(stat.is_empty(), "ssh {pid} outlived the stage: {stat}");
        }
    }
}
