//! `kernel = <a built kernel tree>` on the real guest: the tree's image boots, `uname -r` is
//! the tree's, and its modules load with modprobe (one the guest's own initramfs lacks);
//! a tree that is not built, built for another arch, or whose `.config` lacks an option
//! the boot needs is refused before anything runs, naming the fix.
//!
//! The tree: the test guest's own Debian kernel laid out as a built tree by
//! `guest/kernel-tree.sh` (bzImage, .config, kernel.release, modules.order and the modules
//! in their tree paths), cached in the test cache like the test images.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::support::{free_port, guest_dir, test_cache_home, Project};

fn kernel_tree() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let output = Command::new("bash")
            .arg(repo.join("guest/kernel-tree.sh"))
            .arg(guest_dir())
            .arg(test_cache_home().join("kernel-tree"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run guest/kernel-tree.sh");
        assert!(output.status.success(), "guest/kernel-tree.sh failed");
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
    .clone()
}

/// A copy of the test tree (to doctor) in `dir`, sharing its large files by hard links.
fn tree_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("linux");
    let status = Command::new("cp")
        .args(["-al"])
        .arg(kernel_tree())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

/// A project with one VM booting `tree` with the guest's initramfs; `extra` (given the
/// project's folder) adds fields.
fn tree_project(tree: &Path, extra: impl FnOnce(&Path) -> String) -> Project {
    let project = Project::new(vec![]);
    let extra = extra(project.path());
    let port = free_port();
    let guest = guest_dir();
    let config = format!(
        r#"return {{ vms = {{ {{
  name = "demo", arch = "x86_64", login_timeout = 90, ssh_timeout = 60, stop_timeout = 20,
  kernel = {tree:?}, initrd = {initrd:?}, append = "console=ttyS0 quiet",
  ssh = {{ Port = {port}, User = "root", IdentityFile = {key:?} }},
  args = {{ "-machine q35,accel=tcg", "-cpu max", "-m 256", "-display none",
    "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device virtio-net-pci,netdev=net0" }},
  {extra}
}} }} }}
"#,
        tree = tree.to_str().unwrap(),
        initrd = guest.join("initrd.gz").to_str().unwrap(),
        key = guest.join("id_ed25519").to_str().unwrap(),
    );
    fs::write(project.config(), config).unwrap();
    project
}

#[test]
fn vm_kernel_tree_boots_with_its_release_and_its_modules_load() {
    let tree = kernel_tree();
    let release = fs::read_to_string(tree.join("include/config/kernel.release")).unwrap();
    let project = tree_project(&tree, |_| String::new());
    let before = listing(&tree);
    project.ok(&["start", "demo"]);
    let uname = project.ok(&["exec", "demo", "uname", "-r"]);
    assert_eq!(uname.stdout.trim(), release.trim());
    // vfat is not in the guest's own initramfs, and not loaded yet.
    let own = project.run(&["exec", "demo", "sh", "-c", "ls /lib/modules/qcmdr/vfat.ko"]);
    assert_ne!(own.code, 0, "{own}");
    let lsmod = project.ok(&["exec", "demo", "lsmod"]);
    assert!(!lsmod.stdout.contains("vfat"), "{lsmod}");
    // modprobe finds it in the tree's modules, with fat, which it depends on (depmod's index).
    project.ok(&["exec", "demo", "modprobe", "vfat"]);
    let lsmod = project.ok(&["exec", "demo", "lsmod"]);
    let loaded: Vec<&str> = lsmod
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        loaded.contains(&"vfat") && loaded.contains(&"fat"),
        "{lsmod}"
    );
    // The boot's own drivers came from the tree too (the guest modprobes when it has them).
    assert!(loaded.contains(&"virtio_net"), "{lsmod}");
    // Nothing was written into the tree.
    assert_eq!(listing(&tree), before);
}

#[test]
fn vm_kernel_tree_run_kernel_boots_a_tree_in_place_of_the_vms_kernel() {
    // The demo VM boots the guest's kernel from its args; `run --kernel TREE` boots the tree
    // for this run only, with its modules.
    let tree = kernel_tree();
    let release = fs::read_to_string(tree.join("include/config/kernel.release")).unwrap();
    let project = Project::new(vec![crate::support::VmSpec::new("demo")]);
    let tree_arg = tree.to_str().unwrap();
    let run = project.ok(&[
        "run",
        "--kernel",
        tree_arg,
        "demo",
        "--",
        "sh",
        "-c",
        "uname -r; modprobe vfat && grep -c '^vfat ' /proc/modules",
    ]);
    assert_eq!(run.stdout, format!("{}\n1\n", release.trim()), "{run}");
}

/// Every file below `dir` with its size and modification time, sorted.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                todo.push(entry.path());
            }
            out.push((entry.path(), meta.len(), meta.modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn vm_kernel_tree_with_mounts_boots_and_mounts_from_the_tree_modules() {
    let mount = |dir: &Path| {
        let share = dir.join("share");
        fs::create_dir(&share).unwrap();
        fs::write(share.join("hello"), "hi\n").unwrap();
        format!(
            r#"mounts = {{ {{ source = {:?}, dest = "/mnt/share" }} }},"#,
            share.to_str().unwrap()
        )
    };
    let project = tree_project(&kernel_tree(), mount);
    project.ok(&["start", "demo"]);
    let read = project.ok(&["exec", "demo", "cat", "/mnt/share/hello"]);
    assert_eq!(read.stdout, "hi\n");
}

#[test]
fn vm_kernel_tree_not_built_other_arch_and_missing_options_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let tree = tree_copy(scratch.path());

    // A doctored .config: no virtio-fs though the VM mounts a folder, and a serial console
    // as a module. Each is named with the scripts/config line that fixes it.
    let config_file = tree.join(".config");
    let text = fs::read_to_string(&config_file).unwrap();
    fs::remove_file(&config_file).unwrap();
    fs::write(
        &config_file,
        text.replace("CONFIG_VIRTIO_FS=m", "# CONFIG_VIRTIO_FS is not set")
            .replace(
                "CONFIG_SERIAL_8250_CONSOLE=y",
                "CONFIG_SERIAL_8250_CONSOLE=m",
            ),
    )
    .unwrap();
    let project = tree_project(&tree, |dir| {
        format!(
            r#"mounts = {{ {{ source = {:?}, dest = "/mnt/share" }} }},"#,
            dir.to_str().unwrap()
        )
    });
    let config_text = config_file.display().to_string();
    project
        .cmd(&["start", "demo"])
        .code(1)
        .stderr_has(format!(
            "CONFIG_SERIAL_8250_CONSOLE (the serial console) is m, needs y: scripts/config --file {config_text} --enable SERIAL_8250_CONSOLE"
        ))
        .stderr_has(format!(
            "CONFIG_VIRTIO_FS (virtio-fs, for mounts) is not set: scripts/config --file {config_text} --module VIRTIO_FS"
        ))
        .stderr_has("make olddefconfig && make")
        .run();
    assert!(project.pid("demo").is_none());
    // check says the same, as a warning (a config is shared across machines).
    let check = project.run(&["check"]);
    assert!(
        check.stderr.contains(&format!(
            "VM \"demo\": kernel: {}: its .config lacks",
            tree.display()
        )) && check.stderr.contains("--module VIRTIO_FS"),
        "{check}"
    );

    // Built for another architecture.
    fs::remove_file(&config_file).unwrap();
    fs::write(
        &config_file,
        text.replace("CONFIG_X86_64=y", "CONFIG_ARM64=y"),
    )
    .unwrap();
    project
        .cmd(&["start", "demo"])
        .code(1)
        .stderr_has(format!(
            "{} is built for aarch64 (arch/arm64/boot/Image), not for this VM's arch x86_64",
            tree.display()
        ))
        .run();

    // Not built: no image. (Through start --kernel, which replaces the VM's kernel file.)
    fs::remove_file(&config_file).unwrap();
    fs::write(&config_file, &text).unwrap();
    fs::remove_file(tree.join("arch/x86/boot/bzImage")).unwrap();
    let project = tree_project(&guest_dir().join("vmlinuz"), |_| String::new());
    project
        .cmd(&["start", "demo", "--kernel", tree.to_str().unwrap()])
        .code(1)
        .stderr_has(format!(
            "{} is not a built kernel tree for x86_64: no arch/x86/boot/bzImage (build it: make -C {}",
            tree.display(),
            tree.display()
        ))
        .run();
    assert!(project.pid("demo").is_none());

    // A VM whose args boot its kernel has no kernel of qcmdr's to replace.
    let args_vm = Project::new(vec![crate::support::VmSpec::new("demo")]);
    args_vm
        .cmd(&["start", "demo", "--kernel", tree.to_str().unwrap()])
        .code(2)
        .stderr_has("VM \"demo\" boots the kernel of its args")
        .run();
}
