//! Seeing from the host when the guest's network is up, without knocking on sshd's door.
//!
//! QEMU's user network accepts a connection to a forwarded host port at once, whatever the
//! guest's state, and passes the SYN on to the guest. While the guest has no address yet the
//! SYN goes unanswered and QEMU retries it for up to 75 s, 6 s apart and more, even after the
//! host side gave up and closed (it does not look at the host socket before the guest
//! answers). Probing sshd's forward that early therefore reaches sshd later, in a burst of
//! connections nobody uses: enough of them fill its `MaxStartups` and it drops the real login.
//!
//! So before the guest has answered anything, qcmdr probes a forward of its own instead: a
//! free loopback port forwarded (over QMP, at run time) to port 1 of the SSH forward's guest
//! address, where nothing listens. Replays there are refused by the guest's kernel and cost
//! nothing. The first fresh probe that is refused (or answered) says the network is up; the
//! forward is removed and probing moves to sshd, where each probe is now answered at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::qemu::qmp::{Qmp, QmpError};
use crate::qemu::usernet::{self, UsernetError};

/// The guest port the canary forward leads to: tcpmux, in practice never served.
const CANARY_GUEST_PORT: u16 = 1;
/// Bound of each QMP exchange (the greeting comes once QEMU's main loop runs).
const QMP_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub(super) enum CanaryError {
    /// QEMU's QMP socket is not there yet or not listening: worth another try shortly.
    #[error(transparent)]
    NotYet(QmpError),
    #[error("no user-network forward serves host port {0} (not QEMU's user network?)")]
    NoSshForward(u16),
    #[error(transparent)]
    Usernet(#[from] UsernetError),
}

/// A forward from a loopback port to a closed port of the guest, removed when dropped.
#[derive(Debug)]
pub(super) struct NetworkCanary {
    qmp_socket: PathBuf,
    netdev: String,
    pub(super) host_port: u16,
}

impl NetworkCanary {
    /// Adds the canary forward beside the user-network forward that serves `ssh_port`.
    pub(super) fn open(qmp_socket: &Path, ssh_port: u16) -> Result<Self, CanaryError> {
        let mut qmp = Qmp::connect(qmp_socket, QMP_TIMEOUT).map_err(|err| match err {
            QmpError::Connect { .. } => CanaryError::NotYet(err),
            other => CanaryError::Usernet(other.into()),
        })?;
        let ssh = usernet::forwards(&mut qmp)?
            .into_iter()
            .find(|forward| forward.host_port == ssh_port)
            .ok_or(CanaryError::NoSshForward(ssh_port))?;
        let host_port =
            usernet::add_forward(&mut qmp, &ssh.netdev, ssh.guest_addr, CANARY_GUEST_PORT)?;
        Ok(NetworkCanary {
            qmp_socket: qmp_socket.to_path_buf(),
            netdev: ssh.netdev,
            host_port,
        })
    }
}

impl Drop for NetworkCanary {
    fn drop(&mut self) {
        // Best effort: a forward left behind only leads to a closed guest port, and it goes
        // with QEMU.
        if let Ok(mut qmp) = Qmp::connect(&self.qmp_socket, QMP_TIMEOUT) {
            let _ = usernet::remove_forward(&mut qmp, &self.netdev, self.host_port);
        }
    }
}
