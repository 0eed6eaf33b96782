//! Building an image of another architecture: mmdebstrap runs the image's own programs (the
//! packages' maintainer scripts, the recipe's `run`) through qemu-user, which the kernel
//! starts for foreign binaries once binfmt_misc has an entry for them. That entry is the
//! host's to set up (as root, once: Debian's `qemu-user-static` does it); this checks it
//! before a build, so a missing one is named instead of failing deep inside dpkg.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the kernel's binfmt_misc entries live.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The architecture of this machine, in qcmdr's (QEMU's) names.
pub fn host_arch() -> &'static str {
    std::env::consts::ARCH
}

/// Whether building for `arch` runs programs this machine cannot run natively.
pub fn is_foreign(arch: &str) -> bool {
    arch != host_arch()
}

/// Why this machine cannot run another architecture's programs for a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForeignError {
    NotMounted {
        arch: String,
        host: &'static str,
        dir: PathBuf,
    },
    NotRegistered {
        arch: String,
        host: &'static str,
        entry: PathBuf,
    },
    Disabled {
        arch: String,
        entry: PathBuf,
    },
    NotFixed {
        arch: String,
        entry: PathBuf,
        interpreter: String,
    },
    NoArchTest {
        arch: String,
    },
}

impl ForeignError {
    /// What is wrong, in one sentence.
    pub fn cause(&self) -> String {
        match self {
            ForeignError::NotMounted { arch, host, dir } => format!(
                "building a debian image for {arch} on this {host} machine runs {arch} programs through \
                 qemu-user, but binfmt_misc is not mounted ({})",
                dir.display()
            ),
            ForeignError::NotRegistered { arch, host, entry } => format!(
                "building a debian image for {arch} on this {host} machine runs {arch} programs through \
                 qemu-user, and none is registered for them ({} is missing)",
                entry.display()
            ),
            ForeignError::Disabled { arch, entry } => format!(
                "building a debian image for {arch} runs {arch} programs through qemu-user, and its \
                 binfmt_misc entry {} is disabled",
                entry.display()
            ),
            ForeignError::NotFixed {
                arch,
                entry,
                interpreter,
            } => format!(
                "building a debian image for {arch} runs {arch} programs through qemu-user inside the \
                 image's root, but its binfmt_misc entry {} lacks the F (fix binary) flag, so \
                 the kernel looks for {interpreter} inside that root",
                entry.display()
            ),
            ForeignError::NoArchTest { arch } => format!(
                "building a debian image for {arch} needs arch-test, with which mmdebstrap checks that \
                 {arch} programs run here"
            ),
        }
    }

    /// What the host's administrator does about it.
    pub fn fix(&self) -> String {
        match self {
            ForeignError::NotMounted { dir, .. } => format!(
                "as root: mount -t binfmt_misc binfmt_misc {}, then install qemu-user-static \
                 (Debian: apt-get install qemu-user-static binfmt-support)",
                dir.display()
            ),
            ForeignError::NotRegistered { arch, .. } => format!(
                "install it as root (Debian: apt-get install qemu-user-static binfmt-support; \
                 where nothing registers it at boot: /usr/lib/systemd/systemd-binfmt \
                 /usr/lib/binfmt.d/qemu-{arch}.conf)"
            ),
            ForeignError::Disabled { entry, .. } => {
                format!("as root: echo 1 > {}", entry.display())
            }
            ForeignError::NotFixed { arch, .. } => format!(
                "register it with F, as Debian's qemu-user-static does \
                 (/usr/lib/binfmt.d/qemu-{arch}.conf)"
            ),
            ForeignError::NoArchTest { .. } => "Debian: apt-get install arch-test".to_string(),
        }
    }
}

impl std::fmt::Display for ForeignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.cause(), self.fix())
    }
}

impl std::error::Error for ForeignError {}

/// Checks that this machine runs `arch`'s programs for a build (always true for its own).
pub fn check(arch: &str) -> Result<(), ForeignError> {
    check_in(Path::new(BINFMT_DIR), arch, host_arch())?;
    if is_foreign(arch) && crate::runtime::executable::find_on_path("arch-test").is_none() {
        return Err(ForeignError::NoArchTest {
            arch: arch.to_string(),
        });
    }
    Ok(())
}

/// [`check`] against the binfmt_misc folder `dir` on a `host` machine.
fn check_in(dir: &Path, arch: &str, host: &'static str) -> Result<(), ForeignError> {
    if arch == host {
        return Ok(());
    }
    if !dir.join("status").exists() {
        return Err(ForeignError::NotMounted {
            arch: arch.to_string(),
            host,
            dir: dir.to_path_buf(),
        });
    }
    let entry = dir.join(format!("qemu-{arch}"));
    let Ok(text) = fs::read_to_string(&entry) else {
        return Err(ForeignError::NotRegistered {
            arch: arch.to_string(),
            host,
            entry,
        });
    };
    let mut lines = text.lines();
    if lines.next() != Some("enabled") {
        return Err(ForeignError::Disabled {
            arch: arch.to_string(),
            entry,
        });
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    if !field("flags:").contains('F') {
        return Err(ForeignError::NotFixed {
            arch: arch.to_string(),
            entry,
            interpreter: field("interpreter"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64_ENTRY: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: POF\noffset 0\nmagic 7f454c46\nmask ffffffff\n";

    fn binfmt(entries: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("status"), "enabled\n").unwrap();
        for (name, text) in entries {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn the_host_arch_needs_nothing_even_without_binfmt_misc() {
        assert_eq!(
            check_in(Path::new("/nonexistent"), "x86_64", "x86_64"),
            Ok(())
        );
    }

    #[test]
    fn a_registered_fixed_entry_is_enough() {
        let dir = binfmt(&[("qemu-aarch64", AARCH64_ENTRY)]);
        assert_eq!(check_in(dir.path(), "aarch64", "x86_64"), Ok(()));
    }

    #[test]
    fn each_missing_piece_is_named_with_its_fix() {
        let unmounted = check_in(Path::new("/nonexistent"), "aarch64", "x86_64").unwrap_err();
        assert!(unmounted
            .to_string()
            .contains("binfmt_misc is not mounted (/nonexistent); as root: mount -t binfmt_misc"));
        assert_eq!(
            unmounted.fix(),
            "as root: mount -t binfmt_misc binfmt_misc /nonexistent, then install \
             qemu-user-static (Debian: apt-get install qemu-user-static binfmt-support)"
        );

        let dir = binfmt(&[("qemu-aarch64", AARCH64_ENTRY)]);
        let missing = check_in(dir.path(), "riscv64", "x86_64").unwrap_err();
        let text = missing.to_string();
        assert!(
            text.contains("on this x86_64 machine runs riscv64 programs"),
            "{text}"
        );
        assert!(text.contains("qemu-riscv64 is missing"), "{text}");
        assert!(text.contains("apt-get install qemu-user-static"), "{text}");

        let disabled = AARCH64_ENTRY.replace("enabled", "disabled");
        let dir = binfmt(&[("qemu-aarch64", &disabled)]);
        let text = check_in(dir.path(), "aarch64", "x86_64")
            .unwrap_err()
            .to_string();
        assert!(text.contains("is disabled; as root: echo 1 >"), "{text}");

        let unfixed = AARCH64_ENTRY.replace("POF", "PO");
        let dir = binfmt(&[("qemu-aarch64", &unfixed)]);
        let text = check_in(dir.path(), "aarch64", "x86_64")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("lacks the F (fix binary) flag, so the kernel looks for /usr/libexec/qemu-binfmt/aarch64-binfmt-P inside that root"),
            "{text}"
        );
    }
}
