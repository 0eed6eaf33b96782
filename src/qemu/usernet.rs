//! QEMU's user network (slirp) as seen through the monitor: the TCP port forwards it serves
//! (`info usernet`), and forwards added and removed while the VM runs (`hostfwd_add`,
//! `hostfwd_remove`). Both are HMP-only; their output is text meant for people, read here
//! as leniently as possible.

use std::net::Ipv4Addr;

use super::hmp::human_monitor_command;
use super::qmp::{Qmp, QmpError};

/// One TCP forward from a host port into the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The `-netdev user` it belongs to (its `id`).
    pub netdev: String,
    pub host_addr: Ipv4Addr,
    pub host_port: u16,
    pub guest_addr: Ipv4Addr,
    pub guest_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum UsernetError {
    #[error(transparent)]
    Qmp(#[from] QmpError),
    /// The monitor printed something instead of doing it (HMP reports errors as text).
    #[error("`{command}` failed: {said}")]
    Refused { command: String, said: String },
    #[error("`{command}` left no forward to {guest}")]
    NotFound { command: String, guest: String },
}

/// The TCP forwards listed by `info usernet`, in its order.
///
/// ```text
/// Hub -1 (net0):
///   Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ
///   TCP[HOST_FORWARD]   8       127.0.0.1 15022       10.0.2.15    22     0     0
/// ```
pub fn parse_forwards(info: &str) -> Vec<Forward> {
    let mut netdev = None;
    let mut forwards = Vec::new();
    for line in info.lines() {
        if !line.starts_with(' ') {
            // "Hub -1 (net0):" (or "Hub 0 (user.0):" for -net user): the id is in parentheses.
            netdev = line
                .rsplit_once('(')
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(id, _)| id.to_string());
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [kind, _fd, host_addr, host_port, guest_addr, guest_port, ..] = words[..] else {
            continue;
        };
        let (Some(netdev), "TCP[HOST_FORWARD]") = (&netdev, kind) else {
            continue;
        };
        let parsed = (
            host_addr.parse(),
            host_port.parse(),
            guest_addr.parse(),
            guest_port.parse(),
        );
        if let (Ok(host_addr), Ok(host_port), Ok(guest_addr), Ok(guest_port)) = parsed {
            forwards.push(Forward {
                netdev: netdev.clone(),
                host_addr,
                host_port,
                guest_addr,
                guest_port,
            });
        }
    }
    forwards
}

/// The forwards the VM's user networks serve now.
pub fn forwards(qmp: &mut Qmp) -> Result<Vec<Forward>, UsernetError> {
    Ok(parse_forwards(&human_monitor_command(qmp, "info usernet")?))
}

/// Adds a forward from a free port on the host's loopback to `guest_addr:guest_port` on
/// `netdev`, and returns the host port the kernel chose.
pub fn add_forward(
    qmp: &mut Qmp,
    netdev: &str,
    guest_addr: Ipv4Addr,
    guest_port: u16,
) -> Result<u16, UsernetError> {
    let loopback = Ipv4Addr::LOCALHOST;
    let before = forwards(qmp)?;
    let command = format!("hostfwd_add {netdev} tcp:{loopback}:0-{guest_addr}:{guest_port}");
    run(qmp, &command)?;
    forwards(qmp)?
        .into_iter()
        .find(|new| {
            new.netdev == netdev
                && new.host_addr == loopback
                && new.guest_addr == guest_addr
                && new.guest_port == guest_port
                && !before.contains(new)
        })
        .map(|new| new.host_port)
        .ok_or_else(|| UsernetError::NotFound {
            command,
            guest: format!("{guest_addr}:{guest_port}"),
        })
}

/// Removes the forward from the host's loopback port `host_port` on `netdev`.
pub fn remove_forward(qmp: &mut Qmp, netdev: &str, host_port: u16) -> Result<(), UsernetError> {
    run(
        qmp,
        &format!("hostfwd_remove {netdev} tcp:127.0.0.1:{host_port}"),
    )
}

/// Runs an HMP command that prints nothing when it works.
fn run(qmp: &mut Qmp, command: &str) -> Result<(), UsernetError> {
    let said = human_monitor_command(qmp, command)?;
    // hostfwd_remove says "host forwarding rule for ... removed" on success.
    let said = said.trim();
    if said.is_empty() || said.contains("removed") {
        Ok(())
    } else {
        Err(UsernetError::Refused {
            command: command.to_string(),
            said: said.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_are_read_with_their_netdev() {
        let info = "Hub -1 (net0):\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\n  TCP[SYN_SENT]      52       127.0.0.1 39577       10.0.2.15     1     0     0\n  TCP[HOST_FORWARD]  13       127.0.0.1 39577       10.0.2.15     1     0     0\n  TCP[HOST_FORWARD]   8         0.0.0.0 15022       10.0.2.15    22     0     0\nHub -1 (lab.net):\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\n  UDP[236 sec]       30       127.0.0.1  5353        10.0.2.3    53     0     0\n  TCP[HOST_FORWARD]   9       127.0.0.1  2222       10.0.2.15    22     0     0\n";
        let forwards = parse_forwards(info);
        let summary: Vec<_> = forwards
            .iter()
            .map(|f| {
                format!(
                    "{} {}:{} {}:{}",
                    f.netdev, f.host_addr, f.host_port, f.guest_addr, f.guest_port
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "net0 127.0.0.1:39577 10.0.2.15:1",
                "net0 0.0.0.0:15022 10.0.2.15:22",
                "lab.net 127.0.0.1:2222 10.0.2.15:22",
            ]
        );
    }

    #[test]
    fn text_that_is_no_listing_gives_no_forwards() {
        assert!(parse_forwards("").is_empty());
        assert!(parse_forwards("unknown command: 'info usernet'\n").is_empty());
        assert!(parse_forwards("  TCP[HOST_FORWARD] 8 127.0.0.1 1 10.0.2.15 22 0 0\n").is_empty());
    }
}
