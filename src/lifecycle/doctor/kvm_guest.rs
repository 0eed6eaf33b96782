//! Whether KVM really runs a guest, not only opens: a nested KVM can make VMs and vCPUs and
//! even run real-mode code, then hang for good once the guest turns on paging and long mode,
//! which is where every Linux kernel goes (a boot stops after "Probing EDD"). So QEMU runs a
//! 180-byte firmware under KVM that goes from the reset vector to 64-bit long mode and then
//! tells QEMU to exit (`isa-debug-exit`) with a known code; it takes milliseconds.
//!
//! The firmware's source, for `as --64` and `ld -e 0 -Ttext=0 --oformat binary`, is in
//! `kvm_guest.S` beside this file; [`FIRMWARE_CODE`] is its assembled start, and the test runs
//! it under TCG to show the bytes do what the source says.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::runtime::helper::{Helper, HelperError};

/// A working KVM runs the guest in well under a second, a busy machine's QEMU start included.
pub const GUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The firmware writes this to `isa-debug-exit`, which makes QEMU exit with `(v << 1) | 1`.
const EXIT_VALUE: i32 = 0x20;

/// The assembled `kvm_guest.S` up to its GDT descriptors (the rest of the image is `hlt`).
const FIRMWARE_CODE: [u8; 180] = [
    0xfa, 0x2e, 0x66, 0x0f, 0x01, 0x16, 0xa8, 0x00, 0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f,
    0x22, 0xc0, 0x66, 0xea, 0x1a, 0x00, 0xff, 0xff, 0x08, 0x00, 0x66, 0xb8, 0x18, 0x00, 0x8e, 0xd8,
    0x8e, 0xc0, 0x8e, 0xd0, 0xea, 0x2b, 0x00, 0x0f, 0x00, 0x08, 0x00, 0x0f, 0x01, 0x15, 0xae, 0x00,
    0x0f, 0x00, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x20,
    0x00, 0x00, 0x03, 0x30, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00,
    0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22,
    0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f,
    0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea, 0x81, 0x00, 0x0f, 0x00, 0x10,
    0x00, 0xb0, 0x20, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xaf, 0x00,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0x1f, 0x00, 0x88, 0x00, 0xff, 0xff, 0x1f, 0x00,
    0x88, 0x00, 0x0f, 0x00,
];

/// `jmp 0` at the reset vector (offset 0xfff0 of the 64 KiB image, address 0xfffffff0).
const RESET_JUMP: [u8; 3] = [0xe9, 0x0d, 0x00];

/// How a guest run went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestFailure {
    /// Still running after the bound: the vCPU never got there.
    Hung { limit: Duration },
    /// QEMU ended otherwise; `said` is its stderr.
    Exited { status: String, said: String },
}

impl std::fmt::Display for GuestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestFailure::Hung { limit } => write!(
                f,
                "a test guest going to 64-bit mode did not finish within {} s, where it takes \
                 milliseconds",
                limit.as_secs()
            ),
            GuestFailure::Exited { status, said } => {
                write!(f, "QEMU running a test guest {status}: {said}")
            }
        }
    }
}

/// The 64 KiB firmware image.
fn firmware() -> Vec<u8> {
    let mut image = vec![0xf4; 0x10000];
    image[..FIRMWARE_CODE.len()].copy_from_slice(&FIRMWARE_CODE);
    image[0xfff0..0xfff0 + RESET_JUMP.len()].copy_from_slice(&RESET_JUMP);
    image
}

/// Runs the test guest with `qemu` (an x86 `qemu-system-x86_64`) on accelerator `accel`.
/// `Err(None)` when QEMU could not be run at all (nothing is known about KVM then).
pub fn run(qemu: &Path, accel: &str) -> Result<(), Option<GuestFailure>> {
    use std::io::Write;
    // An anonymous file QEMU reads as /proc/self/fd/N: inherited (no close-on-exec), so no
    // file is ever left behind. `doctor` and `init` run this before they start any thread, so
    // no other child inherits it meanwhile; it is closed as soon as QEMU ends.
    let image = rustix::fs::memfd_create("qcmdr-kvm-probe", rustix::fs::MemfdFlags::empty())
        .map_err(|_| None)?;
    let mut file = std::fs::File::from(image);
    file.write_all(&firmware()).map_err(|_| None)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut command = Command::new(qemu);
    command
        .args(["-machine", &format!("pc,accel={accel}")])
        .args([
            "-m",
            "16",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
        ])
        .args(["-bios", &format!("/proc/self/fd/{fd}")])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .stdin(std::process::Stdio::null());
    let outcome = Helper::new(command).timeout(GUEST_TIMEOUT).output_any();
    drop(file);
    match outcome {
        Ok(out) if out.status.code() == Some((EXIT_VALUE << 1) | 1) => Ok(()),
        Ok(out) => Err(Some(GuestFailure::Exited {
            status: out.status.to_string(),
            said: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', " / "),
        })),
        Err(HelperError::TimedOut { .. }) => Err(Some(GuestFailure::Hung {
            limit: GUEST_TIMEOUT,
        })),
        Err(_) => Err(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firmware_reaches_long_mode_and_exits_under_tcg() {
        let qemu = crate::runtime::executable::find_on_path("qemu-system-x86_64")
            .expect("qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)");
        assert_eq!(run(&qemu, "tcg"), Ok(()));
    }

    #[test]
    fn a_qemu_that_cannot_start_the_guest_says_why() {
        let qemu = crate::runtime::executable::find_on_path("qemu-system-x86_64").unwrap();
        let failure = run(&qemu, "no-such-accel").unwrap_err().unwrap();
        assert!(
            matches!(&failure, GuestFailure::Exited { said, .. } if said.contains("no-such-accel")),
            "{failure}"
        );
    }
}
