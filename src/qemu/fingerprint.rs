//! The guest-visible machine as a map option → values, so a saved state is only loaded into
//! the machine it came from, and a refusal can say exactly what changed (`-m: 256 -> 512`).
//!
//! Everything the guest cannot see is left out: the binary (its version is checked
//! separately), qcmdr's plumbing (`-pidfile`, the `qcmdr-*` chardevs and monitors, the serial
//! port on them), `-name`, `-incoming`, and the host side of `hostfwd=` rules (address and
//! port), which may differ between a save and a restore.

use std::collections::BTreeMap;

use crate::qemu::argv::{MONITOR_CHARDEV, QMP_CHARDEV, SERIAL_CHARDEV};

/// Option (spelled with one dash) → its values, in command-line order. Flags map to `[""]`
/// per occurrence.
pub type Fingerprint = BTreeMap<String, Vec<String>>;

/// QEMU options that take no value (from `qemu-system-* -h`, plus a few older spellings).
const FLAGS: &[&str] = &[
    "S",
    "s",
    "snapshot",
    "nographic",
    "no-reboot",
    "no-shutdown",
    "enable-kvm",
    "no-acpi",
    "no-hpet",
    "nodefaults",
    "no-user-config",
    "daemonize",
    "only-migratable",
    "mem-prealloc",
    "usb",
    "portrait",
    "full-screen",
    "win2k-hack",
    "no-fd-bootchk",
    "singlestep",
    "preconfig",
    "xen-attach",
    "xen-domid-restrict",
    "enable-sync-profile",
    "no-quit",
    "alt-grab",
    "ctrl-grab",
    "no-frame",
    "rtc-td-hack",
    "no-kvm",
    "curses",
    "version",
    "audio-help",
];

/// Options whose value the guest never sees.
const HOST_ONLY: &[&str] = &[
    "name",
    "pidfile",
    "incoming",
    "qmp",
    "qmp-pretty",
    "monitor",
];

/// The fingerprint of a full QEMU argv (`argv[0]` is the binary).
pub fn of_argv(argv: &[String]) -> Fingerprint {
    let mut map = Fingerprint::new();
    let mut words = argv.iter().skip(1).peekable();
    while let Some(word) = words.next() {
        let Some(option) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            // A bare word is QEMU's first disk image (`qemu-system-x86_64 disk.img`).
            map.entry("hda".to_string()).or_default().push(word.clone());
            continue;
        };
        let value = if FLAGS.contains(&option) {
            String::new()
        } else {
            words.next().cloned().unwrap_or_default()
        };
        if HOST_ONLY.contains(&option) || is_plumbing(option, &value) {
            continue;
        }
        let value = if ["netdev", "nic", "net"].contains(&option) {
            without_host_side(&value)
        } else {
            value
        };
        map.entry(option.to_string()).or_default().push(value);
    }
    map
}

/// One line per changed option, e.g. `-m: 256 -> 512`; empty when equal.
pub fn differences(saved: &Fingerprint, now: &Fingerprint) -> Vec<String> {
    let mut keys: Vec<&String> = saved.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = Vec::new();
    keys.into_iter()
        .filter_map(|key| {
            let (before, after) = (
                saved.get(key).unwrap_or(&none),
                now.get(key).unwrap_or(&none),
            );
            (before != after).then(|| format!("-{key}: {} -> {}", shown(before), shown(after)))
        })
        .collect()
}

fn shown(values: &[String]) -> String {
    match values {
        [] => "(absent)".to_string(),
        [only] if only.is_empty() => "(set)".to_string(),
        [only] => only.clone(),
        many => format!("[{}]", many.join(" | ")),
    }
}

fn is_plumbing(option: &str, value: &str) -> bool {
    let ours = |id: &str| {
        value.split(',').any(|item| {
            item == format!("id={id}")
                || item == format!("chardev={id}")
                || item == format!("chardev:{id}")
        }) || value == format!("chardev:{id}")
    };
    match option {
        "chardev" | "mon" | "serial" => [QMP_CHARDEV, MONITOR_CHARDEV, SERIAL_CHARDEV]
            .iter()
            .any(|id| ours(id)),
        _ => false,
    }
}

/// `user,id=n,hostfwd=tcp:127.0.0.1:10022-:22` → `user,id=n,hostfwd=tcp:*-:22`.
fn without_host_side(value: &str) -> String {
    value
        .split(',')
        .map(|item| match item.strip_prefix("hostfwd=") {
            Some(rule) => {
                let protocol = rule.split(':').next().unwrap_or("");
                let guest = rule
                    .rsplit_once('-')
                    .map(|(_, guest)| guest)
                    .unwrap_or(rule);
                format!("hostfwd={protocol}:*-{guest}")
            }
            None => item.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        shlex::split(text).unwrap()
    }

    #[test]
    fn plumbing_name_and_host_ports_are_left_out() {
        let a = of_argv(&words(
            "/usr/bin/qemu-system-x86_64 -m 256 -S -netdev user,id=n,hostfwd=tcp:127.0.0.1:10022-:22 \
             -name demo -pidfile /a/qemu.pid \
             -chardev socket,id=qcmdr-qmp,path=/a/qmp.sock,server=on,wait=off -mon chardev=qcmdr-qmp,mode=control \
             -chardev socket,id=qcmdr-serial,path=/a/s.sock,server=on,wait=off,logfile=/a/serial.log \
             -serial chardev:qcmdr-serial -incoming defer",
        ));
        let b = of_argv(&words(
            "/opt/q/qemu-system-x86_64 -m 256 -S -netdev user,id=n,hostfwd=tcp:127.0.0.1:40000-:22 -name other",
        ));
        assert_eq!(a, b);
        assert_eq!(a["S"], vec![String::new()]);
        assert_eq!(a["netdev"], vec!["user,id=n,hostfwd=tcp:*-:22".to_string()]);
        assert!(differences(&a, &b).is_empty());
    }

    #[test]
    fn a_change_names_the_option_and_both_values() {
        let saved = of_argv(&words("q -m 1024 -device virtio-net-pci,netdev=n"));
        let now = of_argv(&words(
            "q -m 1536 -device virtio-net-pci,netdev=n -device virtio-rng-pci",
        ));
        assert_eq!(
            differences(&saved, &now),
            vec![
                "-device: virtio-net-pci,netdev=n -> [virtio-net-pci,netdev=n | virtio-rng-pci]",
                "-m: 1024 -> 1536",
            ]
        );
        let gone = of_argv(&words("q"));
        assert_eq!(differences(&saved, &gone)[1], "-m: 1024 -> (absent)");
    }

    #[test]
    fn guest_side_of_a_forward_counts() {
        let a = of_argv(&words("q -nic user,hostfwd=tcp::2222-:22"));
        let b = of_argv(&words("q -nic user,hostfwd=tcp::2222-:23"));
        assert_eq!(differences(&a, &b).len(), 1);
    }
}
