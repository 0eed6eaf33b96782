//! Running a helper (mutagen, rsync, ssh) to its end, but never longer than a bound.
//!
//! A helper can hang for good: an rsync whose remote side stalls, a Mutagen daemon that
//! never answers. The helper runs in its own process group, so on timeout the whole group
//! (the helper and the ssh it started) is killed, not just the first process; the wait is
//! the helper's exit seen through a pidfd, not a poll tick.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::process::{kill_process_group, Pid, Signal};

use super::kill_on_drop::KillOnDrop;
use super::process::ProcessHandle;

/// How long the output pipes may stay open after the helper ended (a grandchild that
/// inherited them); what arrived until then is kept.
pub(super) const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Runs `command` with stdout and stderr captured; `Ok(None)` if it was still running after
/// `limit` and was killed.
pub fn output(command: &mut Command, limit: Duration) -> io::Result<Option<Output>> {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = KillOnDrop(command.spawn()?);
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let watched = ProcessHandle::from_child(child.id() as i32)?;
    if !watched.wait_exit(limit) {
        // The helper's own children (ssh) first; the guard then kills and reaps the helper.
        if let Some(group) = Pid::from_raw(child.id() as i32) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        return Ok(None);
    }
    let status = child.wait()?;
    Ok(Some(Output {
        status,
        stdout: stdout.recv_timeout(DRAIN_LIMIT).unwrap_or_default(),
        stderr: stderr.recv_timeout(DRAIN_LIMIT).unwrap_or_default(),
    }))
}

/// Reads `pipe` to its end on a thread of its own (a pipe left unread would block the helper).
pub(super) fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
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
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_quick_helper_gives_its_output() {
        let out = output(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn a_hanging_helper_and_its_children_are_killed_at_the_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("grandchild");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let started = Instant::now();
        let out = output(
            Command::new("sh").args(["-c", &script]),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(out.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = ProcessHandle::from_child(grandchild)
            .map(|p| p.wait_exit(Duration::from_secs(5)))
            .unwrap_or(true);
        assert!(gone, "the helper's child survived");
    }
}
