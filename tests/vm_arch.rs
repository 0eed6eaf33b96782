//! VMs of three architectures from one config, on the per-arch defaults (machine, CPU,
//! firmware, network all left to qcmdr) and the test guest of each arch, under TCG: booted
//! to SSH, `exec uname -m`, an rsync sync entry, `run uname -m` (and a run's exit code), and
//! a snapshot saved and started from on aarch64 (riscv64's refused by name where QEMU does
//! not save its timers).

use std::fs;

use crate::support::{arch_guest_dir, free_port, guest_dir, Project};

/// One VM of `arch` on `guest`, with only memory, the guest's kernel and its console in args
/// (more Lua fields in `extra`).
fn vm_lua(name: &str, arch: &str, guest: &str, console: &str, port: u16, extra: &str) -> String {
    format!(
        r#"    {{
      name = "{name}", arch = "{arch}", arch_defaults = true, {extra}
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
    // Every VM syncs one folder into its guest with rsync (the guest's rsync is its arch's).
    let source = project.path().join("src");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("hello.txt"), "from the host\n").unwrap();
    let sync = format!(
        r#"sync = {{ {{ source = {:?}, dest = "/root/synced", engine = "rsync" }} }},"#,
        source.to_str().unwrap()
    );
    let vms = [
        vm_lua("x86", "x86_64", &x86, "ttyS0", free_port(), &sync),
        vm_lua("arm", "aarch64", &arm, "ttyAMA0", free_port(), &sync),
        vm_lua("rv", "riscv64", &rv, "ttyS0", free_port(), &sync),
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
    // aarch64 then saves a snapshot, stops, and starts again from it; riscv64 does so only on
    // a QEMU that saves its timers (10.2 on), and is refused by name before that.
    for (vm, machine) in [("x86", "x86_64"), ("arm", "aarch64"), ("rv", "riscv64")] {
        project.ok(&["start", vm]);
        let uname = project.ok(&["exec", vm, "uname", "-m"]);
        assert_eq!(uname.stdout.trim(), machine, "{uname}");
        // The start synced the folder in; a change arrives with a flush.
        let synced = project.ok(&["exec", vm, "cat", "/root/synced/hello.txt"]);
        assert_eq!(synced.stdout, "from the host\n", "{synced}");
        fs::write(source.join("hello.txt"), format!("changed for {vm}\n")).unwrap();
        project.ok(&["sync", "flush", vm]);
        let flushed = project.ok(&["exec", vm, "cat", "/root/synced/hello.txt"]);
        assert_eq!(flushed.stdout, format!("changed for {vm}\n"), "{flushed}");
        fs::write(source.join("hello.txt"), "from the host\n").unwrap();
        if vm == "arm" || (vm == "rv" && riscv_timers_are_saved()) {
            snapshot_round_trip(&project, vm, machine);
        } else if vm == "rv" {
            let refused = project.run(&["snapshot", "save", vm, "base"]);
            assert_eq!(refused.code, 1, "{refused}");
            assert!(
                refused
                    .stderr
                    .contains("does not save the riscv64 timers (the ACLINT mtimer's offset")
                    && refused
                        .stderr
                        .contains("riscv64 snapshots need QEMU 10.2 or later"),
                "{refused}"
            );
            // Refused before the guest was paused: it runs on, and nothing was kept.
            let still = project.ok(&["exec", vm, "uname", "-m"]);
            assert_eq!(still.stdout.trim(), machine, "{still}");
            let listed = project.ok(&["snapshot", "list", vm, "--json"]).json();
            assert_eq!(listed["snapshots"], serde_json::json!([]), "{listed}");
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

/// Whether this machine's qemu-system-riscv64 is 10.2 or later, the first to save the riscv64
/// timers with a machine's state.
fn riscv_timers_are_saved() -> bool {
    let out = std::process::Command::new("qemu-system-riscv64")
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split("version ").nth(1).unwrap_or_default();
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let number = |part: Option<&str>| part.and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    (number(parts.next()), number(parts.next())) >= (10, 2)
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
