//! A cheap look at whether sshd answers: a TCP connect and the server's `SSH-` banner.
//!
//! A full `ssh` login costs a process, a key exchange and, under emulation, half a second of
//! guest CPU. Behind QEMU's user network the host port accepts connections even before the
//! guest's sshd listens (the connection is then closed at once), so only the banner proves
//! sshd is there. Probing with it keeps a tight retry loop from slowing the guest's boot.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::model::{Project, Vm};

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

/// Probes every address of `host:port` until one greets.
pub fn probe(host: &str, port: u16, timeout: Duration) -> Banner {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return Banner::Refused;
    };
    let mut outcome = Banner::Refused;
    for addr in addrs {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(timeout));
        let mut greeting = [0u8; 4];
        let mut got = 0;
        outcome = loop {
            match stream.read(&mut greeting[got..]) {
                Ok(0) => break Banner::Closed,
                Ok(n) => {
                    got += n;
                    if got == greeting.len() {
                        break if &greeting == b"SSH-" {
                            Banner::Ready
                        } else {
                            Banner::Closed
                        };
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Banner::Timeout
                }
                Err(_) => break Banner::Closed,
            }
        };
        if outcome == Banner::Ready {
            return outcome;
        }
    }
    outcome
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
}
