//! The per-architecture defaults a VM gets when it has them on (`arch_defaults`, on by
//! default for a VM with `image`): machine, accelerator, CPU, firmware and network, each one
//! only where the VM's own `args` say nothing about it.
//!
//! Why only then: a config written for the ancestor has no `image` and no `arch_defaults`
//! key, so it gets none of this and its argv stays exactly what it was.

use super::problems::Scope;
use crate::model::arch::{self, ArchDefault, Profile};
use crate::model::{HostForward, Protocol};

/// What [`resolve`] needs to know about the VM besides its arch and args.
pub(crate) struct Inputs<'a> {
    pub arch: &'a str,
    pub args: &'a [String],
    /// The VM boots a kernel (`-kernel` in args or from its image): no disk firmware needed.
    pub has_kernel: bool,
    /// SSH `HostName` and `Port`: the default network forwards the port when the host is local.
    pub ssh: (&'a str, u16),
}

/// [`resolve`] for a VM that has the defaults on; `has_image`: they are on because it has
/// an image (an arch without defaults then simply gets none), else `arch_defaults = true`
/// asked for them (and an arch without defaults is a problem).
pub(crate) fn for_vm(
    scope: &mut Scope<'_>,
    inputs: &Inputs<'_>,
    has_image: bool,
) -> Option<(Vec<ArchDefault>, Option<HostForward>)> {
    if has_image || arch::profile(inputs.arch).is_some() {
        return resolve(scope, inputs);
    }
    let known: Vec<&str> = arch::PROFILES.iter().map(|p| p.arch).collect();
    scope.problem(
        "arch_defaults",
        format!(
            "qcmdr has defaults for {} only, not {:?}; give the machine in args",
            known.join(", "),
            inputs.arch
        ),
    );
    None
}

/// The defaults and the host port forward the default network adds (if it does), or `None`
/// after reporting a clash between a default and the args.
pub(crate) fn resolve(
    scope: &mut Scope<'_>,
    inputs: &Inputs<'_>,
) -> Option<(Vec<ArchDefault>, Option<HostForward>)> {
    let Some(profile) = arch::profile(inputs.arch) else {
        return Some((Vec::new(), None));
    };
    let args = inputs.args;
    let mut defaults = Vec::new();
    let mut push = |what, words: &[&str], overridden_by: Option<String>| {
        defaults.push(ArchDefault {
            what,
            words: words.iter().map(|w| w.to_string()).collect(),
            overridden_by,
        });
    };

    push(
        "machine",
        &["-machine", profile.machine],
        given(args, &["-machine", "-M"]),
    );
    let user_accel = accel_in(args);
    let whose_accel = match &user_accel {
        Some((option, _)) => format!("{option} in args"),
        None => format!("qcmdr's default for {}", inputs.arch),
    };
    push(
        "accel",
        &["-accel", "tcg"],
        user_accel.as_ref().map(|(option, _)| option.clone()),
    );
    let accel = user_accel.map_or("tcg".to_string(), |(_, name)| name);
    let cpu = if accel == "kvm" {
        "host"
    } else {
        profile.tcg_cpu
    };
    let user_cpu = given(args, &["-cpu"]);
    let cpu_model = value_of(args, "-cpu").and_then(|v| v.split(',').next());
    if cpu_model == Some("host") && accel != "kvm" {
        scope.problem(
            "args",
            format!(
                "-cpu host needs KVM, but the accelerator is {accel} ({whose_accel}); add \
                 \"-accel kvm\" to args or remove -cpu (qcmdr then picks its TCG CPU)"
            ),
        );
        return None;
    }
    push("cpu", &["-cpu", cpu], user_cpu);
    if let Some(firmware) = firmware(profile, inputs.has_kernel) {
        push(
            "firmware",
            &["-bios", firmware],
            given(args, &["-bios", "-pflash"]).or_else(|| pflash_drive(args)),
        );
    }

    let user_net = given(args, &["-netdev", "-nic", "-net"]);
    let (host, port) = inputs.ssh;
    let forward = match user_net {
        None if is_local(host) => Some(HostForward {
            protocol: Protocol::Tcp,
            host_addr: "127.0.0.1".to_string(),
            host_port: port,
            guest_port: 22,
        }),
        _ => None,
    };
    let netdev = match &forward {
        Some(f) => format!(
            "user,id=qcmdr-net,hostfwd=tcp:127.0.0.1:{}-:22",
            f.host_port
        ),
        None => "user,id=qcmdr-net".to_string(),
    };
    push(
        "network",
        &[
            "-netdev",
            &netdev,
            "-device",
            "virtio-net-pci,netdev=qcmdr-net",
        ],
        user_net,
    );
    Some((defaults, forward))
}

/// The firmware `-bios` the machine needs: its own always (riscv64's OpenSBI), or UEFI to
/// boot a disk without a kernel (aarch64).
fn firmware(profile: &Profile, has_kernel: bool) -> Option<&'static str> {
    match (profile.firmware, profile.disk_firmware) {
        (Some(firmware), _) => Some(firmware),
        (None, Some((uefi, _))) if !has_kernel => Some(uefi),
        _ => None,
    }
}

/// Whether `args` give `-kernel` themselves.
pub(crate) fn args_have_kernel(args: &[String]) -> bool {
    given(args, &["-kernel"]).is_some()
}

/// The first of `options` in `args` (QEMU takes `-opt` and `--opt` alike), as written.
fn given(args: &[String], options: &[&str]) -> Option<String> {
    args.iter()
        .find(|a| {
            options
                .iter()
                .any(|o| a.as_str() == *o || a.strip_prefix('-') == Some(o))
        })
        .cloned()
}

/// The word after the first `option` (or `-option`).
fn value_of<'a>(args: &'a [String], option: &str) -> Option<&'a str> {
    let at = args
        .iter()
        .position(|a| a == option || a.strip_prefix('-') == Some(option))?;
    args.get(at + 1).map(String::as_str)
}

/// The accelerator `args` choose, as (the option that says so, the accelerator's name):
/// `-accel NAME[,...]`, `-enable-kvm`, or `accel=NAME[:...]` inside `-machine`.
fn accel_in(args: &[String]) -> Option<(String, String)> {
    if let Some(option) = given(args, &["-accel"]) {
        let name = value_of(args, "-accel").unwrap_or_default();
        return Some((option, name.split(',').next().unwrap_or("").to_string()));
    }
    if let Some(option) = given(args, &["-enable-kvm"]) {
        return Some((option, "kvm".to_string()));
    }
    let machine = value_of(args, "-machine").or_else(|| value_of(args, "-M"))?;
    let accel = machine
        .split(',')
        .find_map(|part| part.strip_prefix("accel="))?;
    Some((
        "-machine accel=".to_string(),
        accel.split(':').next().unwrap_or("").to_string(),
    ))
}

/// A `-drive ...,if=pflash` (firmware given as a flash drive).
fn pflash_drive(args: &[String]) -> Option<String> {
    args.windows(2)
        .find(|w| {
            (w[0] == "-drive" || w[0] == "--drive")
                && w[1].split(',').any(|part| part == "if=pflash")
        })
        .map(|w| format!("{} {}", w[0], w[1]))
}

/// The default network forwards to 127.0.0.1: only an SSH host on this machine reaches it.
fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::problems::Report;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn run(arch: &str, args: &str, has_kernel: bool) -> Result<Vec<ArchDefault>, String> {
        let mut report = Report::default();
        let args = words(args);
        let result = {
            let mut scope = Scope::new("vms[1] \"a\"", &mut report);
            resolve(
                &mut scope,
                &Inputs {
                    arch,
                    args: &args,
                    has_kernel,
                    ssh: ("localhost", 2222),
                },
            )
        };
        result
            .map(|(defaults, _)| defaults)
            .ok_or_else(|| report.problems.join("\n"))
    }

    fn added(defaults: &[ArchDefault]) -> String {
        defaults
            .iter()
            .flat_map(|d| d.added().iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn aarch64_with_a_kernel_gets_virt_tcg_max_and_a_network() {
        let defaults = run("aarch64", "-m 512 -kernel k", true).unwrap();
        assert_eq!(
            added(&defaults),
            "-machine virt -accel tcg -cpu max,pauth-impdef=on -netdev \
             user,id=qcmdr-net,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=qcmdr-net"
        );
    }

    #[test]
    fn aarch64_without_a_kernel_gets_uefi_and_riscv64_always_opensbi() {
        let defaults = run("aarch64", "-netdev user,id=n", false).unwrap();
        assert!(
            added(&defaults).contains("-bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd"),
            "{defaults:?}"
        );
        let defaults = run("riscv64", "-netdev user,id=n", true).unwrap();
        assert_eq!(
            added(&defaults),
            "-machine virt -accel tcg -cpu rv64 -bios default"
        );
    }

    #[test]
    fn args_override_each_default_and_are_named() {
        let defaults = run(
            "aarch64",
            "--machine virt,gic-version=3 -cpu cortex-a72 -nic user -bios fw.bin",
            false,
        )
        .unwrap();
        let by: Vec<_> = defaults
            .iter()
            .map(|d| (d.what, d.overridden_by.clone()))
            .collect();
        assert_eq!(
            by,
            [
                ("machine", Some("--machine".to_string())),
                ("accel", None),
                ("cpu", Some("-cpu".to_string())),
                ("firmware", Some("-bios".to_string())),
                ("network", Some("-nic".to_string())),
            ]
        );
        assert_eq!(added(&defaults), "-accel tcg");
    }

    #[test]
    fn kvm_in_args_picks_cpu_host_and_no_second_accel() {
        for args in ["-accel kvm", "-enable-kvm", "-machine q35,accel=kvm:tcg"] {
            let defaults = run("x86_64", &format!("{args} -nic user"), true).unwrap();
            let text = added(&defaults);
            assert!(text.contains("-cpu host"), "{args}: {text}");
            assert!(!text.contains("-accel"), "{args}: {text}");
        }
    }

    #[test]
    fn cpu_host_under_tcg_is_a_named_clash() {
        let why = run("aarch64", "-cpu host,pmu=on", true).unwrap_err();
        assert!(
            why.contains("args: -cpu host needs KVM, but the accelerator is tcg (qcmdr's default for aarch64)"),
            "{why}"
        );
        assert!(why.contains("add \"-accel kvm\""), "{why}");
        let why = run("x86_64", "-accel tcg -cpu host", true).unwrap_err();
        assert!(
            why.contains("the accelerator is tcg (-accel in args)"),
            "{why}"
        );
    }

    #[test]
    fn arches_without_a_profile_get_nothing() {
        assert_eq!(run("ppc64", "", true).unwrap(), vec![]);
    }

    #[test]
    fn pflash_drive_counts_as_firmware() {
        let defaults = run(
            "aarch64",
            "-drive if=pflash,format=raw,file=f.fd -nic user",
            false,
        )
        .unwrap();
        assert_eq!(
            added(&defaults),
            "-machine virt -accel tcg -cpu max,pauth-impdef=on"
        );
    }
}
