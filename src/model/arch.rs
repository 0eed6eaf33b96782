//! Guest architectures: the names `arch` accepts, the Debian package of each
//! `qemu-system-<arch>`, what qcmdr knows about the architectures it has defaults for, and
//! the defaults a VM ends up with.

/// Every `qemu-system-<arch>` QEMU builds (QEMU 7.2 to 9.x), so `arch` can be checked for
/// typos without refusing an emulator the ancestor could run.
pub const KNOWN: &[&str] = &[
    "aarch64",
    "alpha",
    "arm",
    "avr",
    "cris",
    "hppa",
    "i386",
    "loongarch64",
    "m68k",
    "microblaze",
    "microblazeel",
    "mips",
    "mips64",
    "mips64el",
    "mipsel",
    "nios2",
    "or1k",
    "ppc",
    "ppc64",
    "riscv32",
    "riscv64",
    "rx",
    "s390x",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "tricore",
    "x86_64",
    "xtensa",
    "xtensaeb",
];

/// The Debian package that installs `qemu-system-<arch>`.
pub fn debian_package(arch: &str) -> &'static str {
    match arch {
        "x86_64" | "i386" => "qemu-system-x86",
        "aarch64" | "arm" => "qemu-system-arm",
        "ppc" | "ppc64" => "qemu-system-ppc",
        "s390x" => "qemu-system-s390x",
        "mips" | "mipsel" | "mips64" | "mips64el" => "qemu-system-mips",
        "sparc" | "sparc64" => "qemu-system-sparc",
        _ => "qemu-system-misc",
    }
}

/// What qcmdr knows about an architecture it fills in defaults for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub arch: &'static str,
    /// `-machine` type.
    pub machine: &'static str,
    /// `-cpu` under TCG: every feature TCG emulates (`host` is KVM's).
    pub tcg_cpu: &'static str,
    /// The kernel's name of the first serial port (`console=` on the kernel command line).
    pub console: &'static str,
    /// `-bios` the machine needs even with a `-kernel` (riscv64: OpenSBI).
    pub firmware: Option<&'static str>,
    /// `-bios` for booting a disk without `-kernel` (UEFI), and the package that has it.
    pub disk_firmware: Option<(&'static str, &'static str)>,
    /// What the `debian` image builder needs to know of Debian's port.
    pub debian: DebianPort,
}

/// Debian's port of an architecture, as the `debian` image builder uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebianPort {
    /// Debian's name of the architecture (`dpkg --print-architecture`).
    pub arch: &'static str,
    /// The kernel an image gets: the smallest flavour that boots on QEMU's machine.
    pub kernel_package: &'static str,
    /// The kernel's file name in `/boot` up to its version; riscv64's kernel is not
    /// compressed, so Debian names it `vmlinux-`.
    pub kernel_prefix: &'static str,
    /// Suites released before the port existed: the mirrors have no packages of it there.
    pub missing_in: &'static [&'static str],
}

/// The architectures with defaults, in the order the docs list them.
pub const PROFILES: &[Profile] = &[
    Profile {
        arch: "x86_64",
        machine: "q35",
        tcg_cpu: "max",
        console: "ttyS0",
        firmware: None,
        disk_firmware: None,
        debian: DebianPort {
            arch: "amd64",
            kernel_package: "linux-image-cloud-amd64",
            kernel_prefix: "vmlinuz-",
            missing_in: &[],
        },
    },
    Profile {
        arch: "aarch64",
        machine: "virt",
        // The architected pointer-authentication algorithm (QARMA) is costly to emulate; the
        // IMPLEMENTATION DEFINED one keeps PAuth for the guest at a fraction of the cost
        // (the test guest's /etc/rc is done in 5.5 s instead of 15.6 s).
        tcg_cpu: "max,pauth-impdef=on",
        console: "ttyAMA0",
        firmware: None,
        disk_firmware: Some((
            "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
            "qemu-efi-aarch64",
        )),
        debian: DebianPort {
            arch: "arm64",
            kernel_package: "linux-image-cloud-arm64",
            kernel_prefix: "vmlinuz-",
            missing_in: &[],
        },
    },
    Profile {
        arch: "riscv64",
        machine: "virt",
        // QEMU 7.2 (Debian 12) has no riscv64 `max`; `rv64` is the full RV64GC on every QEMU.
        tcg_cpu: "rv64",
        console: "ttyS0",
        firmware: Some("default"),
        disk_firmware: None,
        // Debian 13 (trixie) is the first release with an official riscv64 port; Debian has
        // no cloud flavour of this kernel.
        debian: DebianPort {
            arch: "riscv64",
            kernel_package: "linux-image-riscv64",
            kernel_prefix: "vmlinux-",
            missing_in: &[
                "jessie",
                "stretch",
                "buster",
                "bullseye",
                "bookworm",
                "oldstable",
                "oldoldstable",
            ],
        },
    },
];

pub fn profile(arch: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.arch == arch)
}

/// The serial console's kernel name for `arch` (`ttyS0` where qcmdr knows no better).
pub fn console(arch: &str) -> &'static str {
    profile(arch).map_or("ttyS0", |p| p.console)
}

/// Kernel command line for an image's root filesystem on the first virtio disk.
pub fn default_append(arch: &str) -> String {
    format!("root=/dev/vda rw console={}", console(arch))
}

/// One default of a VM: what it is about, and either the QEMU words qcmdr adds or the words
/// of the VM's own `args` that took its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchDefault {
    /// `machine`, `accel`, `cpu`, `firmware`, `network`.
    pub what: &'static str,
    /// What qcmdr adds (empty when `args` say it themselves).
    pub words: Vec<String>,
    /// The option in `args` that replaces this default, e.g. `-machine`.
    pub overridden_by: Option<String>,
}

/// The firmware file a VM's defaults add that `exists` says is missing, with the Debian
/// package that installs it (aarch64's UEFI for a disk boot).
pub fn missing_firmware(
    arch: &str,
    defaults: &[ArchDefault],
    exists: impl Fn(&std::path::Path) -> bool,
) -> Option<(&'static str, &'static str)> {
    let (file, package) = profile(arch)?.disk_firmware?;
    let added = defaults
        .iter()
        .any(|d| d.what == "firmware" && d.added().iter().any(|w| w == file));
    (added && !exists(std::path::Path::new(file))).then_some((file, package))
}

impl ArchDefault {
    /// The words qcmdr adds to the command line for this default.
    pub fn added(&self) -> &[String] {
        match self.overridden_by {
            Some(_) => &[],
            None => &self.words,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firmware(words: &[&str], overridden_by: Option<&str>) -> Vec<ArchDefault> {
        vec![ArchDefault {
            what: "firmware",
            words: words.iter().map(|w| w.to_string()).collect(),
            overridden_by: overridden_by.map(str::to_string),
        }]
    }

    #[test]
    fn a_missing_uefi_file_is_named_with_its_package_only_when_qcmdr_adds_it() {
        let uefi = ["-bios", "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"];
        assert_eq!(
            missing_firmware("aarch64", &firmware(&uefi, None), |_| false),
            Some((
                "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
                "qemu-efi-aarch64"
            ))
        );
        assert_eq!(
            missing_firmware("aarch64", &firmware(&uefi, None), |_| true),
            None
        );
        // The VM's own -bios replaced it; riscv64's `-bios default` ships with QEMU.
        assert_eq!(
            missing_firmware("aarch64", &firmware(&uefi, Some("-bios")), |_| false),
            None
        );
        let opensbi = firmware(&["-bios", "default"], None);
        assert_eq!(missing_firmware("riscv64", &opensbi, |_| false), None);
    }

    #[test]
    fn every_known_arch_has_a_package_and_profiles_are_known() {
        for arch in KNOWN {
            assert!(debian_package(arch).starts_with("qemu-system-"), "{arch}");
        }
        for p in PROFILES {
            assert!(KNOWN.contains(&p.arch), "{}", p.arch);
        }
        assert_eq!(debian_package("aarch64"), "qemu-system-arm");
        assert_eq!(debian_package("riscv64"), "qemu-system-misc");
        assert_eq!(console("aarch64"), "ttyAMA0");
        assert_eq!(default_append("riscv64"), "root=/dev/vda rw console=ttyS0");
    }
}
