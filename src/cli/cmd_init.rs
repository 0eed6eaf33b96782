//! `qcmdr init [DIR]`: a commented `conf.lua` with one Debian image and one VM `dev`, so an
//! empty folder becomes a running VM with `qcmdr start dev`.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;

use super::Failure;

pub fn run(dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join("conf.lua");
    let port = free_port()?;
    let text = template(port, kvm_usable());
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
    eprintln!("wrote {} (VM dev, SSH on port {port})", file.display());
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    eprintln!("next: {cd}qcmdr start dev   (the first start builds the image, about a minute)");
    Ok(ExitCode::SUCCESS)
}

fn free_port() -> Result<u16, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::new(format!("cannot find a free port: {e}")))
}

/// KVM only when a VM really runs on it here: `/dev/kvm` can exist and open, yet a nested
/// KVM fail as soon as QEMU sets up a vCPU. QEMU is asked to start paused, then to quit.
fn kvm_usable() -> bool {
    use std::process::{Command, Stdio};
    let opens = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !opens {
        return false;
    }
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "q35,accel=kvm",
            "-cpu",
            "host",
            "-m",
            "64",
            "-nodefaults",
        ])
        .args(["-display", "none", "-S", "-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().is_ok_and(|s| s.success()));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(ok) => ok,
        Err(_) => {
            // Still running after 10 s: something is wrong with KVM here; use TCG.
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            false
        }
    }
}

fn template(port: u16, kvm: bool) -> String {
    let (machine, cpu, accel_note) = if kvm {
        ("q35,accel=kvm", "host", "KVM (/dev/kvm is usable here)")
    } else {
        (
            "q35,accel=tcg",
            "max",
            "TCG: /dev/kvm is not usable here, so the CPU is emulated",
        )
    };
    format!(
        r#"-- qcmdr config, written by `qcmdr init`. The manual: qcmdr --help, the README and docs/configuration.md.
return {{
  -- Guest images, built into ~/.cache/qcmdr/images by `qcmdr image build` (or by the first
  -- `qcmdr start` of a VM that uses one). Changing a recipe makes a new build.
  images = {{
    debian = {{
      builder = "debian",      -- from Debian packages (mmdebstrap), no VM boot needed
      suite = "bookworm",
      size = "4G",             -- the disk the guest sees
      packages = {{ "rsync" }}, -- added to a minimal systemd + sshd base
      -- files = {{ ["/etc/motd"] = "hello\n" }},  -- written into the image
      -- run = {{ "useradd -m dev" }},             -- run in the image's root at build time
    }},
  }},
  vms = {{
    {{
      name = "dev",
      arch = "x86_64",
      image = "debian",        -- its own disk over the image; boots the image's kernel
      login_timeout = 300,     -- a first boot under TCG can take a minute on a busy machine
      -- SSH logs in as root with the image's own key unless User/IdentityFile are set.
      ssh = {{ Port = {port} }},
      args = {{
        -- {accel_note}
        "-machine {machine}", "-cpu {cpu}", "-smp 2", "-m 1024", "-display none",
        "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device virtio-net-pci,netdev=net0",
      }},
    }},
  }},
}}
"#
    )
}
