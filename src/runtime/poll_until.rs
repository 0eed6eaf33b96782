//! One `poll` with a deadline instead of a timeout: interrupted calls are retried with the
//! time that is left, so every event-driven wait in qcmdr shares one correct loop.

use std::time::Instant;

use rustix::event::{poll, PollFd, Timespec};

/// Waits until one of `fds` is ready (true) or `deadline` passes (false); `None` waits for
/// ever. The caller reads `revents()` of `fds` afterwards.
pub fn poll_until(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> std::io::Result<bool> {
    loop {
        let timeout = deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            // Beyond what a Timespec holds: an hour at a time (the loop goes on).
            Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: 3600,
                tv_nsec: 0,
            })
        });
        match poll(fds, timeout.as_ref()) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() < d) => continue,
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::PollFlags;
    use std::time::Duration;

    #[test]
    fn ready_descriptor_wins_and_deadline_ends_the_wait() {
        let (read_end, write_end) = rustix::pipe::pipe().unwrap();
        let started = Instant::now();
        let mut fds = [PollFd::new(&read_end, PollFlags::IN)];
        let deadline = Some(started + Duration::from_millis(50));
        assert!(!poll_until(&mut fds, deadline).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(50));
        rustix::io::write(&write_end, b"x").unwrap();
        let mut fds = [PollFd::new(&read_end, PollFlags::IN)];
        assert!(poll_until(&mut fds, None).unwrap());
        assert!(!fds[0].revents().is_empty());
    }
}
