//! Architectures without a guest: the per-arch defaults `show` prints and what `args`
//! override, an ancestor-style VM that gets none, a bad `arch`, a missing
//! `qemu-system-<arch>` named with its package, `init --arch`.

use std::fs;

use crate::support::CliTest;

/// An aarch64 VM with the defaults on, a riscv64 one whose args override the CPU and the
/// network, and an ancestor-style x86_64 VM (no image, no `arch_defaults`).
const ARCHES: &str = r#"
return {
  vms = {
    { name = "arm", arch = "aarch64", arch_defaults = true,
      ssh = { Port = 10022, User = "root", IdentityFile = "/k" },
      args = { "-m 256", "-kernel /g/vmlinuz" } },
    { name = "rv", arch = "riscv64", arch_defaults = true,
      ssh = { Port = 10023, User = "root", IdentityFile = "/k" },
      args = { "-cpu rv64,v=true", "-nic user", "-kernel /g/vmlinuz" } },
    { name = "old", arch = "x86_64",
      ssh = { Port = 10024, User = "root", IdentityFile = "/k" },
      args = { "-m 256", "-kernel /g/vmlinuz" } },
  },
}
"#;

#[test]
fn show_prints_the_arch_defaults_and_names_what_args_override() {
    let test = CliTest::with_config(ARCHES);
    test.cmd(&["show", "arm"])
        .stdout_has("console:       ttyAMA0")
        .stdout_has("  machine      -machine virt\n")
        .stdout_has("  accel        -accel tcg\n")
        .stdout_has("  cpu          -cpu 'max,pauth-impdef=on'\n")
        .stdout_has(
            "  network      -netdev 'user,id=qcmdr-net,hostfwd=tcp:127.0.0.1:10022-:22' \
             -device 'virtio-net-pci,netdev=qcmdr-net'\n",
        )
        // The default network's forward is a forward like any other.
        .stdout_has("forward:       tcp 127.0.0.1:10022 -> guest 22")
        .stdout_has(" -machine virt -accel tcg -cpu 'max,pauth-impdef=on' -netdev ")
        .run();

    let show = test.cmd(&["show", "rv", "--json"]).json();
    assert_eq!(show["console"], "ttyS0", "{show}");
    let defaults: Vec<(String, String, serde_json::Value)> = show["arch_defaults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let added: Vec<&str> = d["added_args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            (
                d["what"].as_str().unwrap().to_string(),
                added.join(" "),
                d["overridden_by"].clone(),
            )
        })
        .collect();
    let null = serde_json::Value::Null;
    assert_eq!(
        defaults,
        [
            ("machine".into(), "-machine virt".into(), null.clone()),
            ("accel".into(), "-accel tcg".into(), null.clone()),
            ("cpu".into(), "".into(), "-cpu".into()),
            ("firmware".into(), "-bios default".into(), null),
            ("network".into(), "".into(), "-nic".into()),
        ],
        "{show}"
    );
    let argv: Vec<&str> = show["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(argv[0].ends_with("qemu-system-riscv64"), "{argv:?}");
    assert_eq!(
        argv[1..11],
        [
            "-machine",
            "virt",
            "-accel",
            "tcg",
            "-bios",
            "default",
            "-cpu",
            "rv64,v=true",
            "-nic",
            "user"
        ]
    );
    test.cmd(&["show", "rv"])
        .stdout_has("  cpu          from args (-cpu)\n")
        .stdout_has("  network      from args (-nic)\n")
        .run();
}

#[test]
fn an_ancestor_style_vm_gets_no_defaults_and_its_argv_is_unchanged() {
    let test = CliTest::with_config(ARCHES);
    test.cmd(&["show", "old"])
        .stdout_has("defaults:      none (arch_defaults is off)")
        .run();
    let show = test.cmd(&["show", "old", "--json"]).json();
    assert_eq!(show["arch_defaults"], serde_json::json!([]), "{show}");
    let argv = show["argv"].as_array().unwrap();
    assert_eq!(argv[1..6], ["-m", "256", "-kernel", "/g/vmlinuz", "-name"]);
    assert!(show["forwards"].as_array().unwrap().is_empty(), "{show}");
}

#[test]
fn a_clash_between_a_default_and_args_is_named() {
    let text = ARCHES.replace("\"-m 256\", \"-kernel", "\"-cpu host\", \"-kernel");
    CliTest::with_config(&text)
        .cmd(&["check"])
        .code(2)
        .stderr_has(
            "vms[1] \"arm\": args: -cpu host needs KVM, but the accelerator is tcg \
             (qcmdr's default for aarch64); add \"-accel kvm\" to args",
        )
        .run();
    let text = ARCHES.replace(
        "arch = \"x86_64\",",
        "arch = \"ppc64\", arch_defaults = true,",
    );
    CliTest::with_config(&text)
        .cmd(&["check"])
        .code(2)
        .stderr_has(
            "vms[3] \"old\": arch_defaults: qcmdr has defaults for x86_64, aarch64, riscv64 \
             only, not \"ppc64\"; give the machine in args",
        )
        .run();
}

#[test]
fn a_bad_arch_name_is_a_config_error_with_the_valid_names() {
    let text = ARCHES.replace("arch = \"aarch64\"", "arch = \"arm64\"");
    CliTest::with_config(&text)
        .cmd(&["check"])
        .code(2)
        .stderr_has(
            "vms[1] \"arm\": arch: \"arm64\" is not an architecture QEMU emulates; valid: \
             aarch64, alpha, arm, ",
        )
        .stderr_has("riscv64, ")
        .run();
    let text = ARCHES.replace("arch = \"riscv64\"", "arch = \"riscv46\"");
    CliTest::with_config(&text)
        .cmd(&["show", "arm"])
        .code(2)
        .stderr_has("vms[2] \"rv\": arch: \"riscv46\" is not an architecture QEMU emulates (did you mean \"riscv64\"?)")
        .run();
}

#[test]
fn a_missing_qemu_system_binary_is_named_with_its_package() {
    let test = CliTest::with_config(ARCHES);
    // A PATH with no QEMU at all (qcmdr itself is run by its full path).
    let empty = test.path().join("empty-bin");
    fs::create_dir(&empty).unwrap();
    let out = test
        .cmd(&["check"])
        .env("PATH", &empty)
        .stderr_has(
            "VM \"arm\": arch: QEMU binary qemu-system-aarch64 not found on PATH; install it \
             (Debian: apt-get install qemu-system-arm) or set qemu_bin_dir_fpath",
        )
        .stderr_has("VM \"rv\": arch: QEMU binary qemu-system-riscv64 not found on PATH; install it (Debian: apt-get install qemu-system-misc)")
        .stderr_has("VM \"old\": arch: QEMU binary qemu-system-x86_64 not found on PATH; install it (Debian: apt-get install qemu-system-x86)")
        .stdout_has("OK, 3 VMs")
        .run();
    assert_eq!(out.code, 0, "{out}");
    test.cmd(&["start", "rv"])
        .env("PATH", &empty)
        .code(1)
        .stderr_has("QEMU binary qemu-system-riscv64 not found on PATH; install it (Debian: apt-get install qemu-system-misc)")
        .run();
    // Nothing was launched: no pidfile, no QEMU.
    assert!(!test.path().join(".qcmdr/vm/rv/qemu.pid").exists());
    assert!(crate::support::processes_mentioning(test.path()).is_empty());
}

#[test]
fn init_arch_writes_a_config_for_that_arch() {
    let test = CliTest::new();
    let dir = test.path().join("arm");
    test.cmd(&["init", "--arch", "aarch64", dir.to_str().unwrap()])
        .stderr_has("(VM dev, aarch64, SSH on port ")
        .run();
    let text = fs::read_to_string(dir.join("conf.lua")).unwrap();
    assert!(text.contains("arch = \"aarch64\","), "{text}");
    assert!(
        text.contains("args = { \"-smp 2\", \"-m 1024\", \"-display none\" },"),
        "{text}"
    );
    assert!(!text.contains("-machine"), "{text}");
    // Its image is built for aarch64: a build of its own, the VM boots that build's kernel
    // and logs in with that build's key.
    let conf = dir.join("conf.lua");
    let conf = conf.to_str().unwrap();
    test.cmd(&["-c", conf, "check"]).run();
    let listed = test
        .cmd(&["-c", conf, "image", "list", "--json"])
        .run()
        .json();
    let image = &listed["images"][0];
    assert_eq!(image["arch"], "aarch64", "{listed}");
    assert_eq!(listed["images"].as_array().unwrap().len(), 1, "{listed}");
    let kernel = image["kernel"].as_str().unwrap().to_string();
    test.cmd(&["-c", conf, "show", "dev"])
        .stdout_has(format!("-kernel {kernel} "))
        .stdout_has("console=ttyAMA0")
        .run();
    // riscv64's first Debian port is Debian 13: its config asks for trixie.
    let rv = test.path().join("rv");
    test.cmd(&["init", "--arch", "riscv64", rv.to_str().unwrap()])
        .run();
    let text = fs::read_to_string(rv.join("conf.lua")).unwrap();
    assert!(text.contains("suite = \"trixie\","), "{text}");
    test.cmd(&["-c", rv.join("conf.lua").to_str().unwrap(), "check"])
        .run();
    test.cmd(&[
        "init",
        "--arch",
        "arm64",
        test.path().join("x").to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("invalid value 'arm64' for '--arch <ARCH>'")
    .stderr_has("[possible values: x86_64, aarch64, riscv64]")
    .run();
}

#[test]
fn an_aarch64_disk_boot_gets_uefi_and_a_missing_one_is_named_with_its_package() {
    // No -kernel: the VM boots its disk, through UEFI.
    let test =
        CliTest::with_config(&ARCHES.replace(r#""-m 256", "-kernel /g/vmlinuz""#, r#""-m 256""#));
    let uefi = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";
    test.cmd(&["show", "arm"])
        .stdout_has(format!("  firmware     -bios {uefi}\n"))
        .run();
    let check = test.cmd(&["check"]).run();
    let warning = format!(
        "VM \"arm\": firmware {uefi} not found (qcmdr's default for aarch64 without a kernel); \
         install it (Debian: apt-get install qemu-efi-aarch64)"
    );
    // Whether this machine has the package decides which of the two a user sees.
    if std::path::Path::new(uefi).is_file() {
        assert!(!check.stderr.contains(&warning), "{check}");
    } else {
        assert!(check.stderr.contains(&warning), "{check}");
        test.cmd(&["start", "arm"])
            .code(1)
            .stderr_has(format!("firmware {uefi} not found"))
            .stderr_has("apt-get install qemu-efi-aarch64")
            .run();
        assert!(!test.path().join(".qcmdr/vm/arm/qemu.pid").exists());
    }
}

/// Each arch's defaults, run by that arch's QEMU (started paused, then told to quit over
/// QMP): the machine, CPU, firmware and network device qcmdr picks exist in the QEMU here.
#[test]
fn the_defaults_of_each_arch_are_accepted_by_its_qemu() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let port = crate::support::free_port;
    let text = ARCHES
        .replace("Port = 10022", &format!("Port = {}", port()))
        .replace("Port = 10023", &format!("Port = {}", port()))
        .replace("Port = 10024", &format!("Port = {}", port()))
        .replace("\"-cpu rv64,v=true\", \"-nic user\", ", "")
        .replace(
            "arch = \"x86_64\",",
            "arch = \"x86_64\", arch_defaults = true,",
        );
    let test = CliTest::with_config(&text);
    for vm in ["arm", "rv", "old"] {
        let show = test.cmd(&["show", vm, "--json"]).json();
        let binary = show["argv"][0].as_str().unwrap().to_string();
        let defaults: Vec<String> = show["arch_defaults"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["added_args"].as_array().unwrap().clone())
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        for option in ["-machine", "-cpu", "-netdev"] {
            assert!(defaults.contains(&option.to_string()), "{vm}: {defaults:?}");
        }
        let mut qemu = crate::support::KillOnDrop(
            Command::new(&binary)
                .args(&defaults)
                .args(["-S", "-display", "none", "-qmp", "stdio"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {binary}: {e}")),
        );
        qemu.stdin
            .take()
            .unwrap()
            .write_all(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n")
            .unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut qemu.stderr.take().unwrap(), &mut stderr).unwrap();
        let status = qemu.wait().unwrap();
        assert!(
            status.success(),
            "{binary} {defaults:?}: {status}\n{stderr}"
        );
    }
}
