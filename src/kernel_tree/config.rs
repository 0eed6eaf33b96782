//! A kernel tree's `.config`: what a VM's boot needs from it, and the `scripts/config` line
//! that adds each missing option.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What the VM's boot uses, so only its own needs are checked.
#[derive(Debug, Clone)]
pub struct Needs {
    /// The VM's `arch` (its serial console driver differs).
    pub arch: String,
    /// A virtio network device (the SSH connection).
    pub network: bool,
    /// The root filesystem is an ext4 virtio disk (an image), so modules are only loadable
    /// until the initramfs hands over to it: what the running guest needs must be built in.
    pub disk_root: bool,
    /// `mounts` (virtio-fs).
    pub virtiofs: bool,
    /// The guest gets the tree's modules in its initramfs (the tree builds modules).
    pub modules: bool,
}

/// When an option is needed, which decides whether a module is good enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Before any initramfs code runs: only built in will do.
    Always,
    /// To find the root filesystem: a module works from the initramfs.
    ForRoot,
    /// Once the guest runs: a module works if the running guest can still load it.
    Running,
}

/// One option the tree's `.config` lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingOption {
    /// Without `CONFIG_`.
    pub option: String,
    pub purpose: &'static str,
    /// What the `.config` has: `None` (not set), or `m` where built in is needed.
    pub found: Option<String>,
    /// `--enable` (built in) or `--module`.
    pub fix_flag: &'static str,
    pub config_file: PathBuf,
}

impl MissingOption {
    /// The command that fixes it.
    pub fn fix(&self) -> String {
        format!(
            "scripts/config --file {} {} {}",
            self.config_file.display(),
            self.fix_flag,
            self.option
        )
    }
}

/// All missing options in one line: each with its fix, then how to rebuild.
pub(super) fn describe_missing(missing: &[MissingOption]) -> String {
    let items: Vec<String> = missing
        .iter()
        .map(|m| {
            let state = match &m.found {
                Some(value) => format!("is {value}, needs y"),
                None => "is not set".to_string(),
            };
            format!("CONFIG_{} ({}) {state}: {}", m.option, m.purpose, m.fix())
        })
        .collect();
    format!(
        "its .config lacks what this VM's boot needs: {}; then rebuild (make olddefconfig && make)",
        items.join("; ")
    )
}

/// The parsed `.config`: `CONFIG_X=value` lines (`# CONFIG_X is not set` is absence).
#[derive(Debug, Clone)]
pub(super) struct KernelConfig {
    path: PathBuf,
    values: HashMap<String, String>,
}

impl KernelConfig {
    pub fn read(path: &Path) -> std::io::Result<KernelConfig> {
        let text = std::fs::read_to_string(path)?;
        Ok(KernelConfig::parse(path, &text))
    }

    fn parse(path: &Path, text: &str) -> KernelConfig {
        let values = text
            .lines()
            .filter(|line| line.starts_with("CONFIG_"))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_string(), value.trim().to_string()))
            .collect();
        KernelConfig {
            path: path.to_path_buf(),
            values,
        }
    }

    /// `=y` (for a symbol like `CONFIG_X86_64` or `CONFIG_MODULES`).
    pub fn is_set(&self, symbol: &str) -> bool {
        self.values.get(symbol).is_some_and(|v| v == "y")
    }

    pub fn missing(&self, needs: &Needs) -> Vec<MissingOption> {
        wanted(needs)
            .into_iter()
            .filter_map(|(option, when, purpose)| {
                let found = self.values.get(&format!("CONFIG_{option}")).cloned();
                let module_ok = needs.modules
                    && match when {
                        When::Always => false,
                        When::ForRoot => true,
                        When::Running => !needs.disk_root,
                    };
                let ok = match found.as_deref() {
                    Some("y") => true,
                    Some("m") => module_ok,
                    _ => false,
                };
                (!ok).then(|| MissingOption {
                    option: option.to_string(),
                    purpose,
                    found: found.filter(|v| v == "m"),
                    fix_flag: if module_ok { "--module" } else { "--enable" },
                    config_file: self.path.clone(),
                })
            })
            .collect()
    }
}

/// The options a boot with `needs` uses, in a fixed order.
fn wanted(needs: &Needs) -> Vec<(&'static str, When, &'static str)> {
    let mut out = Vec::new();
    match needs.arch.as_str() {
        "x86_64" => out.push(("SERIAL_8250_CONSOLE", When::Always, "the serial console")),
        "aarch64" | "arm" => out.push((
            "SERIAL_AMBA_PL011_CONSOLE",
            When::Always,
            "the serial console",
        )),
        _ => {}
    }
    if needs.modules {
        out.push(("MODULES", When::Always, "loading the tree's modules"));
        out.push((
            "BLK_DEV_INITRD",
            When::Always,
            "the initramfs with the modules",
        ));
    }
    out.push(("VIRTIO_PCI", When::ForRoot, "virtio devices"));
    if needs.disk_root {
        out.push(("VIRTIO_BLK", When::ForRoot, "the image's disk"));
        out.push(("EXT4_FS", When::ForRoot, "the image's ext4 root filesystem"));
    }
    if needs.network {
        out.push(("VIRTIO_NET", When::Running, "the network SSH uses"));
    }
    if needs.virtiofs {
        out.push(("FUSE_FS", When::Running, "virtio-fs, for mounts"));
        out.push(("VIRTIO_FS", When::Running, "virtio-fs, for mounts"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs() -> Needs {
        Needs {
            arch: "x86_64".into(),
            network: true,
            disk_root: false,
            virtiofs: true,
            modules: true,
        }
    }

    const GOOD: &str = "CONFIG_X86_64=y\nCONFIG_MODULES=y\nCONFIG_BLK_DEV_INITRD=y\n\
        CONFIG_SERIAL_8250_CONSOLE=y\nCONFIG_VIRTIO_PCI=m\nCONFIG_VIRTIO_NET=m\n\
        CONFIG_FUSE_FS=m\nCONFIG_VIRTIO_FS=m\n";

    #[test]
    fn modules_do_for_an_initramfs_guest() {
        let config = KernelConfig::parse(Path::new("/t/.config"), GOOD);
        assert_eq!(config.missing(&needs()), []);
    }

    #[test]
    fn each_missing_option_is_named_with_its_fix() {
        let text = GOOD
            .replace("CONFIG_VIRTIO_FS=m\n", "# CONFIG_VIRTIO_FS is not set\n")
            .replace(
                "CONFIG_SERIAL_8250_CONSOLE=y",
                "CONFIG_SERIAL_8250_CONSOLE=m",
            );
        let config = KernelConfig::parse(Path::new("/t/.config"), &text);
        let missing = config.missing(&needs());
        let line = describe_missing(&missing);
        assert_eq!(
            line,
            "its .config lacks what this VM's boot needs: CONFIG_SERIAL_8250_CONSOLE (the serial \
             console) is m, needs y: scripts/config --file /t/.config --enable SERIAL_8250_CONSOLE; \
             CONFIG_VIRTIO_FS (virtio-fs, for mounts) is not set: scripts/config --file /t/.config \
             --module VIRTIO_FS; then rebuild (make olddefconfig && make)"
        );
    }

    #[test]
    fn a_disk_root_guest_needs_what_it_uses_after_the_initramfs_built_in() {
        let config = KernelConfig::parse(
            Path::new("/t/.config"),
            &format!("{GOOD}CONFIG_VIRTIO_BLK=m\nCONFIG_EXT4_FS=m\n"),
        );
        let needs = Needs {
            disk_root: true,
            ..needs()
        };
        let missing: Vec<(String, &str)> = config
            .missing(&needs)
            .into_iter()
            .map(|m| (m.option, m.fix_flag))
            .collect();
        let expected = [
            ("VIRTIO_NET", "--enable"),
            ("FUSE_FS", "--enable"),
            ("VIRTIO_FS", "--enable"),
        ];
        assert_eq!(missing, expected.map(|(o, f)| (o.to_string(), f)).to_vec());
    }

    #[test]
    fn without_modules_everything_must_be_built_in() {
        let config = KernelConfig::parse(Path::new("/t/.config"), GOOD);
        let needs = Needs {
            modules: false,
            virtiofs: false,
            ..needs()
        };
        let names: Vec<String> = config
            .missing(&needs)
            .into_iter()
            .map(|m| m.option)
            .collect();
        assert_eq!(names, ["VIRTIO_PCI", "VIRTIO_NET"]);
    }
}
