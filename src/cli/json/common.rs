//! Pieces several documents share: times, durations, forwarded ports, a VM's runtime paths.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::model::HostForward;
use crate::state_dir::paths::VmPaths;

/// Seconds since the Unix epoch, with microseconds.
pub fn timestamp(at: SystemTime) -> f64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_micros() as f64) / 1e6
}

/// Seconds, with microseconds.
pub fn seconds(duration: Duration) -> f64 {
    (duration.as_micros() as f64) / 1e6
}

#[derive(Debug, Serialize)]
pub struct Paths {
    pub dir: PathBuf,
    pub pidfile: PathBuf,
    pub serial_log: PathBuf,
    pub qemu_log: PathBuf,
    pub qmp_socket: PathBuf,
    pub monitor_socket: PathBuf,
    pub serial_socket: PathBuf,
    pub ssh_config: PathBuf,
}

impl Paths {
    pub fn new(paths: &VmPaths, ssh_config: &Path) -> Self {
        Paths {
            dir: paths.dir.clone(),
            pidfile: paths.pidfile.clone(),
            serial_log: paths.serial_log.clone(),
            qemu_log: paths.qemu_log.clone(),
            qmp_socket: paths.qmp_socket.clone(),
            monitor_socket: paths.monitor_socket.clone(),
            serial_socket: paths.serial_socket.clone(),
            ssh_config: ssh_config.to_path_buf(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Forward {
    pub protocol: &'static str,
    pub host_addr: String,
    pub host_port: u16,
    pub guest_port: u16,
}

impl Forward {
    pub fn list(forwards: &[HostForward]) -> Vec<Forward> {
        forwards
            .iter()
            .map(|f| Forward {
                protocol: f.protocol.as_str(),
                host_addr: f.host_addr.clone(),
                host_port: f.host_port,
                guest_port: f.guest_port,
            })
            .collect()
    }
}
