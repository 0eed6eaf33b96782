//! `hostfwd=` rules in the user's QEMU words → the host ports QEMU will bind.
//!
//! Knowing them at load time lets qcmdr refuse two VMs that would fight over one port before
//! either boots, instead of QEMU failing halfway through a multi-VM start.

use crate::model::{HostForward, Protocol};

/// Options whose value is a user-mode network spec that may carry `hostfwd=` rules (`-netdev`,
/// `-nic`, `-net`), spelled after their first dash so `-x` and `--x` both match.
const NETWORK_OPTIONS: &[&str] = &["netdev", "nic", "net"];

/// A malformed `hostfwd=` rule: `item` as written, and what is wrong with it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{item}: {why}")]
pub(crate) struct BadRule {
    item: String,
    why: RuleProblem,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum RuleProblem {
    #[error("expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport")]
    Shape,
    #[error("unknown protocol {0:?} (tcp or udp)")]
    Protocol(String),
    #[error("{side} port {text:?} is not a port number (1-65535)")]
    Port { side: &'static str, text: String },
}

/// Every `hostfwd=` rule in the values of `-netdev`/`-nic`/`-net` (or their `--` spellings).
/// An error names the malformed rule.
pub(crate) fn scan(words: &[String]) -> Result<Vec<HostForward>, BadRule> {
    let mut forwards = Vec::new();
    for pair in words.windows(2) {
        // QEMU accepts `--opt` for every `-opt`.
        let option = pair[0]
            .strip_prefix("--")
            .or_else(|| pair[0].strip_prefix('-'));
        if !option.is_some_and(|o| NETWORK_OPTIONS.contains(&o)) {
            continue;
        }
        for item in pair[1].split(',') {
            if let Some(rule) = item.strip_prefix("hostfwd=") {
                forwards.push(parse(rule).map_err(|why| BadRule {
                    item: item.to_string(),
                    why,
                })?);
            }
        }
    }
    Ok(forwards)
}

/// `words` with the host port of every `hostfwd=` rule replaced by `new_port(rule)`; all else
/// exactly as written. The words must have passed [`scan`] (config validation did that).
pub(crate) fn with_host_ports(
    words: &[String],
    mut new_port: impl FnMut(&HostForward) -> u16,
) -> Vec<String> {
    let mut out = words.to_vec();
    for index in 1..out.len() {
        let option = words[index - 1]
            .strip_prefix("--")
            .or_else(|| words[index - 1].strip_prefix('-'));
        if !option.is_some_and(|o| NETWORK_OPTIONS.contains(&o)) {
            continue;
        }
        let items: Vec<String> = words[index]
            .split(',')
            .map(|item| {
                let Some(rule) = item.strip_prefix("hostfwd=") else {
                    return item.to_string();
                };
                let (Ok(forward), Ok((protocol, host, guest))) = (parse(rule), split(rule)) else {
                    return item.to_string();
                };
                let (addr, _) = host.rsplit_once(':').unwrap_or(("", ""));
                format!("hostfwd={protocol}:{addr}:{}-{guest}", new_port(&forward))
            })
            .collect();
        out[index] = items.join(",");
    }
    out
}

/// A rule's protocol, host side (`addr:port`) and guest side, as written.
fn split(rule: &str) -> Result<(&str, &str, &str), RuleProblem> {
    const SHAPE: RuleProblem = RuleProblem::Shape;
    let (protocol, rest) = rule.split_once(':').ok_or(SHAPE)?;
    // The host part ends at the first '-' after the host address; an IPv6 address in brackets
    // holds colons but no '-', so splitting after the brackets is safe.
    let host_end = if rest.starts_with('[') {
        rest.find(']').ok_or(SHAPE)? + 1
    } else {
        0
    };
    let dash = host_end + rest[host_end..].find('-').ok_or(SHAPE)?;
    Ok((protocol, &rest[..dash], &rest[dash + 1..]))
}

/// `[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport` (QEMU's syntax; an empty protocol
/// means tcp, an empty host address means every address).
fn parse(rule: &str) -> Result<HostForward, RuleProblem> {
    const SHAPE: RuleProblem = RuleProblem::Shape;
    let (protocol, host, guest) = split(rule)?;
    let protocol = match protocol {
        "" | "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => return Err(RuleProblem::Protocol(other.to_string())),
    };
    let (host_addr, host_port) = host.rsplit_once(':').ok_or(SHAPE)?;
    let (_, guest_port) = guest.rsplit_once(':').ok_or(SHAPE)?;
    Ok(HostForward {
        protocol,
        host_addr: host_addr.to_string(),
        host_port: port(host_port, "host")?,
        guest_port: port(guest_port, "guest")?,
    })
}

fn port(text: &str, side: &'static str) -> Result<u16, RuleProblem> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(RuleProblem::Port {
            side,
            text: text.to_string(),
        }),
    }
}

/// Whether ssh to `host` goes to this machine (where the forwards listen).
pub(crate) fn is_local_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case("ip6-localhost")
        || host == "::1"
        || host.starts_with("127.")
}

/// Whether a forward bound to `addr` answers on the loopback address.
pub(crate) fn binds_locally(addr: &str) -> bool {
    addr.is_empty() || addr == "0.0.0.0" || is_local_host(addr)
}

/// Whether two forwards would bind the same host socket: same protocol and port, and the same
/// address or one of them on every address.
pub(crate) fn clash(a: &HostForward, b: &HostForward) -> bool {
    let any = |addr: &str| addr.is_empty() || addr == "0.0.0.0";
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_addr == b.host_addr || any(&a.host_addr) || any(&b.host_addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn fwd(protocol: Protocol, host_addr: &str, host_port: u16, guest_port: u16) -> HostForward {
        HostForward {
            protocol,
            host_addr: host_addr.into(),
            host_port,
            guest_port,
        }
    }

    #[test]
    fn host_ports_are_replaced_and_nothing_else() {
        let words = words(&[
            "-netdev",
            "user,id=n0,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=udp::5353-10.0.2.15:53",
            "-device",
            "virtio-net-pci,netdev=n0",
            "--nic",
            "user,hostfwd=tcp:[::1]:2222-:22",
        ]);
        let mut next = 40000;
        let out = with_host_ports(&words, |forward| {
            next += 1;
            assert!([10022, 5353, 2222].contains(&forward.host_port));
            next
        });
        assert_eq!(
            out,
            [
                "-netdev",
                "user,id=n0,hostfwd=tcp:127.0.0.1:40001-:22,hostfwd=udp::40002-10.0.2.15:53",
                "-device",
                "virtio-net-pci,netdev=n0",
                "--nic",
                "user,hostfwd=tcp:[::1]:40003-:22",
            ]
        );
        let rescanned: Vec<u16> = scan(&out).unwrap().iter().map(|f| f.host_port).collect();
        assert_eq!(rescanned, [40001, 40002, 40003]);
    }

    #[test]
    fn finds_rules_in_every_network_option() {
        let found = scan(&words(&[
            "-m",
            "256",
            "-netdev",
            "user,id=n0,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=udp::5353-10.0.2.15:53",
            "--nic",
            "user,hostfwd=::8080-:80",
            "-net",
            "user,hostfwd=tcp:[::1]:2222-:22",
        ]))
        .unwrap();
        assert_eq!(
            found,
            [
                fwd(Protocol::Tcp, "127.0.0.1", 10022, 22),
                fwd(Protocol::Udp, "", 5353, 53),
                fwd(Protocol::Tcp, "", 8080, 80),
                fwd(Protocol::Tcp, "[::1]", 2222, 22),
            ]
        );
    }

    #[test]
    fn ignores_other_options() {
        let found = scan(&words(&[
            "-append",
            "hostfwd=tcp::1-:2",
            "-device",
            "e1000",
        ]));
        assert_eq!(found.unwrap(), []);
    }

    #[test]
    fn malformed_rules_are_named() {
        let err = scan(&words(&["-netdev", "user,hostfwd=tcp::abc-:22"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"hostfwd=tcp::abc-:22: host port "abc" is not a port number (1-65535)"#
        );
        let err = scan(&words(&["-nic", "user,hostfwd=sctp::1-:2"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"hostfwd=sctp::1-:2: unknown protocol "sctp" (tcp or udp)"#
        );
        let err = scan(&words(&["-nic", "user,hostfwd=tcp::22"])).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("expected [tcp|udp]:"), "{err}");
    }

    #[test]
    fn clashes() {
        let all = fwd(Protocol::Tcp, "", 22, 22);
        let local = fwd(Protocol::Tcp, "127.0.0.1", 22, 2);
        let other = fwd(Protocol::Tcp, "127.0.0.2", 22, 2);
        assert!(clash(&all, &local));
        assert!(clash(&local, &local));
        assert!(!clash(&local, &other));
        assert!(!clash(&all, &fwd(Protocol::Udp, "", 22, 22)));
        assert!(!clash(&all, &fwd(Protocol::Tcp, "", 23, 22)));
    }
}
