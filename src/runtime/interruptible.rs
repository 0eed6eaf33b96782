//! Running a long helper (mmdebstrap, mke2fs) to its end unless Ctrl-C cancels it first.
//!
//! The helper runs in its own process group: a Ctrl-C at the terminal reaches only qcmdr,
//! which then ends the whole group (the helper and whatever it started: apt, dpkg), so no
//! process outlives the command. SIGTERM first, because mmdebstrap cleans up on it (its
//! mounts in the root it builds); SIGKILL after a grace. The wait is one `poll` over the
//! helper's pidfd and the cancel pipe, never a tick.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::process::{kill_process_group, Pid, Signal};

use super::bounded_output::{drain, DRAIN_LIMIT};
use super::cancel::Cancel;
use super::kill_on_drop::KillOnDrop;
use super::poll_until::poll_until;
use super::process::ProcessHandle;

/// How a helper's run ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited by itself; `stdout` holds its output when it was captured.
    Exited { status: ExitStatus, stdout: Vec<u8> },
    /// Cancelled: the helper's group was ended (or it was never started).
    Cancelled,
}

/// Runs `command` (its stdin, stderr and, unless `capture_stdout`, stdout as the caller set
/// them) until it exits or `cancel` fires; then its group gets SIGTERM, `grace` to end,
/// and SIGKILL.
pub fn run(
    command: &mut Command,
    capture_stdout: bool,
    cancel: &Cancel,
    grace: Duration,
) -> io::Result<Ended> {
    if cancel.is_cancelled() {
        return Ok(Ended::Cancelled);
    }
    if capture_stdout {
        command.stdout(Stdio::piped());
    }
    let mut child = KillOnDrop(command.process_group(0).spawn()?);
    let stdout = drain(child.stdout.take());
    let watched = ProcessHandle::from_child(child.id() as i32)?;
    let (exited, cancelled) = (watched.pidfd(), cancel.fd());
    let mut fds = [
        PollFd::new(&exited, PollFlags::IN),
        PollFd::new(&cancelled, PollFlags::IN),
    ];
    poll_until(&mut fds, None)?;
    if !fds[0].revents().is_empty() {
        let status = child.wait()?;
        return Ok(Ended::Exited {
            status,
            stdout: stdout.recv_timeout(DRAIN_LIMIT).unwrap_or_default(),
        });
    }
    // Signalled while the leader is unreaped: its PID, the group's ID, cannot be reused yet.
    if let Some(group) = Pid::from_raw(child.id() as i32) {
        let _ = kill_process_group(group, Signal::TERM);
        watched.wait_exit(grace);
        let _ = kill_process_group(group, Signal::KILL);
    }
    // The guard reaps the leader.
    Ok(Ended::Cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn pid_in(path: &std::path::Path) -> i32 {
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Kills the process whose PID a test's helper wrote into the file, should it survive.
    struct KillNamedOnDrop(std::path::PathBuf);

    impl Drop for KillNamedOnDrop {
        fn drop(&mut self) {
            let pid = std::fs::read_to_string(&self.0).ok();
            if let Some(pid) = pid.and_then(|p| Pid::from_raw(p.trim().parse().ok()?)) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    }

    #[test]
    fn a_helper_that_ends_gives_its_status_and_output() {
        let cancel = Cancel::new().unwrap();
        let ended = run(
            Command::new("sh").args(["-c", "echo out; exit 3"]),
            true,
            &cancel,
            Duration::from_secs(5),
        )
        .unwrap();
        let Ended::Exited { status, stdout } = ended else {
            panic!("{ended:?}")
        };
        assert_eq!((status.code(), stdout.as_slice()), (Some(3), &b"out\n"[..]));
    }

    #[test]
    fn cancelling_ends_the_helper_and_its_children_even_one_ignoring_sigterm() {
        let tmp = tempfile::tempdir().unwrap();
        let (child_pid, mark) = (tmp.path().join("child"), tmp.path().join("started"));
        // The child ignores SIGTERM: only the SIGKILL after the grace ends it.
        let script = format!(
            "(trap '' TERM; sleep 300) & echo $! > {}; touch {}; wait",
            child_pid.display(),
            mark.display()
        );
        let _survivor = KillNamedOnDrop(child_pid.clone());
        let cancel = Cancel::new().unwrap();
        let trigger = cancel.clone();
        let mark_seen = mark.clone();
        let canceller = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !mark_seen.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            trigger.trigger();
        });
        let started = Instant::now();
        let ended = run(
            Command::new("sh").args(["-c", &script]),
            false,
            &cancel,
            Duration::from_millis(200),
        )
        .unwrap();
        canceller.join().unwrap();
        assert!(matches!(ended, Ended::Cancelled), "{ended:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        let gone = ProcessHandle::from_child(pid_in(&child_pid))
            .map(|p| p.wait_exit(Duration::from_secs(5)))
            .unwrap_or(true);
        assert!(gone, "the helper's child survived");
    }

    #[test]
    fn nothing_starts_once_cancelled() {
        let tmp = tempfile::tempdir().unwrap();
        let cancel = Cancel::new().unwrap();
        cancel.trigger();
        let mark = tmp.path().join("ran");
        let ended = run(
            Command::new("touch").arg(&mark),
            false,
            &cancel,
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(matches!(ended, Ended::Cancelled));
        assert!(!mark.exists());
    }
}
