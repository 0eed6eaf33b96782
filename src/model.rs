//! Pure data: the validated project and its VMs, as the rest of qcmdr sees them.
//!
//! Everything here has already been checked by `config`; code below the CLI can rely on
//! every invariant stated in these docs without re-validating.

pub mod arch;
mod image;

use std::path::PathBuf;
use std::time::Duration;

pub use arch::ArchDefault;
pub use image::{CloudRecipe, DebianRecipe, Image, Recipe, VmImage};

/// A loaded and validated `conf.lua`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Absolute path of the config file that was evaluated.
    pub config_file: PathBuf,
    /// Folder holding `qemu-system-<arch>`; `None` means search `PATH`.
    pub qemu_bin_dir: Option<PathBuf>,
    /// `ssh_conf_base`: options for every VM, sorted by option name (case-insensitively).
    pub ssh_base: Vec<SshOption>,
    /// Default sync engine for entries that do not name one (`sync_engine`).
    pub sync_engine: SyncEngine,
    /// In the order of the config file. Names are unique.
    pub vms: Vec<Vm>,
    /// The `images` table, sorted by name, then arch: a `debian` image is there once per
    /// arch of the VMs that boot it (x86_64 when none does), each its own build.
    pub images: Vec<Image>,
    /// `<cache>/images`: every build of every image lives below it.
    pub image_cache: PathBuf,
}

impl Project {
    pub fn vm(&self, name: &str) -> Option<&Vm> {
        self.vms.iter().find(|vm| vm.name == name)
    }

    /// The build `vm` boots from (its image, of its arch).
    pub fn image_of(&self, vm: &Vm) -> Option<&Image> {
        let name = &vm.image.as_ref()?.name;
        self.images
            .iter()
            .find(|image| &image.name == name && image.serves(&vm.arch))
    }

    /// Every build of the image `name` (one per arch).
    pub fn images_named<'p>(&'p self, name: &'p str) -> impl Iterator<Item = &'p Image> + 'p {
        self.images.iter().filter(move |image| image.name == name)
    }

    pub fn vm_names(&self) -> Vec<&str> {
        self.vms.iter().map(|vm| vm.name.as_str()).collect()
    }
}

/// One VM definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    /// Matches `^[A-Za-z_][A-Za-z0-9_-]*$`, at most 63 characters; also the SSH `Host` alias.
    pub name: String,
    /// Selects the binary `qemu-system-<arch>`.
    pub arch: String,
    /// How long `start` waits for `login_pattern` on the serial console.
    pub login_timeout: Duration,
    /// Literal text (not a regex) that marks the login prompt in the serial log.
    pub login_pattern: String,
    /// How long `start` keeps probing SSH once the previous stage is done.
    pub ssh_timeout: Duration,
    /// Bound for each graceful stop step (SSH poweroff, ACPI powerdown).
    pub stop_timeout: Duration,
    /// Which readiness stages `start` waits for.
    pub wait_for: WaitFor,
    pub ssh: SshSpec,
    pub sync: Vec<SyncSpec>,
    /// The user's QEMU arguments: flattened, shell-split and expanded, without qcmdr's plumbing.
    pub args: Vec<String>,
    /// Host ports forwarded by `hostfwd=` rules found in `args`.
    pub host_forwards: Vec<HostForward>,
    /// The image the VM boots from (`image`), with its boot settings resolved.
    pub image: Option<VmImage>,
    /// Per-architecture defaults (`arch_defaults`), in command-line order; empty when off.
    pub arch_defaults: Vec<ArchDefault>,
    /// Direct kernel boot of a VM without an image (`kernel`, `initrd`, `append`).
    pub kernel_boot: Option<KernelBoot>,
    /// Host folders shared live into the guest over virtiofs, in the config's order.
    pub mounts: Vec<MountSpec>,
    /// The guest's RAM in MiB as `args` set it (`-m`), read only for a VM with `mounts`
    /// (their shared memory replaces the RAM); otherwise 0.
    pub memory_mib: u64,
}

impl Vm {
    /// The kernel qcmdr passes to QEMU (`-kernel`), from the image or the VM's own keys: a
    /// file, or a built kernel tree (a folder; resolved at start).
    pub fn kernel(&self) -> Option<&std::path::Path> {
        match (&self.image, &self.kernel_boot) {
            (Some(image), _) => image.kernel.as_deref(),
            (None, Some(boot)) => Some(&boot.kernel),
            (None, None) => None,
        }
    }

    /// This VM booting `kernel` instead of its own (`start --kernel`); `None` when its
    /// kernel is not qcmdr's to replace (it boots the `-kernel` in its `args`, or a cloud
    /// image's own boot loader).
    pub fn with_kernel(&self, kernel: &std::path::Path) -> Option<Vm> {
        let mut vm = self.clone();
        match (&mut vm.image, &mut vm.kernel_boot) {
            (Some(image), _) if image.kernel.is_some() => image.kernel = Some(kernel.into()),
            (None, Some(boot)) => boot.kernel = kernel.into(),
            _ => return None,
        }
        Some(vm)
    }

    /// The initrd qcmdr passes to QEMU (`-initrd`) before a kernel tree's modules are added.
    pub fn initrd(&self) -> Option<&std::path::Path> {
        match (&self.image, &self.kernel_boot) {
            (Some(image), _) => image.initrd.as_deref(),
            (None, Some(boot)) => boot.initrd.as_deref(),
            (None, None) => None,
        }
    }
}

/// A VM's own `kernel` (without an image): what QEMU boots directly.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelBoot {
    /// Absolute, `~` expanded: a kernel image file or a built kernel tree (a folder).
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// `-append`; `None`: QEMU's default (empty) command line.
    pub append: Option<String>,
}

/// One entry of a VM's `mounts` list: a host folder the guest sees live (virtiofs).
#[derive(Debug, Clone, PartialEq)]
pub struct MountSpec {
    /// Absolute, `~` expanded; it may not exist on this machine (checked at start).
    pub source: PathBuf,
    /// Absolute guest path without spaces, commas or colons (it travels on the kernel
    /// command line as `qcmdr.mount=<tag>:<dest>:<ro|rw>`).
    pub dest: String,
    pub readonly: bool,
    /// The virtiofs tag: `qcmdr<N>`, N counting from 1 in the config's order.
    pub tag: String,
}

/// Readiness stages `start` waits for, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// The login prompt on the serial console and SSH, side by side (the default): SSH is
    /// probed and logged into while the guest boots.
    LoginAndSsh,
    /// The login prompt, then SSH: nothing knocks on the guest before its prompt.
    LoginThenSsh,
    /// Only the login prompt.
    Login,
    /// Only SSH (guests without a serial console).
    Ssh,
    /// Nothing beyond QEMU having started (pidfile written).
    Nothing,
}

impl WaitFor {
    pub fn login(self) -> bool {
        matches!(
            self,
            WaitFor::LoginAndSsh | WaitFor::LoginThenSsh | WaitFor::Login
        )
    }
    pub fn ssh(self) -> bool {
        matches!(
            self,
            WaitFor::LoginAndSsh | WaitFor::LoginThenSsh | WaitFor::Ssh
        )
    }
    /// Whether SSH waits for the login prompt before its first probe.
    pub fn ssh_after_prompt(self) -> bool {
        self == WaitFor::LoginThenSsh
    }
    /// The spelling used in `conf.lua` and in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitFor::LoginAndSsh => "login+ssh",
            WaitFor::LoginThenSsh => "login-then-ssh",
            WaitFor::Login => "login",
            WaitFor::Ssh => "ssh",
            WaitFor::Nothing => "none",
        }
    }
}

/// The `ssh` table of a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct SshSpec {
    /// `HostName`, default `localhost`.
    pub host_name: String,
    pub port: u16,
    pub user: String,
    /// As written in the config (ssh itself expands `~`).
    pub identity_file: String,
    /// Every other key of the table, sorted by option name (case-insensitively).
    pub options: Vec<SshOption>,
}

/// One `ssh_config` option, its value already rendered as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOption {
    pub name: String,
    pub value: String,
}

/// One entry of a VM's `sync` list.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSpec {
    /// Absolute, `~` expanded; it may not exist on this machine (checked when its sync runs).
    pub source: PathBuf,
    /// Path in the guest as written (`~` is the guest user's home).
    pub dest: String,
    pub ignore_vcs: bool,
    /// Each pattern non-empty, kept exactly as written (spaces and commas included).
    pub ignore: Vec<String>,
    /// Mutagen mode name (`one-way-replica` by default); rsync accepts only `one-way-replica`.
    pub mode: String,
    pub engine: SyncEngine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncEngine {
    Mutagen,
    Rsync,
}

impl SyncEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncEngine::Mutagen => "mutagen",
            SyncEngine::Rsync => "rsync",
        }
    }
}

/// A `hostfwd=` rule of QEMU's user-mode network: a host port QEMU will bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostForward {
    pub protocol: Protocol,
    /// Host address to bind; empty means all addresses.
    pub host_addr: String,
    pub host_port: u16,
    pub guest_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// Ready-made values for unit tests: a plausible VM and project to adjust with `..`.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn vm(name: &str, port: u16) -> Vm {
        Vm {
            name: name.into(),
            arch: "x86_64".into(),
            login_timeout: Duration::from_secs(60),
            login_pattern: "login:".into(),
            ssh_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(30),
            wait_for: WaitFor::LoginAndSsh,
            ssh: SshSpec {
                host_name: "localhost".into(),
                port,
                user: "root".into(),
                identity_file: "~/.ssh/id".into(),
                options: vec![],
            },
            sync: vec![],
            args: vec![],
            host_forwards: vec![],
            image: None,
            arch_defaults: vec![],
            kernel_boot: None,
            mounts: vec![],
            memory_mib: 0,
        }
    }

    pub fn project(config_file: &str, vms: Vec<Vm>) -> Project {
        Project {
            config_file: PathBuf::from(config_file),
            qemu_bin_dir: None,
            ssh_base: vec![],
            sync_engine: SyncEngine::Mutagen,
            vms,
            images: vec![],
            image_cache: PathBuf::from("/cache/qcmdr/images"),
        }
    }
}
