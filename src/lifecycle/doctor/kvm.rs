//! Whether this process can run a VM on KVM: `/dev/kvm` exists, opens read-write for this
//! user, and really makes a VM with a vCPU (a nested KVM can open and still fail there).
//! When it does not, the one cause that applies and its fix: the device missing, a mode that
//! lets only its owner in, a group the user is not in, or one `/etc/group` lists the user in
//! that this process lacks (added by `usermod` after this login).
//!
//! The facts are read once ([`read`]); [`judge`] is pure over them, so each cause is
//! unit-tested without a machine that has it. `start` uses [`usable`] before launching a VM
//! that asks for KVM.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::account::Account;
use super::kvm_guest::{self, GuestFailure};

/// Test-only: the KVM device to check instead of `/dev/kvm`, so a test can point qcmdr at a
/// device node it made with the owner and mode of the fault it injects (docs/doctor.md).
pub const DEVICE_ENV: &str = "QCMDR_KVM_DEVICE";

/// The device qcmdr checks: `/dev/kvm` (or [`DEVICE_ENV`]).
pub fn device() -> PathBuf {
    std::env::var_os(DEVICE_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/dev/kvm"), PathBuf::from)
}

/// Owner and mode of the device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// The step of making a VM that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ApiVersion,
    CreateVm,
    CreateVcpu,
}

impl Step {
    fn ioctl(self) -> &'static str {
        match self {
            Step::ApiVersion => "KVM_GET_API_VERSION",
            Step::CreateVm => "KVM_CREATE_VM",
            Step::CreateVcpu => "KVM_CREATE_VCPU",
        }
    }
}

/// What this machine looks like to KVM.
#[derive(Debug, Clone)]
pub struct KvmFacts {
    pub device: PathBuf,
    /// `None`: there is no such file.
    pub node: Option<Node>,
    /// The read-write open; `None` when there is no node.
    pub open: Option<Result<(), Errno>>,
    /// Making a VM with one vCPU on the opened device; `None` when it did not open.
    pub probe: Option<Result<(), (Step, Errno)>>,
    /// A test guest run to 64-bit mode under KVM by QEMU (`kvm_guest`); `None` when not tried.
    pub guest: Option<Result<(), GuestFailure>>,
    pub account: Account,
}

/// Why KVM cannot be used here: [`KvmUnusable::cause`], then [`KvmUnusable::fix`]. Printed
/// as both, `cause; fix` (an `errno` is part of the cause: nothing is below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmUnusable {
    Missing {
        device: PathBuf,
    },
    /// The mode lets only the owner in, and we are not the owner.
    OwnerOnly {
        device: PathBuf,
        mode: u32,
        owner: u32,
        group: String,
        user: String,
    },
    NotInGroup {
        device: PathBuf,
        mode: u32,
        group: String,
        user: String,
    },
    /// `/etc/group` lists the user in the device's group; this process lacks it.
    NeedsFreshLogin {
        device: PathBuf,
        group: String,
        user: String,
    },
    Open {
        device: PathBuf,
        errno: Errno,
    },
    /// Opens, but making a VM fails.
    Probe {
        device: PathBuf,
        step: Step,
        errno: Errno,
    },
    /// Makes a VM, but a guest does not run on it.
    GuestDoesNotRun {
        device: PathBuf,
        failure: GuestFailure,
    },
}

impl KvmUnusable {
    /// What is wrong, in one sentence.
    pub fn cause(&self) -> String {
        match self {
            KvmUnusable::Missing { device } => format!(
                "{} does not exist (no KVM in this kernel or machine)",
                device.display()
            ),
            KvmUnusable::OwnerOnly {
                device,
                mode,
                owner,
                group,
                user,
            } => format!(
                "{} is mode {mode:04o}, owner uid {owner}, group {group}: only its owner may \
                 open it, and {user} is not its owner",
                device.display()
            ),
            KvmUnusable::NotInGroup {
                device,
                mode,
                group,
                user,
            } => format!(
                "{} belongs to group {group} (mode {mode:04o}) and {user} is not in that group",
                device.display()
            ),
            KvmUnusable::NeedsFreshLogin {
                device,
                group,
                user,
            } => format!(
                "{} belongs to group {group}, and /etc/group lists {user} in {group}, but this \
                 process does not have that group (it was added after this login)",
                device.display()
            ),
            KvmUnusable::Open { device, errno } => {
                format!("cannot open {} read-write: {errno}", device.display())
            }
            KvmUnusable::Probe {
                device,
                step,
                errno,
            } => format!(
                "{} opens, but {} failed ({errno}), so KVM does not really work here (a nested \
                 KVM its host does not allow, or a KVM module in a bad state)",
                device.display(),
                step.ioctl()
            ),
            KvmUnusable::GuestDoesNotRun { device, failure } => format!(
                "{} opens and makes VMs, but a guest does not really run on it: {failure} (a \
                 nested KVM its host does not fully support)",
                device.display()
            ),
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            KvmUnusable::Missing { .. } => "load the module (modprobe kvm_intel or kvm_amd), \
                 enable virtualization (VT-x/AMD-V) in the firmware, or for a VM enable nested \
                 virtualization on its host"
                .into(),
            KvmUnusable::OwnerOnly { device, user, .. } => format!(
                "let a group in, as udev does on a normal boot (sudo chgrp kvm {0} && sudo \
                 chmod 0660 {0}), then add yourself to it (sudo usermod -aG kvm {user}) and \
                 log in again",
                device.display()
            ),
            KvmUnusable::NotInGroup { group, user, .. } => {
                format!("add yourself: sudo usermod -aG {group} {user}, then log in again")
            }
            KvmUnusable::NeedsFreshLogin { group, user, .. } => format!(
                "a fresh login is needed after usermod: log out and in again (or run `newgrp \
                 {group}` or `su - {user}`)"
            ),
            KvmUnusable::Open { device, .. } => format!(
                "check its permissions (ls -l {}) and any ACL or security module denying it",
                device.display()
            ),
            KvmUnusable::Probe { .. } | KvmUnusable::GuestDoesNotRun { .. } => {
                "enable nested virtualization on the host (kvm_intel \
                 nested=1 or kvm_amd nested=1), or use TCG (accel=tcg)"
                    .into()
            }
        }
    }
}

impl std::fmt::Display for KvmUnusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.cause(), self.fix())
    }
}

impl std::error::Error for KvmUnusable {}

/// The facts about this process and [`device`], with a VM made and closed at once if it
/// opens: milliseconds, for `start`.
pub fn read() -> KvmFacts {
    read_device(&device(), Account::current())
}

/// [`read`], and when the device works, a test guest run on it by QEMU (`doctor`, `init`).
/// Not tried on a non-x86 host, without `qemu-system-x86_64`, or with [`DEVICE_ENV`] set
/// (QEMU always opens `/dev/kvm`, not the device the test made).
pub fn read_with_guest() -> KvmFacts {
    let mut facts = read();
    let device_works = matches!(facts.probe, Some(Ok(())));
    let overridden = std::env::var_os(DEVICE_ENV).is_some_and(|v| !v.is_empty());
    if device_works && !overridden && std::env::consts::ARCH == "x86_64" {
        if let Some(qemu) = crate::runtime::executable::find_on_path("qemu-system-x86_64") {
            facts.guest = match kvm_guest::run(&qemu, "kvm") {
                Ok(()) => Some(Ok(())),
                Err(Some(failure)) => Some(Err(failure)),
                // QEMU did not run at all: that says nothing about KVM (the qemu check does).
                Err(None) => None,
            };
        }
    }
    facts
}

fn read_device(device: &Path, account: Account) -> KvmFacts {
    use std::os::unix::fs::MetadataExt;
    let node = std::fs::metadata(device).ok().map(|meta| Node {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
    });
    let opened = node.map(|_| {
        rustix::fs::open(
            device,
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
    });
    let probe = match &opened {
        Some(Ok(fd)) => Some(probe(fd)),
        _ => None,
    };
    KvmFacts {
        device: device.to_path_buf(),
        node,
        open: opened.map(|o| o.map(drop)),
        probe,
        guest: None,
        account,
    }
}

/// Whether KVM can be used by this process now.
pub fn usable() -> Result<(), KvmUnusable> {
    judge(&read())
}

/// The one cause, if any, that keeps this process from running a VM on KVM.
pub fn judge(facts: &KvmFacts) -> Result<(), KvmUnusable> {
    let device = facts.device.clone();
    let (Some(node), Some(open)) = (facts.node, &facts.open) else {
        return Err(KvmUnusable::Missing { device });
    };
    match open {
        Ok(()) => match facts.probe {
            Some(Err((step, errno))) => Err(KvmUnusable::Probe {
                device,
                step,
                errno,
            }),
            _ => match &facts.guest {
                Some(Err(failure)) => Err(KvmUnusable::GuestDoesNotRun {
                    device,
                    failure: failure.clone(),
                }),
                _ => Ok(()),
            },
        },
        Err(errno) if *errno == Errno::ACCESS || *errno == Errno::PERM => {
            Err(denied(facts, node, device, *errno))
        }
        Err(errno) => Err(KvmUnusable::Open {
            device,
            errno: *errno,
        }),
    }
}

/// Why a permission check refused us, from the node's owner and mode and our groups.
fn denied(facts: &KvmFacts, node: Node, device: PathBuf, errno: Errno) -> KvmUnusable {
    let account = &facts.account;
    let (user, group) = (account.user(), account.group_name(node.gid));
    let group_may = node.mode & 0o060 == 0o060 || node.mode & 0o006 == 0o006;
    if !group_may && account.uid != node.uid {
        return KvmUnusable::OwnerOnly {
            device,
            mode: node.mode,
            owner: node.uid,
            group,
            user,
        };
    }
    if account.process_has(node.gid) {
        // In the group, the mode lets the group in, and still refused: an ACL or an LSM.
        return KvmUnusable::Open { device, errno };
    }
    if account.listed_in(node.gid) {
        return KvmUnusable::NeedsFreshLogin {
            device,
            group,
            user,
        };
    }
    KvmUnusable::NotInGroup {
        device,
        mode: node.mode,
        group,
        user,
    }
}

/// `_IO(KVMIO, n)`: KVM's ioctls without a data block.
const fn kvm_io(number: u8) -> rustix::ioctl::Opcode {
    rustix::ioctl::opcode::none(0xAE, number)
}

/// An ioctl with an integer argument whose return value is the answer (a version, a new fd).
struct ReturnsInt<const OPCODE: rustix::ioctl::Opcode>(usize);

// SAFETY: the KVM ioctls used here take a plain integer (never dereferenced) and return an
// integer; nothing is read from or written to our memory.
unsafe impl<const OPCODE: rustix::ioctl::Opcode> rustix::ioctl::Ioctl for ReturnsInt<OPCODE> {
    type Output = rustix::ioctl::IoctlOutput;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> rustix::ioctl::Opcode {
        OPCODE
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        self.0 as *mut std::ffi::c_void
    }

    unsafe fn output_from_ptr(
        out: rustix::ioctl::IoctlOutput,
        _: *mut std::ffi::c_void,
    ) -> rustix::io::Result<Self::Output> {
        Ok(out)
    }
}

/// The API version KVM has answered since Linux 2.6.22.
const KVM_API_VERSION: i32 = 12;

/// Makes a VM with one vCPU on `kvm` and closes both: what QEMU does first with `accel=kvm`.
fn probe(kvm: &OwnedFd) -> Result<(), (Step, Errno)> {
    use rustix::ioctl::ioctl;
    // SAFETY: see `ReturnsInt`; the returned descriptors are new and owned only here.
    unsafe {
        let version =
            ioctl(kvm, ReturnsInt::<{ kvm_io(0x00) }>(0)).map_err(|e| (Step::ApiVersion, e))?;
        if version != KVM_API_VERSION {
            return Err((Step::ApiVersion, Errno::NOTSUP));
        }
        let vm = ioctl(kvm, ReturnsInt::<{ kvm_io(0x01) }>(0)).map_err(|e| (Step::CreateVm, e))?;
        let vm = OwnedFd::from_raw_fd(vm);
        let vcpu =
            ioctl(&vm, ReturnsInt::<{ kvm_io(0x41) }>(0)).map_err(|e| (Step::CreateVcpu, e))?;
        drop(OwnedFd::from_raw_fd(vcpu));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "alice:x:1000:1000::/home/alice:/bin/sh\n";

    fn facts(node: Node, open: Result<(), Errno>, group_line: &str, process: &[u32]) -> KvmFacts {
        KvmFacts {
            device: PathBuf::from("/dev/kvm"),
            node: Some(node),
            open: Some(open),
            probe: open.is_ok().then_some(Ok(())),
            guest: None,
            account: Account::from_files(
                1000,
                process.to_vec(),
                PASSWD,
                &format!("root:x:0:\nalice:x:1000:\n{group_line}\n"),
            ),
        }
    }

    const KVM_0660: Node = Node {
        uid: 0,
        gid: 993,
        mode: 0o660,
    };

    #[test]
    fn a_missing_device_says_how_to_get_one() {
        let mut f = facts(KVM_0660, Ok(()), "kvm:x:993:", &[1000]);
        (f.node, f.open, f.probe) = (None, None, None);
        let err = judge(&f).unwrap_err().to_string();
        assert!(err.contains("/dev/kvm does not exist"), "{err}");
        assert!(err.contains("modprobe kvm_intel"), "{err}");
    }

    #[test]
    fn owner_only_mode_says_to_let_a_group_in() {
        let node = Node {
            uid: 0,
            gid: 0,
            mode: 0o600,
        };
        let err = judge(&facts(node, Err(Errno::ACCESS), "", &[1000]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode 0600"), "{err}");
        assert!(err.contains("sudo chmod 0660 /dev/kvm"), "{err}");
        assert!(err.contains("sudo usermod -aG kvm alice"), "{err}");
    }

    #[test]
    fn not_in_the_group_says_usermod() {
        let err = judge(&facts(
            KVM_0660,
            Err(Errno::ACCESS),
            "kvm:x:993:bob",
            &[1000],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("group kvm (mode 0660) and alice is not in that group"),
            "{err}"
        );
        assert!(err.contains("sudo usermod -aG kvm alice"), "{err}");
    }

    #[test]
    fn listed_but_not_in_this_process_says_log_in_again() {
        let err = judge(&facts(
            KVM_0660,
            Err(Errno::ACCESS),
            "kvm:x:993:bob,alice",
            &[1000],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/etc/group lists alice in kvm"), "{err}");
        assert!(
            err.contains("a fresh login is needed after usermod"),
            "{err}"
        );
    }

    #[test]
    fn in_the_group_and_refused_names_the_error() {
        let err = judge(&facts(
            KVM_0660,
            Err(Errno::ACCESS),
            "kvm:x:993:alice",
            &[993],
        ))
        .unwrap_err();
        assert!(matches!(err, KvmUnusable::Open { .. }), "{err}");
    }

    #[test]
    fn a_device_that_opens_but_makes_no_vm_is_a_nested_kvm_problem() {
        let mut f = facts(KVM_0660, Ok(()), "kvm:x:993:alice", &[993]);
        f.probe = Some(Err((Step::CreateVcpu, Errno::NXIO)));
        let err = judge(&f).unwrap_err().to_string();
        assert!(err.contains("KVM_CREATE_VCPU failed"), "{err}");
        assert!(err.contains("nested=1"), "{err}");
        f.probe = Some(Ok(()));
        assert!(judge(&f).is_ok());
    }

    #[test]
    fn a_kvm_that_makes_vms_but_hangs_its_guest_is_named() {
        let mut f = facts(KVM_0660, Ok(()), "kvm:x:993:alice", &[993]);
        f.guest = Some(Err(GuestFailure::Hung {
            limit: std::time::Duration::from_secs(5),
        }));
        let err = judge(&f).unwrap_err().to_string();
        assert!(err.contains("a guest does not really run on it"), "{err}");
        assert!(err.contains("did not finish within 5 s"), "{err}");
        assert!(err.contains("nested=1"), "{err}");
    }

    #[test]
    fn a_file_that_is_no_kvm_device_fails_the_probe() {
        // A regular file opens read-write, but answers no KVM ioctl.
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join("kvm");
        std::fs::write(&fake, "").unwrap();
        let facts = read_device(&fake, Account::current());
        let err = judge(&facts).unwrap_err();
        assert!(
            matches!(
                err,
                KvmUnusable::Probe {
                    step: Step::ApiVersion,
                    ..
                }
            ),
            "{err}"
        );
    }
}
