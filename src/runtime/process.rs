//! Which process is this VM's QEMU, proven before it is ever signalled.
//!
//! A pidfile alone proves nothing: after a crash or a reboot its PID may belong to any other
//! process (qqmgr and Lima both trip over this). A PID counts as this VM's QEMU only if its
//! `/proc/PID/cmdline` carries `-pidfile <this VM's pidfile>`. The check is made through a
//! pidfd opened first, and the pidfd is checked still alive afterwards, so the verified
//! process is exactly the one the pidfd refers to; every later signal and wait goes through
//! that pidfd and cannot reach a process that reused the PID.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::poll_until::poll_until;
use rustix::event::{PollFd, PollFlags};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};

/// Longest wait for a dying process's remaining threads (normally milliseconds).
const ZOMBIE_SETTLE: Duration = Duration::from_secs(2);
/// QEMU handles SIGTERM as a clean quit (flushing disks, unlinking its files); it gets this
/// long before SIGKILL, and SIGKILL this long to take effect.
pub const SIGTERM_GRACE: Duration = Duration::from_secs(5);
pub const SIGKILL_GRACE: Duration = Duration::from_secs(5);

/// How [`ProcessHandle::terminate`] ended the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminated {
    BySigterm,
    BySigkill,
    /// Still there after SIGKILL: stuck in the kernel (state D).
    Survived,
}

/// A process watched and signalled through a pidfd: a verified QEMU, or a child of ours.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: i32,
    pidfd: OwnedFd,
}

/// What a VM's pidfile says, after verification.
#[derive(Debug)]
pub enum Identity {
    /// No pidfile: the VM is not running.
    NotRunning,
    /// The pidfile names this VM's live QEMU.
    Running(ProcessHandle),
    /// The pidfile is left over; `reason` says why it does not count.
    Stale { pid: Option<i32>, reason: String },
}

/// Reads `pidfile` and verifies the process it names.
pub fn identify(pidfile: &Path) -> std::io::Result<Identity> {
    identify_with(pidfile, "this VM's QEMU", |pid, cmdline| {
        names_pidfile(pid, cmdline, pidfile)
    })
}

/// Reads `pidfile` (written by QEMU or by qcmdr) and verifies the process it names with
/// `is_ours` (given the PID and its argv; `what` names it when it is not).
pub fn identify_with(
    pidfile: &Path,
    what: &str,
    is_ours: impl Fn(i32, &[String]) -> bool,
) -> std::io::Result<Identity> {
    // Bytes, not a String: a pidfile that is not UTF-8 is as stale as any other garbage.
    let text = match fs::read(pidfile) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Identity::NotRunning),
        Err(err) => return Err(err),
    };
    let pid = match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => pid,
        _ => {
            return Ok(Identity::Stale {
                pid: None,
                reason: format!("pidfile holds {:?}, not a PID", text.trim()),
            })
        }
    };
    Ok(verify_with(pid, what, is_ours))
}

/// Verifies that `pid` is the QEMU that writes `pidfile`.
pub fn verify(pid: i32, pidfile: &Path) -> Identity {
    verify_with(pid, "this VM's QEMU", |pid, cmdline| {
        names_pidfile(pid, cmdline, pidfile)
    })
}

/// Verifies that `pid` is a live process whose argv `is_ours` accepts.
pub fn verify_with(pid: i32, what: &str, is_ours: impl Fn(i32, &[String]) -> bool) -> Identity {
    let stale = |reason: String| Identity::Stale {
        pid: Some(pid),
        reason,
    };
    let Some(raw_pid) = Pid::from_raw(pid) else {
        return stale("not a valid PID".into());
    };
    let pidfd = match pidfd_open(raw_pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return stale(format!("process {pid} no longer exists")),
        Err(err) => return stale(format!("cannot open process {pid}: {err}")),
    };
    if is_zombie(pid) {
        // The leader of a multi-threaded process (QEMU) turns zombie before its other threads
        // are gone, and its files (sockets, forwarded ports) close only with the last one.
        // The pidfd becomes readable exactly then: wait for that, so that whoever acts on
        // "stale" next (a new start binding the same ports) finds everything released.
        ProcessHandle { pid, pidfd }.wait_exit(ZOMBIE_SETTLE);
        return stale(format!("process {pid} has exited"));
    }
    let Some(cmdline) = read_settled_cmdline(pid) else {
        return stale(format!("process {pid} has exited"));
    };
    if !is_ours(pid, &cmdline) {
        return stale(format!(
            "process {pid} is not {what} (it is `{}`); left it alone",
            summarize(&cmdline)
        ));
    }
    let process = ProcessHandle { pid, pidfd };
    if process.has_exited() {
        return stale(format!("process {pid} has exited"));
    }
    Identity::Running(process)
}

impl ProcessHandle {
    /// Wraps a QEMU that qcmdr itself just spawned (its PID cannot have been reused yet: it
    /// is our unreaped child).
    pub fn from_child(pid: i32) -> std::io::Result<Self> {
        let raw = Pid::from_raw(pid).ok_or_else(|| std::io::Error::other("invalid pid"))?;
        let pidfd = pidfd_open(raw, PidfdFlags::empty())?;
        Ok(ProcessHandle { pid, pidfd })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Readable once the process has exited; for callers that poll several things at once.
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    pub fn has_exited(&self) -> bool {
        self.wait_exit(Duration::ZERO)
    }

    /// Blocks until the process exits or `timeout` passes; true if it exited. Event-driven:
    /// the kernel wakes us the moment the process ends.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
        // A pidfd that cannot be polled any more belongs to a process that is gone.
        poll_until(&mut fds, Some(Instant::now() + timeout)).unwrap_or(true)
    }

    /// Sends `signal` through the pidfd; a process that already exited is not an error.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        match pidfd_send_signal(&self.pidfd, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// SIGTERM, a wait of [`SIGTERM_GRACE`], then SIGKILL if it still runs; `before_kill` is
    /// called right before the SIGKILL (to say so).
    pub fn terminate(&self, before_kill: impl FnOnce()) -> Terminated {
        let _ = self.signal(Signal::TERM);
        if self.wait_exit(SIGTERM_GRACE) {
            return Terminated::BySigterm;
        }
        before_kill();
        let _ = self.signal(Signal::KILL);
        if self.wait_exit(SIGKILL_GRACE) {
            Terminated::BySigkill
        } else {
            Terminated::Survived
        }
    }

    /// How long the process has been running.
    pub fn uptime(&self) -> Option<Duration> {
        process_uptime(self.pid)
    }
}

/// The argv of a process, or `None` if it cannot be read.
pub fn read_cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// A process caught in the middle of `exec` briefly shows an empty cmdline.
fn read_settled_cmdline(pid: i32) -> Option<Vec<String>> {
    for _ in 0..50 {
        match read_cmdline(pid) {
            Some(args) if !args.is_empty() => return Some(args),
            Some(_) if !is_zombie(pid) => std::thread::sleep(Duration::from_millis(2)),
            _ => return None,
        }
    }
    None
}

/// Exited but not yet reaped by its parent (QEMU outlives the qcmdr that spawned it, so its
/// new parent may be slow to reap, or never do it).
fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    matches!(state, Some('Z') | Some('X') | None)
}

/// Whether the `-pidfile` QEMU was given is our pidfile: the same file, however either path
/// is spelled (a symlinked or `..` state dir is the same state dir). A relative path was
/// relative to QEMU's own working directory.
fn names_pidfile(pid: i32, cmdline: &[String], pidfile: &Path) -> bool {
    cmdline
        .windows(2)
        .filter(|pair| pair[0] == "-pidfile" || pair[0] == "--pidfile")
        .any(|pair| {
            let given = Path::new(&pair[1]);
            let given = if given.is_absolute() {
                given.to_path_buf()
            } else {
                PathBuf::from(format!("/proc/{pid}/cwd")).join(given)
            };
            crate::state_dir::same_file::same_file(&given, pidfile)
        })
}

fn summarize(cmdline: &[String]) -> String {
    let joined = cmdline.join(" ");
    if joined.chars().count() > 60 {
        format!("{}…", joined.chars().take(60).collect::<String>())
    } else {
        joined
    }
}

fn process_uptime(pid: i32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime, in clock ticks since boot) counted after the `(comm)` field,
    // whose text may itself contain spaces and parentheses.
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let start_ticks: u64 = after_comm.split(' ').nth(19)?.parse().ok()?;
    let boot_uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let seconds = boot_uptime - start_ticks as f64 / ticks;
    Some(Duration::from_secs_f64(seconds.max(0.0)))
}

/// Every existing path of `paths`, removed; missing ones are fine.
pub fn remove_files<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for path in paths {
        if fs::remove_file(path).is_ok() {
            removed.push(path.to_path_buf());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kill_on_drop::KillOnDrop;
    use std::process::{Command, Stdio};

    #[test]
    fn missing_pidfile_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            identify(&dir.path().join("qemu.pid")).unwrap(),
            Identity::NotRunning
        ));
    }

    #[test]
    fn unrelated_live_process_is_stale_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("qemu.pid");
        let child = KillOnDrop(Command::new("sleep").arg("30").spawn().unwrap());
        fs::write(&pidfile, format!("{}\n", child.0.id())).unwrap();
        match identify(&pidfile).unwrap() {
            Identity::Stale { pid, reason } => {
                assert_eq!(pid, Some(child.0.id() as i32));
                assert!(reason.contains("not this VM's QEMU"), "{reason}");
                assert!(reason.contains("sleep 30"), "{reason}");
            }
            other => panic!("expected stale, got {other:?}"),
        }
    }

    #[test]
    fn process_carrying_the_pidfile_is_running_and_its_exit_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("qemu.pid");
        // A stand-in whose argv carries `-pidfile <path>` exactly as QEMU's does.
        let mut child = Command::new("sh")
            .args(["-c", "read line", "sh", "-pidfile"])
            .arg(&pidfile)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        fs::write(&pidfile, child.id().to_string()).unwrap();
        let Identity::Running(process) = identify(&pidfile).unwrap() else {
            panic!("expected running")
        };
        assert!(!process.wait_exit(Duration::from_millis(50)));
        assert!(process.uptime().is_some());
        drop(child.stdin.take());
        assert!(process.wait_exit(Duration::from_secs(5)));
        child.wait().unwrap();
        assert!(matches!(
            identify(&pidfile).unwrap(),
            Identity::Stale { .. }
        ));
    }

    #[test]
    fn non_utf8_pidfile_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("qemu.pid");
        fs::write(&pidfile, b"\xff\xfe12\n").unwrap();
        assert!(matches!(
            identify(&pidfile).unwrap(),
            Identity::Stale { pid: None, .. }
        ));
    }

    #[test]
    fn garbage_pidfile_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("qemu.pid");
        fs::write(&pidfile, "hello").unwrap();
        assert!(matches!(
            identify(&pidfile).unwrap(),
            Identity::Stale { pid: None, .. }
        ));
    }
}
