//! The VM definition an ephemeral `run` instance boots: the VM's own, with a free host port
//! in place of every forward (guest ports kept), this run's kernel and extra kernel
//! arguments, QEMU's `-snapshot` for a cold boot (every disk write goes to a temporary
//! overlay QEMU deletes itself, so the VM's disks are only read), and every sync entry done
//! once, one way, by rsync (nothing may keep syncing into a VM that is about to vanish).

use std::path::{Path, PathBuf};

use super::host_ports::{self, NoFreePort};
use crate::config::hostfwd;
use crate::model::{KernelBoot, SyncEngine, Vm};

/// What a run changes in the VM's definition.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Boot this kernel image instead of the VM's.
    pub kernel: Option<PathBuf>,
    /// Added to the end of the kernel command line.
    pub append: Option<String>,
    /// A cold boot: the disks are opened through QEMU's throwaway overlays (`-snapshot`).
    /// Off for a start from a snapshot, whose machine must be exactly the saved one.
    pub throwaway_disks: bool,
}

/// The sync mode rsync implements.
const ONE_WAY: &str = "one-way-replica";

/// `vm` as this run's instance boots it.
pub fn instance_vm(vm: &Vm, overrides: &Overrides) -> Result<Vm, NoFreePort> {
    let mut instance = vm.clone();
    let mut remapped = Vec::new();
    for forward in &vm.host_forwards {
        remapped.push((forward.clone(), host_ports::free(forward)?));
    }
    let port_of = |old: &crate::model::HostForward| {
        remapped
            .iter()
            .find(|(forward, _)| forward == old)
            .map(|(_, new)| *new)
            .unwrap_or(old.host_port)
    };
    instance.args = hostfwd::with_host_ports(&vm.args, port_of);
    // The default network's forward of the SSH port is one of the VM's forwards too.
    for default in &mut instance.arch_defaults {
        default.words = hostfwd::with_host_ports(&default.words, port_of);
    }
    if let Some((_, new)) = remapped
        .iter()
        .find(|(forward, _)| forward.host_port == vm.ssh.port)
    {
        instance.ssh.port = *new;
    }
    for (forward, new) in instance.host_forwards.iter_mut().zip(&remapped) {
        forward.host_port = new.1;
    }
    if let Some(kernel) = &overrides.kernel {
        set_kernel(&mut instance, kernel);
    }
    if let Some(extra) = &overrides.append {
        append(&mut instance, extra);
    }
    if overrides.throwaway_disks {
        instance.args.push("-snapshot".into());
    }
    for entry in &mut instance.sync {
        entry.engine = SyncEngine::Rsync;
        entry.mode = ONE_WAY.into();
    }
    Ok(instance)
}

/// The value after the last `-flag`/`--flag` in the user's args (QEMU takes the last one).
fn option_value<'a>(args: &'a mut [String], flag: &str) -> Option<&'a mut String> {
    let (short, long) = (format!("-{flag}"), format!("--{flag}"));
    let position = args
        .iter()
        .rposition(|word| *word == short || *word == long)?;
    args.get_mut(position + 1)
}

fn set_kernel(vm: &mut Vm, kernel: &Path) {
    let text = kernel.to_string_lossy().into_owned();
    if let Some(boot) = vm.image.as_mut() {
        boot.kernel = Some(kernel.to_path_buf());
        return;
    }
    if let Some(boot) = vm.kernel_boot.as_mut() {
        boot.kernel = kernel.to_path_buf();
        return;
    }
    if kernel.is_dir() {
        // A kernel tree is resolved by `start` (its image, its modules after the initrd) only
        // as the VM's own kernel: the `-kernel` and `-initrd` of the args become that.
        let initrd = take_option(&mut vm.args, "initrd").map(PathBuf::from);
        take_option(&mut vm.args, "kernel");
        vm.kernel_boot = Some(KernelBoot {
            kernel: kernel.to_path_buf(),
            initrd,
            append: None,
        });
        return;
    }
    match option_value(&mut vm.args, "kernel") {
        Some(value) => *value = text,
        None => vm.args.extend(["-kernel".into(), text]),
    }
}

/// Removes every `-flag VALUE` (or `--flag`) from the args; the last value, as QEMU takes it.
fn take_option(args: &mut Vec<String>, flag: &str) -> Option<String> {
    let (short, long) = (format!("-{flag}"), format!("--{flag}"));
    let mut value = None;
    while let Some(at) = args.iter().position(|word| *word == short || *word == long) {
        let taken: Vec<String> = args.drain(at..(at + 2).min(args.len())).collect();
        value = taken.get(1).cloned().or(value);
    }
    value
}

fn append(vm: &mut Vm, extra: &str) {
    if let Some(boot) = vm.image.as_mut() {
        boot.append = Some(joined(boot.append.as_deref(), extra));
        return;
    }
    match option_value(&mut vm.args, "append") {
        Some(value) => *value = joined(Some(value), extra),
        None => vm.args.extend(["-append".into(), extra.to_string()]),
    }
}

fn joined(before: Option<&str>, extra: &str) -> String {
    match before {
        Some(before) if !before.trim().is_empty() => format!("{before} {extra}"),
        _ => extra.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fixtures, HostForward, Protocol, SyncSpec};

    fn demo() -> Vm {
        let mut vm = fixtures::vm("demo", 10022);
        vm.args = [
            "-kernel",
            "/g/vmlinuz",
            "-append",
            "console=ttyS0 quiet",
            "-netdev",
            "user,id=n,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=tcp::8080-:80",
        ]
        .map(String::from)
        .to_vec();
        vm.host_forwards = vec![
            HostForward {
                protocol: Protocol::Tcp,
                host_addr: "127.0.0.1".into(),
                host_port: 10022,
                guest_port: 22,
            },
            HostForward {
                protocol: Protocol::Tcp,
                host_addr: String::new(),
                host_port: 8080,
                guest_port: 80,
            },
        ];
        vm.sync = vec![SyncSpec {
            source: "/src".into(),
            dest: "/dst".into(),
            ignore_vcs: true,
            ignore: vec![],
            mode: "two-way-resolved".into(),
            engine: SyncEngine::Mutagen,
        }];
        vm
    }

    #[test]
    fn the_default_network_s_ssh_forward_gets_a_new_host_port_too() {
        // An image VM of another arch: its args only size it, the forward is the default's.
        let mut vm = fixtures::vm("arm", 10022);
        vm.args = ["-m", "1024"].map(String::from).to_vec();
        vm.arch_defaults = vec![crate::model::ArchDefault {
            what: "network",
            words: [
                "-netdev",
                "user,id=qcmdr-net,hostfwd=tcp:127.0.0.1:10022-:22",
                "-device",
                "virtio-net-pci,netdev=qcmdr-net",
            ]
            .map(String::from)
            .to_vec(),
            overridden_by: None,
        }];
        vm.host_forwards = vec![HostForward {
            protocol: Protocol::Tcp,
            host_addr: "127.0.0.1".into(),
            host_port: 10022,
            guest_port: 22,
        }];
        let instance = instance_vm(&vm, &Overrides::default()).unwrap();
        assert_ne!(instance.ssh.port, 10022);
        assert_eq!(
            instance.arch_defaults[0].words[1],
            format!(
                "user,id=qcmdr-net,hostfwd=tcp:127.0.0.1:{}-:22",
                instance.ssh.port
            )
        );
        assert_eq!(
            instance.arch_defaults[0].words[3],
            vm.arch_defaults[0].words[3]
        );
    }

    #[test]
    fn every_forward_gets_a_new_host_port_and_ssh_follows_its_own() {
        let vm = demo();
        let instance = instance_vm(&vm, &Overrides::default()).unwrap();
        let (ssh, web) = (&instance.host_forwards[0], &instance.host_forwards[1]);
        assert_ne!(ssh.host_port, 10022);
        assert_ne!(web.host_port, 8080);
        assert_eq!((ssh.guest_port, web.guest_port), (22, 80));
        assert_eq!(instance.ssh.port, ssh.host_port);
        assert_eq!(
            instance.args[5],
            format!(
                "user,id=n,hostfwd=tcp:127.0.0.1:{}-:22,hostfwd=tcp::{}-:80",
                ssh.host_port, web.host_port
            )
        );
        assert_eq!(instance.args[..5], vm.args[..5]);
        assert_eq!(instance.sync[0].engine, SyncEngine::Rsync);
        assert_eq!(instance.sync[0].mode, ONE_WAY);
        assert!(!instance.args.contains(&"-snapshot".to_string()));
    }

    #[test]
    fn a_kernel_tree_in_place_of_the_args_kernel_becomes_the_vms_kernel() {
        let tree = tempfile::tempdir().unwrap();
        let mut vm = demo();
        vm.args.extend(["-initrd".into(), "/g/initrd.gz".into()]);
        let overrides = Overrides {
            kernel: Some(tree.path().into()),
            append: None,
            throwaway_disks: false,
        };
        let instance = instance_vm(&vm, &overrides).unwrap();
        // `start` resolves the tree (its image, its modules after the initrd) from there.
        assert_eq!(
            instance.kernel_boot,
            Some(KernelBoot {
                kernel: tree.path().into(),
                initrd: Some("/g/initrd.gz".into()),
                append: None,
            })
        );
        assert!(
            !instance
                .args
                .iter()
                .any(|a| a == "-kernel" || a == "-initrd"),
            "{:?}",
            instance.args
        );
        assert!(instance
            .args
            .windows(2)
            .any(|w| w == ["-append", "console=ttyS0 quiet"]));
    }

    #[test]
    fn kernel_append_and_throwaway_disks() {
        let overrides = Overrides {
            kernel: Some("/k/bzImage".into()),
            append: Some("qcmdr.x=1".into()),
            throwaway_disks: true,
        };
        let instance = instance_vm(&demo(), &overrides).unwrap();
        assert_eq!(instance.args[1], "/k/bzImage");
        assert_eq!(instance.args[3], "console=ttyS0 quiet qcmdr.x=1");
        assert_eq!(instance.args.last().unwrap(), "-snapshot");

        let mut bare = fixtures::vm("bare", 2222);
        bare.args = vec!["-m".into(), "256".into()];
        let instance = instance_vm(&bare, &overrides).unwrap();
        assert_eq!(
            instance.args,
            [
                "-m",
                "256",
                "-kernel",
                "/k/bzImage",
                "-append",
                "qcmdr.x=1",
                "-snapshot"
            ]
        );
    }
}
