//! A built kernel tree (`kernel = "~/linux"`): the image built for the VM's architecture, the
//! release it reports (`uname -r`), what its `.config` lacks for the boot, and its modules
//! packed for the guest, all without writing into the tree.
//!
//! The API the start (and `run --kernel`) use: [`KernelTree::open`], then
//! [`KernelTree::check_config`] with the VM's [`Needs`], then [`KernelTree::boot_initrd`]
//! into a folder of the VM's private state.

mod config;
mod cpio;
mod modules;

use std::fs;
use std::path::{Path, PathBuf};

pub use config::{MissingOption, Needs};

/// Why a kernel tree cannot boot this VM; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KernelTreeError {
    #[error("{} is not a built kernel tree for {arch}: no {image} (build it: make -C {} -j$(nproc))", .tree.display(), .tree.display())]
    NotBuilt {
        tree: PathBuf,
        arch: String,
        image: &'static str,
    },
    #[error("{} is built for {built} ({image}), not for this VM's arch {arch}", .tree.display())]
    OtherArch {
        tree: PathBuf,
        arch: String,
        built: &'static str,
        image: &'static str,
    },
    #[error("kernel tree {}: qcmdr cannot boot {arch} kernel trees (it knows {})", .tree.display(), known_arches())]
    UnknownArch { tree: PathBuf, arch: String },
    #[error("{}: {}", .tree.display(), config::describe_missing(.missing))]
    MissingOptions {
        tree: PathBuf,
        missing: Vec<MissingOption>,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("depmod failed on the tree's modules ({status}): {stderr}")]
    Depmod { status: String, stderr: String },
}

/// Where each architecture's build leaves its bootable image, and the `.config` symbol only
/// that architecture sets.
struct ArchLayout {
    arch: &'static str,
    image: &'static str,
    symbol: &'static str,
}

const LAYOUTS: &[ArchLayout] = &[
    ArchLayout {
        arch: "x86_64",
        image: "arch/x86/boot/bzImage",
        symbol: "CONFIG_X86_64",
    },
    ArchLayout {
        arch: "aarch64",
        image: "arch/arm64/boot/Image",
        symbol: "CONFIG_ARM64",
    },
    ArchLayout {
        arch: "riscv64",
        image: "arch/riscv/boot/Image",
        symbol: "CONFIG_RISCV",
    },
    ArchLayout {
        arch: "arm",
        image: "arch/arm/boot/zImage",
        symbol: "CONFIG_ARM",
    },
];

fn known_arches() -> String {
    LAYOUTS
        .iter()
        .map(|l| l.arch)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A built kernel tree, checked to hold an image for one architecture.
#[derive(Debug, Clone)]
pub struct KernelTree {
    pub root: PathBuf,
    /// The bootable image (`-kernel`).
    pub image: PathBuf,
    /// `include/config/kernel.release`: what `uname -r` says in the guest.
    pub release: String,
    config: config::KernelConfig,
}

impl KernelTree {
    /// The tree at `root` as built for `arch` (a VM's `arch`, as in `qemu-system-<arch>`).
    pub fn open(root: &Path, arch: &str) -> Result<KernelTree, KernelTreeError> {
        let Some(layout) = LAYOUTS.iter().find(|l| l.arch == arch) else {
            return Err(KernelTreeError::UnknownArch {
                tree: root.to_path_buf(),
                arch: arch.to_string(),
            });
        };
        let config_path = root.join(".config");
        let config = config::KernelConfig::read(&config_path).map_err(|source| {
            KernelTreeError::Io {
                context: format!(
                    "{} has no readable .config (configure and build it first: make defconfig && make)",
                    root.display()
                ),
                source,
            }
        })?;
        if !config.is_set(layout.symbol) {
            if let Some(built) = LAYOUTS
                .iter()
                .find(|other| other.arch != arch && config.is_set(other.symbol))
            {
                return Err(KernelTreeError::OtherArch {
                    tree: root.to_path_buf(),
                    arch: arch.to_string(),
                    built: built.arch,
                    image: built.image,
                });
            }
        }
        let image = root.join(layout.image);
        if !image.is_file() {
            return Err(KernelTreeError::NotBuilt {
                tree: root.to_path_buf(),
                arch: arch.to_string(),
                image: layout.image,
            });
        }
        let release_file = root.join("include/config/kernel.release");
        let release = fs::read_to_string(&release_file)
            .map_err(|source| KernelTreeError::Io {
                context: format!(
                    "cannot read {} (the tree is not fully built: make)",
                    release_file.display()
                ),
                source,
            })?
            .trim()
            .to_string();
        Ok(KernelTree {
            root: root.to_path_buf(),
            image,
            release,
            config,
        })
    }

    /// Every option `needs` asks for that the tree's `.config` lacks, all at once.
    pub fn check_config(&self, needs: &Needs) -> Result<(), KernelTreeError> {
        let missing = self.config.missing(needs);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(KernelTreeError::MissingOptions {
                tree: self.root.clone(),
                missing,
            })
        }
    }

    /// Whether the tree builds modules at all (`CONFIG_MODULES=y` and a `modules.order`).
    pub fn has_modules(&self) -> bool {
        self.config.is_set("CONFIG_MODULES") && self.root.join("modules.order").is_file()
    }

    /// The initrd the VM boots with: `base` (the VM's own initrd, if any) followed by a newc
    /// archive holding the tree's modules as `lib/modules/<release>/` (the kernel unpacks
    /// concatenated archives in order). Written into `work` (the VM's private folder,
    /// emptied first); returns its path.
    pub fn boot_initrd(
        &self,
        base: Option<&Path>,
        work: &Path,
    ) -> Result<PathBuf, KernelTreeError> {
        modules::boot_initrd(self, base, work)
    }
}
