//! Free host ports for a run's instance: the kernel picks one (bind to port 0) on the
//! forward's own address and protocol; the socket is closed again for QEMU to bind, and
//! `start`'s port check reports the rare port taken in between by someone else.

use std::net::{TcpListener, UdpSocket};

use crate::model::{HostForward, Protocol};

#[derive(Debug, thiserror::Error)]
#[error("no free {} port on {address} for the forward to guest port {guest_port}", .protocol.as_str())]
pub struct NoFreePort {
    pub protocol: Protocol,
    pub address: String,
    pub guest_port: u16,
    #[source]
    pub source: std::io::Error,
}

/// A port nobody uses right now where `forward` binds.
pub fn free(forward: &HostForward) -> Result<u16, NoFreePort> {
    let address = match forward.host_addr.as_str() {
        "" => "0.0.0.0",
        // The loopback addresses QEMU resolves these names to.
        "localhost" => "127.0.0.1",
        "ip6-localhost" => "::1",
        other => other.trim_matches(['[', ']']),
    }
    .to_string();
    let port = match forward.protocol {
        Protocol::Tcp => TcpListener::bind((address.as_str(), 0)).and_then(|l| l.local_addr()),
        Protocol::Udp => UdpSocket::bind((address.as_str(), 0)).and_then(|s| s.local_addr()),
    };
    port.map(|addr| addr.port()).map_err(|source| NoFreePort {
        protocol: forward.protocol,
        address,
        guest_port: forward.guest_port,
        source,
    })
}
