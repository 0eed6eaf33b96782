//! Copies bytes both ways between `input`/`output` and a unix socket until the user detaches,
//! the input ends, the peer closes, or a stop is signalled. One `poll` loop, no threads, so
//! every ending is seen the moment it happens.

use std::io::{Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use crate::runtime::poll_until::poll_until;
use rustix::io::Errno;

/// Why a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The detach byte was read from the input.
    Detached,
    /// The input reached end of file (and the peer then fell quiet).
    InputClosed,
    /// QEMU closed the socket (the VM stopped).
    PeerClosed,
    /// The stop descriptor became readable (a signal arrived).
    Stopped,
}

/// How one relay behaves.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The byte that ends the session instead of being sent (`Ctrl-]` is 0x1d).
    pub detach: Option<u8>,
    /// After the input ends, keep copying the peer's output until it has been quiet this long:
    /// a console has no end-of-answer marker, and `echo cmd | qcmdr console` wants the answer.
    pub drain_idle: Duration,
}

/// The local side of a relay.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub input: BorrowedFd<'a>,
    pub output: BorrowedFd<'a>,
    /// Readable once the relay must stop (see `runtime::cancel::Cancel::fd`).
    pub stop: BorrowedFd<'a>,
}

/// Relays until one side ends; see [`End`].
pub fn relay(socket: &UnixStream, local: Local<'_>, options: Options) -> std::io::Result<End> {
    let mut socket_reader = socket;
    let mut socket_writer = socket;
    let mut buf = [0u8; 4096];
    // Set once the input has ended: from then on only the peer's output is copied.
    let mut quiet_until: Option<Instant> = None;
    loop {
        let mut fds = vec![
            PollFd::new(&local.stop, PollFlags::IN),
            PollFd::new(socket, PollFlags::IN),
        ];
        if quiet_until.is_none() {
            fds.push(PollFd::new(&local.input, PollFlags::IN));
        }
        if !poll_until(&mut fds, quiet_until)? {
            return Ok(End::InputClosed);
        }
        if !fds[0].revents().is_empty() {
            return Ok(End::Stopped);
        }
        if !fds[1].revents().is_empty() {
            match socket_reader.read(&mut buf) {
                Ok(0) => return Ok(End::PeerClosed),
                Ok(n) => {
                    write_all(local.output, &buf[..n])?;
                    if quiet_until.is_some() {
                        quiet_until = Some(Instant::now() + options.drain_idle);
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) if is_disconnect(&err) => return Ok(End::PeerClosed),
                Err(err) => return Err(err),
            }
        }
        if fds.get(2).is_some_and(|fd| !fd.revents().is_empty()) {
            let n = match rustix::io::read(local.input, &mut buf) {
                Ok(n) => n,
                Err(Errno::INTR | Errno::AGAIN) => continue,
                // A terminal whose other side has gone away reads as EIO: the input has ended.
                Err(Errno::IO) => 0,
                Err(err) => return Err(err.into()),
            };
            if n == 0 {
                quiet_until = Some(Instant::now() + options.drain_idle);
                continue;
            }
            let bytes = &buf[..n];
            let detach_at = options
                .detach
                .and_then(|key| bytes.iter().position(|b| *b == key));
            let send = &bytes[..detach_at.unwrap_or(n)];
            if let Err(err) = socket_writer.write_all(send) {
                return if is_disconnect(&err) {
                    Ok(End::PeerClosed)
                } else {
                    Err(err)
                };
            }
            if detach_at.is_some() {
                return Ok(End::Detached);
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

fn is_disconnect(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cancel::Cancel;
    use std::os::fd::AsFd;

    const OPTIONS: Options = Options {
        detach: Some(0x1d),
        drain_idle: Duration::from_millis(200),
    };

    /// A peer that echoes what it gets in upper case, like a tiny console.
    fn shouting_peer() -> (UnixStream, std::thread::JoinHandle<()>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let peer = std::thread::spawn(move || {
            let mut theirs = theirs;
            let mut buf = [0u8; 64];
            while let Ok(n) = theirs.read(&mut buf) {
                if n == 0 || theirs.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                    break;
                }
            }
        });
        (ours, peer)
    }

    /// Relays `typed` (then end of input) to `socket`; returns how it ended and what came back.
    fn session(socket: &UnixStream, typed: &[u8], stop: &Cancel) -> (End, String) {
        let (in_read, in_write) = rustix::pipe::pipe().unwrap();
        let (out_read, out_write) = rustix::pipe::pipe().unwrap();
        rustix::io::write(&in_write, typed).unwrap();
        drop(in_write);
        let local = Local {
            input: in_read.as_fd(),
            output: out_write.as_fd(),
            stop: stop.fd(),
        };
        let end = relay(socket, local, OPTIONS).unwrap();
        drop(out_write);
        let mut seen = String::new();
        std::fs::File::from(out_read)
            .read_to_string(&mut seen)
            .unwrap();
        (end, seen)
    }

    #[test]
    fn detach_byte_ends_the_session_and_is_not_sent() {
        let (socket, _peer) = shouting_peer();
        let (end, seen) = session(&socket, b"hi\x1dnot sent", &Cancel::new().unwrap());
        assert_eq!(end, End::Detached);
        assert!(!seen.contains("NOT SENT"), "{seen}");
    }

    #[test]
    fn input_eof_drains_the_answer_then_ends() {
        let (socket, _peer) = shouting_peer();
        let (end, seen) = session(&socket, b"answer me\n", &Cancel::new().unwrap());
        assert_eq!(end, End::InputClosed);
        assert_eq!(seen, "ANSWER ME\n");
    }

    #[test]
    fn stop_and_peer_close_end_the_session() {
        let (socket, peer) = UnixStream::pair().unwrap();
        let stop = Cancel::new().unwrap();
        stop.trigger();
        assert_eq!(session(&socket, b"", &stop).0, End::Stopped);
        drop(peer);
        assert_eq!(
            session(&socket, b"", &Cancel::new().unwrap()).0,
            End::PeerClosed
        );
    }
}
