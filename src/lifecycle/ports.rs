//! Host ports a VM forwards must be free before QEMU starts: QEMU would fail late with a
//! vague message, and Lima users lose minutes to exactly that. Who holds a taken port is
//! looked up in /proc so the error can name it, and name the VM when it is one of ours.

use std::fs;
use std::net::{TcpListener, UdpSocket};

use crate::model::{HostForward, Protocol, Vm};
use crate::runtime::process::read_cmdline;
use crate::state_dir::paths::StateDir;

#[derive(Debug, thiserror::Error)]
#[error("host port {port}/{protocol} is already in use{by}; free it or change the hostfwd rule", by = holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
pub struct PortTaken {
    pub port: u16,
    pub protocol: &'static str,
    /// `VM "name" (pid N)` or `pid N (program)` when it could be found.
    pub holder: Option<String>,
}

/// Fails on the first forwarded host port that cannot be bound right now.
pub fn check_free(vm: &Vm, state: &StateDir) -> Result<(), PortTaken> {
    for forward in &vm.host_forwards {
        if !can_bind(forward) {
            return Err(PortTaken {
                port: forward.host_port,
                protocol: forward.protocol.as_str(),
                holder: find_holder(forward, state),
            });
        }
    }
    Ok(())
}

fn can_bind(forward: &HostForward) -> bool {
    let addr = if forward.host_addr.is_empty() {
        "0.0.0.0"
    } else {
        forward.host_addr.as_str()
    };
    match forward.protocol {
        Protocol::Tcp => TcpListener::bind((addr, forward.host_port)).is_ok(),
        Protocol::Udp => UdpSocket::bind((addr, forward.host_port)).is_ok(),
    }
}

fn find_holder(forward: &HostForward, state: &StateDir) -> Option<String> {
    let inodes = socket_inodes(forward);
    if inodes.is_empty() {
        return None;
    }
    let (pid, cmdline) = owner_of(&inodes)?;
    Some(describe(pid, &cmdline, state))
}

/// Inodes of sockets bound to the port (listening, for TCP).
fn socket_inodes(forward: &HostForward) -> Vec<String> {
    let tables: &[&str] = match forward.protocol {
        Protocol::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
        Protocol::Udp => &["/proc/net/udp", "/proc/net/udp6"],
    };
    let mut inodes = Vec::new();
    for table in tables {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            let listening = forward.protocol == Protocol::Udp || fields[3] == "0A";
            if port == Some(forward.host_port) && listening {
                inodes.push(fields[9].to_string());
            }
        }
    }
    inodes
}

fn owner_of(inodes: &[String]) -> Option<(i32, Vec<String>)> {
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = fs::read_link(fd.path()) {
                if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                    return Some((pid, read_cmdline(pid).unwrap_or_default()));
                }
            }
        }
    }
    None
}

/// Names the VM when the holder is a QEMU of this state dir (its pidfile lies in it).
fn describe(pid: i32, cmdline: &[String], state: &StateDir) -> String {
    let vms_dir = state.vms_dir();
    let vm_name = cmdline
        .windows(2)
        .filter(|pair| pair[0] == "-pidfile")
        .find_map(|pair| {
            let pidfile = std::path::Path::new(&pair[1]);
            let dir = pidfile.parent()?;
            let name = dir.file_name()?.to_string_lossy().into_owned();
            crate::state_dir::same_file::same_file(dir.parent()?, &vms_dir).then_some(name)
        });
    match vm_name {
        Some(name) => format!("VM \"{name}\" (pid {pid})"),
        None => {
            let program = cmdline
                .first()
                .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
                .unwrap_or_else(|| "unknown program".into());
            format!("pid {pid} ({program})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(port: u16) -> HostForward {
        HostForward {
            protocol: Protocol::Tcp,
            host_addr: "127.0.0.1".into(),
            host_port: port,
            guest_port: 22,
        }
    }

    #[test]
    fn taken_port_names_this_process() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let f = forward(port);
        assert!(!can_bind(&f));
        let holder = find_holder(&f, &StateDir::new("/nonexistent/.qcmdr")).unwrap();
        assert!(
            holder.contains(&format!("pid {}", std::process::id())),
            "{holder}"
        );
        drop(listener);
        assert!(can_bind(&f));
    }
}
