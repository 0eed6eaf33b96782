//! `qcmdr init [DIR] [--arch ARCH]`: a commented `conf.lua` with one Debian image and one VM
//! `dev`, so an empty folder becomes a running VM with `qcmdr start dev`.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;

use super::Failure;
use crate::lifecycle::doctor::kvm::{self, KvmUnusable};
use crate::model::arch;

pub fn run(dir: Option<&Path>, arch: &str) -> Result<ExitCode, Failure> {
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join("conf.lua");
    let port = free_port()?;
    // KVM only when a VM really can be made on it here (the check `doctor` and `start` use);
    // another arch's guest runs under TCG on this host anyway.
    let kvm = (arch == "x86_64").then(|| kvm::judge(&kvm::read_with_guest()));
    let args = match &kvm {
        Some(kvm) => x86_64_args(port, kvm),
        None => defaulted_args(arch),
    };
    let text = template(port, arch, &args);
    // create_new: never overwrites, and never follows a planted symlink.
    let mut out = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::new(format!(
                "{} exists already; qcmdr init never overwrites a config (remove it or pick another folder)",
                file.display()
            )),
            _ => Failure::new(format!("cannot create {}: {e}", file.display())),
        })?;
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", file.display())))?;
    let of_arch = match arch {
        "x86_64" => String::new(),
        other => format!("{other}, "),
    };
    eprintln!(
        "wrote {} (VM dev, {of_arch}SSH on port {port})",
        file.display()
    );
    match &kvm {
        Some(Ok(())) => eprintln!("accelerator: KVM (/dev/kvm is usable by you here)"),
        Some(Err(why)) => eprintln!(
            "accelerator: TCG (the CPU is emulated, slower), because KVM is not usable here: {}\n  \
             to use KVM: {}; then set accel=kvm and -cpu host in conf.lua (qcmdr doctor rechecks)",
            why.cause(),
            why.fix()
        ),
        None => {
            eprintln!("accelerator: TCG (the {arch} CPU of the guest is emulated on this host)")
        }
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    let build_time = if crate::images::foreign::is_foreign(arch) {
        format!("a few minutes: {arch} programs run through qemu-user")
    } else {
        "about a minute".to_string()
    };
    eprintln!("next: {cd}qcmdr start dev   (the first start builds the image, {build_time})");
    Ok(ExitCode::SUCCESS)
}

fn free_port() -> Result<u16, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::new(format!("cannot find a free port: {e}")))
}

/// The x86_64 VM's args say everything themselves, as `init` always wrote them, with the
/// accelerator this machine can use and why.
fn x86_64_args(port: u16, kvm: &Result<(), KvmUnusable>) -> String {
    let (machine, cpu, accel_note) = match kvm {
        Ok(()) => (
            "q35,accel=kvm",
            "host",
            "KVM: /dev/kvm was usable when qcmdr init ran. Without it: accel=tcg, -cpu max"
                .to_string(),
        ),
        Err(why) => (
            "q35,accel=tcg",
            "max",
            format!(
                "TCG (the CPU is emulated), because KVM was not usable when qcmdr init ran: \
                 {}.\n        -- Once it is (qcmdr doctor says how): accel=kvm, -cpu host",
                why.cause()
            ),
        ),
    };
    format!(
        r#"      args = {{
        -- {accel_note}
        "-machine {machine}", "-cpu {cpu}", "-smp 2", "-m 1024", "-display none",
        "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device virtio-net-pci,netdev=net0",
      }},
"#
    )
}

/// Another architecture's VM leaves machine, CPU, firmware and network to qcmdr's per-arch
/// defaults (an image VM has them on), so its args only size it.
fn defaulted_args(arch: &str) -> String {
    format!(
        r#"      -- qcmdr fills in the machine, CPU, firmware and network of {arch} (arch_defaults; see
      -- `qcmdr show dev` and docs/architectures.md); an option given here replaces its default.
      args = {{ "-smp 2", "-m 1024", "-display none" }},
"#
    )
}

fn template(port: u16, arch: &str, args: &str) -> String {
    let suite = match arch::profile(arch) {
        // riscv64's first Debian port is Debian 13.
        Some(profile) if profile.debian.missing_in.contains(&"bookworm") => "trixie",
        _ => "bookworm",
    };
    let foreign = if crate::images::foreign::is_foreign(arch) {
        format!(
            "\n      -- The {arch} packages are set up through qemu-user on this {} machine\n      \
             -- (Debian: apt-get install qemu-user-static; `qcmdr doctor` checks it).",
            crate::images::foreign::host_arch()
        )
    } else {
        String::new()
    };
    format!(
        r#"-- qcmdr config, written by `qcmdr init`. The manual: qcmdr --help, the README and docs/configuration.md.
return {{
  -- Guest images, built into ~/.cache/qcmdr/images by `qcmdr image build` (or by the first
  -- `qcmdr start` of a VM that uses one). Changing a recipe makes a new build.
  images = {{
    debian = {{
      builder = "debian",      -- from Debian packages (mmdebstrap), no VM boot needed{foreign}
      suite = "{suite}",
      size = "4G",             -- the disk the guest sees
      packages = {{ "rsync" }}, -- added to a minimal systemd + sshd base
      -- files = {{ ["/etc/motd"] = "hello\n" }},  -- written into the image
      -- run = {{ "useradd -m dev" }},             -- run in the image's root at build time
    }},
  }},
  vms = {{
    {{
      name = "dev",
      arch = "{arch}",
      image = "debian",        -- its own disk over the image; boots the image's kernel
      login_timeout = 300,     -- a first boot under TCG can take a minute on a busy machine
      -- SSH logs in as root with the image's own key unless User/IdentityFile are set.
      ssh = {{ Port = {port} }},
{args}    }},
  }},
}}
"#
    )
}
