//! A cheap look at whether sshd answers: a TCP connect and the server's `SSH-` banner.
//!
//! A full `ssh` login costs a process, a key exchange and, under emulation, half a second of
//! guest CPU. Behind QEMU's user network the host port accepts connections even before the
//! guest's sshd listens (the connection is then closed at once), so only the banner proves
//! sshd is there. Probing with it keeps a tight retry loop from slowing the guest's boot.
//!
//! [`BannerProbe`] never blocks: it exposes one socket to `poll` and is advanced when that
//! socket (or its deadline) wakes the caller, so the readiness loop can watch the serial log
//! and QEMU's exit while a probe is in flight. [`probe`] is the blocking form.

use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::model::{Project, Vm};
use crate::runtime::poll_until::poll_until;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Banner {
    /// sshd greeted us.
    Ready,
    /// Connected, but closed without a greeting (typically: no sshd behind the forward yet).
    Closed,
    /// Nothing listens on the host port.
    Refused,
    /// No greeting in time.
    Timeout,
}

/// One probe of every address of `host:port` in turn, until one greets.
#[derive(Debug)]
pub struct BannerProbe {
    addrs: std::vec::IntoIter<SocketAddr>,
    timeout: Duration,
    attempt: Option<Attempt>,
    /// Outcome of the last address tried (what is reported if none greets).
    outcome: Banner,
}

#[derive(Debug)]
struct Attempt {
    stream: TcpStream,
    connected: bool,
    greeting: [u8; 4],
    got: usize,
    deadline: Instant,
}

impl BannerProbe {
    /// Resolves `host` and starts connecting; `timeout` bounds each address's connect + greeting.
    pub fn start(host: &str, port: u16, timeout: Duration) -> Self {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default();
        BannerProbe {
            addrs: addrs.into_iter(),
            timeout,
            attempt: None,
            outcome: Banner::Refused,
        }
    }

    /// The socket to poll and what for, while an attempt is in flight.
    pub fn poll_fd(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        self.attempt.as_ref().map(|a| {
            let flags = if a.connected {
                PollFlags::IN
            } else {
                PollFlags::OUT
            };
            (a.stream.as_fd(), flags)
        })
    }

    /// When the attempt in flight gives up.
    pub fn deadline(&self) -> Option<Instant> {
        self.attempt.as_ref().map(|a| a.deadline)
    }

    /// Moves on as far as possible without blocking; `Some` once the probe is decided.
    pub fn advance(&mut self) -> Option<Banner> {
        self.advance_at(Instant::now())
    }

    /// [`BannerProbe::advance`] with the time read by the caller (whose clock may be a
    /// test's): an attempt times out `timeout` after `now` when it began.
    pub fn advance_at(&mut self, now: Instant) -> Option<Banner> {
        loop {
            if self.attempt.is_none() {
                let Some(addr) = self.addrs.next() else {
                    return Some(self.outcome);
                };
                match connect(addr) {
                    Ok((stream, connected)) => {
                        self.attempt = Some(Attempt {
                            stream,
                            connected,
                            greeting: [0; 4],
                            got: 0,
                            deadline: now + self.timeout,
                        })
                    }
                    Err(_) => self.outcome = Banner::Refused,
                }
                continue;
            }
            let attempt = self.attempt.as_mut().expect("checked above");
            match attempt.step() {
                Some(Banner::Ready) => return Some(Banner::Ready),
                Some(outcome) => {
                    self.outcome = outcome;
                    self.attempt = None;
                }
                None if now >= attempt.deadline => {
                    self.outcome = Banner::Timeout;
                    self.attempt = None;
                }
                None => return None,
            }
        }
    }
}

impl Attempt {
    /// `None` while the connect or the greeting is still on its way.
    fn step(&mut self) -> Option<Banner> {
        if !self.connected {
            if !ready_now(self.stream.as_fd(), PollFlags::OUT) {
                return None;
            }
            match rustix::net::sockopt::socket_error(&self.stream) {
                Ok(Ok(())) => self.connected = true,
                Ok(Err(rustix::io::Errno::CONNREFUSED)) => return Some(Banner::Refused),
                _ => return Some(Banner::Closed),
            }
        }
        loop {
            match self.stream.read(&mut self.greeting[self.got..]) {
                Ok(0) => return Some(Banner::Closed),
                Ok(n) => {
                    self.got += n;
                    if self.got == self.greeting.len() {
                        return Some(if &self.greeting == b"SSH-" {
                            Banner::Ready
                        } else {
                            Banner::Closed
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(_) => return Some(Banner::Closed),
            }
        }
    }
}

/// A non-blocking connect: the stream, and whether it is connected already.
fn connect(addr: SocketAddr) -> std::io::Result<(TcpStream, bool)> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    let connected = match rustix::net::connect(&fd, &addr) {
        Ok(()) => true,
        Err(rustix::io::Errno::INPROGRESS) | Err(rustix::io::Errno::INTR) => false,
        Err(err) => return Err(err.into()),
    };
    Ok((TcpStream::from(fd), connected))
}

fn ready_now(fd: BorrowedFd<'_>, flags: PollFlags) -> bool {
    let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
    matches!(poll_until(&mut fds, Some(Instant::now())), Ok(true))
}

/// Probes every address of `host:port` until one greets, waiting for the answer.
pub fn probe(host: &str, port: u16, timeout: Duration) -> Banner {
    let mut probe = BannerProbe::start(host, port, timeout);
    loop {
        if let Some(outcome) = probe.advance() {
            return outcome;
        }
        if let Some((fd, flags)) = probe.poll_fd() {
            let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
            let _ = poll_until(&mut fds, probe.deadline());
        }
    }
}

/// The banner probe only means something when ssh connects straight to HostName:Port.
pub fn applies_to(project: &Project, vm: &Vm) -> bool {
    let indirect = |name: &str| {
        name.eq_ignore_ascii_case("ProxyJump") || name.eq_ignore_ascii_case("ProxyCommand")
    };
    !vm.ssh.options.iter().any(|o| indirect(&o.name))
        && !project.ssh_base.iter().any(|o| indirect(&o.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn tells_greeting_closed_and_refused_apart() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut first, _) = listener.accept().unwrap();
            first.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
            let (second, _) = listener.accept().unwrap();
            drop(second);
        });
        assert_eq!(
            probe("127.0.0.1", port, Duration::from_secs(2)),
            Banner::Ready
        );
        assert_eq!(
            probe("127.0.0.1", port, Duration::from_secs(2)),
            Banner::Closed
        );
        server.join().unwrap();
        assert_eq!(
            probe("127.0.0.1", port, Duration::from_secs(2)),
            Banner::Refused
        );
    }

    #[test]
    fn a_silent_server_times_out_without_blocking_the_caller() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let mut probe = BannerProbe::start("127.0.0.1", port, Duration::from_millis(300));
        assert_eq!(probe.advance(), None, "nothing said yet");
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "advance blocked"
        );
        assert!(probe.poll_fd().is_some());
        assert_eq!(
            self::probe("127.0.0.1", port, Duration::from_millis(300)),
            Banner::Timeout
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        drop(listener);
    }
}
