//! VMs of three architectures from one config, on the per-arch defaults (machine, CPU,
//! firmware, network all left to qcmdr) and the test guest of each arch, under TCG: booted
//! to SSH, `exec uname -m`, `run uname -m` (and a run's exit code), and a snapshot saved and
//! started from on aarch64.

use std::fs;

use crate::support::{arch_guest_dir, free_port, guest_dir, Project};

/// One VM of `arch` on `guest`, with only memory, the guest's kernel and its console in args.
fn vm_lua(name: &str, arch: &str, guest: &str, console: &str, port: u16) -> String {
    format!(
        r#"    {{
      name = "{name}", arch = "{arch}", arch_defaults = true,
      login_timeout = 300, ssh_timeout = 120, stop_timeout = 30,
      ssh = {{ Port = {port}, User = "root", IdentityFile = "{guest}/id_ed25519" }},
      args = {{
        "-m 256", "-display none",
        "-kernel {guest}/vmlinuz", "-initrd {guest}/initrd.gz",
        "-append", '"console={console} quiet"',
      }},
    }},
"#
    )
}

fn text(path: std::path::PathBuf) -> String {
    path.to_str().unwrap().to_string()
}

#[test]
fn vm_arch_three_arches_of_one_config_boot_exec_and_foreign_ones_snapshot() {
    let x86 = text(guest_dir());
    let arm = text(arch_guest_dir("aarch64"));
    let rv = text(arch_guest_dir("riscv64"));
    let project = Project::new(vec![]);
    let vms = [
        vm_lua("x86", "x86_64", &x86, "ttyS0", free_port()),
        vm_lua("arm", "aarch64", &arm, "ttyAMA0", free_port()),
        vm_lua("rv", "riscv64", &rv, "ttyS0", free_port()),
    ]
    .concat();
    fs::write(
        project.config(),
        format!("return {{\n  vms = {{\n{vms}  }},\n}}\n"),
    )
    .unwrap();

    // What the defaults made of each, before anything runs.
    for (vm, machine, cpu) in [
        ("x86", "q35", "max"),
        ("arm", "virt", "'max,pauth-impdef=on'"),
        ("rv", "virt", "rv64"),
    ] {
        let show = project.ok(&["show", vm]);
        assert!(
            show.stdout
                .contains(&format!(" -machine {machine} -accel tcg -cpu {cpu} ")),
            "{show}"
        );
    }

    // One boot per arch (one at a time: TCG guests of foreign arches are slow to boot);
    // aarch64 then saves a snapshot, stops, and starts again from it. (riscv64 is left out of
    // that: after a restore its sshd greets but the master login can hang, seen twice in
    // four runs; see docs/architectures.md.)
    for (vm, machine) in [("x86", "x86_64"), ("arm", "aarch64"), ("rv", "riscv64")] {
        project.ok(&["start", vm]);
        let uname = project.ok(&["exec", vm, "uname", "-m"]);
        assert_eq!(uname.stdout.trim(), machine, "{uname}");
        if vm == "arm" {
            snapshot_round_trip(&project, vm, machine);
        }
        project.ok(&["stop", vm]);
        assert_eq!(project.pid(vm), None);
        // `run` boots a throwaway instance of the same VM and hands back the command's
        // output and exit code, on every arch alike.
        let run = project.ok(&["run", vm, "--", "uname", "-m"]);
        assert_eq!(run.stdout.trim(), machine, "{run}");
        let failed = project.run(&["run", vm, "--", "sh", "-c", "exit 7"]);
        assert_eq!(failed.code, 7, "{failed}");
        assert_eq!(project.pid(vm), None, "run left {vm} running");
    }
}

/// A snapshot of the running `vm` saved, the VM stopped and started from it: what the guest
/// had at the save is there, what it did after is not.
fn snapshot_round_trip(project: &Project, vm: &str, machine: &str) {
    project.ok(&["exec", vm, "sh", "-c", "echo kept > /tmp/before"]);
    let save = project.ok(&["snapshot", "save", vm, "base"]);
    let saved = format!("{vm}: saved snapshot \"base\" in ");
    assert!(save.stderr.contains(&saved), "{save}");
    project.ok(&["exec", vm, "sh", "-c", "echo lost > /tmp/after"]);
    project.ok(&["stop", vm]);
    let from = project
        .ok(&["start", vm, "--from", "base", "--json"])
        .json();
    assert_eq!(from["vms"][0]["from_snapshot"], "base", "{from}");
    let has = |path: &str| project.run(&["exec", vm, "test", "-e", path]).code;
    assert_eq!(has("/tmp/before"), 0);
    assert_eq!(has("/tmp/after"), 1);
    let uname = project.ok(&["exec", vm, "uname", "-m"]);
    assert_eq!(uname.stdout.trim(), machine, "{uname}");
}
