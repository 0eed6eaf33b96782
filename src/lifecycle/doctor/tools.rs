//! The programs qcmdr runs, looked up the way it runs them: QEMU for each architecture the
//! VMs use (with its version), ssh and scp, rsync and Mutagen for the sync entries, and the
//! image builders' tools. What the config needs fails when missing; the rest only warns.

use std::ffi::OsStr;
use std::path::Path;

use super::finding::{severity, Finding, Status};
use crate::images::foreign;
use crate::model::{Project, Recipe, SyncEngine, Vm};
use crate::runtime::executable::{find_in, is_executable};

/// What the checked VMs need from this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Whether a config was read (else nothing is known to be needed).
    pub from_config: bool,
    /// Architectures of `qemu-system-<arch>`, each once, in config order.
    pub arches: Vec<String>,
    pub ssh: bool,
    pub rsync: bool,
    pub mutagen: bool,
    pub debian_image: bool,
    pub cloud_image: bool,
    /// A VM shares host folders (`mounts`): virtiofsd serves them.
    pub mounts: bool,
    /// Arches of the `debian` builds the VMs boot that this machine runs only through
    /// qemu-user, each once.
    pub foreign_builds: Vec<String>,
}

impl Needs {
    /// What `vms` of `project` need.
    pub fn of(project: &Project, vms: &[&Vm]) -> Needs {
        let mut needs = Needs {
            from_config: true,
            ..Needs::default()
        };
        for vm in vms {
            if !needs.arches.contains(&vm.arch) {
                needs.arches.push(vm.arch.clone());
            }
            needs.ssh = true;
            needs.mounts |= !vm.mounts.is_empty();
            for spec in &vm.sync {
                match spec.engine {
                    SyncEngine::Rsync => needs.rsync = true,
                    SyncEngine::Mutagen => needs.mutagen = true,
                }
            }
            let image = project.image_of(vm);
            let recipe = image.map(|image| &image.recipe);
            if let Some(arch) = image.and_then(|image| image.arch()) {
                if foreign::is_foreign(arch) && !needs.foreign_builds.iter().any(|a| a == arch) {
                    needs.foreign_builds.push(arch.to_string());
                }
            }
            match recipe {
                Some(Recipe::Debian(_)) => needs.debian_image = true,
                Some(Recipe::Cloud(_)) => needs.cloud_image = true,
                None => {}
            }
        }
        needs
    }
}

/// One helper program: its name, whether the config needs it, and how to install it.
struct Tool {
    name: &'static str,
    needed: bool,
    what_for: &'static str,
    install: &'static str,
}

/// Every helper except QEMU, found on `search_path`.
pub fn helpers(needs: &Needs, search_path: &OsStr) -> Vec<Finding> {
    let any_image = needs.debian_image || needs.cloud_image;
    let tools = [
        Tool {
            name: "ssh",
            needed: needs.ssh,
            what_for: "reaches every VM",
            install: "sudo apt-get install openssh-client",
        },
        Tool {
            name: "scp",
            needed: needs.ssh,
            what_for: "copies files (qcmdr scp, Mutagen's agent)",
            install: "sudo apt-get install openssh-client",
        },
        Tool {
            name: "rsync",
            needed: needs.rsync,
            what_for: "runs sync entries with engine rsync",
            install: "sudo apt-get install rsync",
        },
        Tool {
            name: "mutagen",
            needed: needs.mutagen,
            what_for: "runs sync entries with engine mutagen",
            install: "put a Mutagen release binary (https://mutagen.io) on PATH",
        },
        Tool {
            name: "qemu-img",
            needed: any_image,
            what_for: "makes image disks and each VM's overlay",
            install: "sudo apt-get install qemu-utils",
        },
        Tool {
            name: "mmdebstrap",
            needed: needs.debian_image,
            what_for: "builds debian images",
            install: "sudo apt-get install mmdebstrap",
        },
        Tool {
            name: "mke2fs",
            needed: needs.debian_image,
            what_for: "makes the file system of debian images",
            install: "sudo apt-get install e2fsprogs",
        },
        Tool {
            name: "genisoimage",
            needed: needs.cloud_image,
            what_for: "makes the NoCloud seed of cloud images",
            install: "sudo apt-get install genisoimage",
        },
    ];
    tools
        .iter()
        .map(|tool| match find_in(tool.name, search_path, |_| true) {
            Some(path) => Finding::ok("tool", path.display().to_string()).about(tool.name),
            None => Finding::problem(
                "tool",
                severity(tool.needed),
                format!(
                    "{} is not on PATH; it {}{}",
                    tool.name,
                    tool.what_for,
                    match (tool.needed, needs.from_config) {
                        (true, _) => ", which this config uses",
                        (false, true) => " (not used by this config)",
                        (false, false) => "",
                    }
                ),
                tool.install,
            )
            .about(tool.name),
        })
        .collect()
}

/// virtiofsd, which serves `mounts`: found where qcmdr looks for it (`found`), needed when a
/// VM has mounts.
pub fn virtiofsd(needs: &Needs, found: Option<std::path::PathBuf>) -> Finding {
    match found {
        Some(path) => Finding::ok("tool", path.display().to_string()).about("virtiofsd"),
        None => Finding::problem(
            "tool",
            severity(needs.mounts),
            format!(
                "virtiofsd is not installed; it serves the VMs' mounts{}",
                match (needs.mounts, needs.from_config) {
                    (true, _) => ", which this config uses",
                    (false, true) => " (not used by this config)",
                    (false, false) => "",
                }
            ),
            crate::mounts::NOT_FOUND_HINT,
        )
        .about("virtiofsd"),
    }
}

/// `qemu-system-<arch>` for each architecture: found, and answering `--version`. Without a
/// config (`project` is `None`), this machine's own architecture, as a warning.
pub fn qemu(project: Option<&Project>, needs: &Needs, search_path: &OsStr) -> Vec<Finding> {
    let host = [std::env::consts::ARCH.to_string()];
    let (arches, status) = match project {
        Some(_) => (needs.arches.as_slice(), Status::Failure),
        None => (&host[..], Status::Warning),
    };
    arches
        .iter()
        .map(|arch| {
            let binary = match project {
                Some(project) => crate::qemu::argv::qemu_binary(project, arch, search_path),
                None => find_in(&format!("qemu-system-{arch}"), search_path, |_| true)
                    .unwrap_or_else(|| format!("qemu-system-{arch}").into()),
            };
            one_qemu(project, arch, &binary, status).about(format!("qemu-system-{arch}"))
        })
        .collect()
}

fn one_qemu(project: Option<&Project>, arch: &str, binary: &Path, status: Status) -> Finding {
    if !(binary.is_absolute() && is_executable(binary)) {
        let fix = match project.and_then(|p| p.qemu_bin_dir.as_ref().map(|dir| (p, dir))) {
            Some((project, dir)) => format!(
                "fix qemu_bin_dir_fpath ({}) in {}, or remove it to search PATH",
                dir.display(),
                project.config_file.display()
            ),
            None => format!("sudo apt-get install {}", debian_package(arch)),
        };
        return Finding::problem(
            "qemu",
            status,
            format!("{} not found", binary.display()),
            fix,
        );
    }
    match crate::qemu::version::of_binary(binary) {
        Ok(version) => Finding::ok("qemu", format!("{} {version}", binary.display())),
        Err(why) => Finding::problem(
            "qemu",
            status,
            crate::error_chain::chain(&why),
            format!(
                "reinstall it (sudo apt-get install --reinstall {})",
                debian_package(arch)
            ),
        ),
    }
}

pub use crate::model::arch::debian_package;

/// Per foreign arch of a `debian` build: whether this machine runs its programs
/// (binfmt_misc's qemu-user entry, and arch-test for mmdebstrap).
pub fn foreign_builds(needs: &Needs) -> Vec<Finding> {
    needs
        .foreign_builds
        .iter()
        .map(|arch| {
            let finding = match foreign::check(arch) {
                Ok(()) => Finding::ok(
                    "binfmt",
                    format!(
                        "{arch} programs run here through qemu-user ({}/qemu-{arch})",
                        foreign::BINFMT_DIR
                    ),
                ),
                Err(why) => Finding::problem("binfmt", Status::Failure, why.cause(), why.fix()),
            };
            finding.about(arch.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_needed_tool_missing_fails_and_an_unneeded_one_warns() {
        let empty = tempfile::tempdir().unwrap();
        let needs = Needs {
            from_config: true,
            ssh: true,
            ..Needs::default()
        };
        let findings = helpers(&needs, empty.path().as_os_str());
        let ssh = findings
            .iter()
            .find(|f| f.subject.as_deref() == Some("ssh"))
            .unwrap();
        assert_eq!(ssh.status, Status::Failure);
        assert_eq!(
            ssh.fix.as_deref(),
            Some("sudo apt-get install openssh-client")
        );
        let mutagen = findings
            .iter()
            .find(|f| f.subject.as_deref() == Some("mutagen"))
            .unwrap();
        assert_eq!(mutagen.status, Status::Warning);
        assert!(
            mutagen.summary.contains("not used by this config"),
            "{mutagen:?}"
        );
    }

    #[test]
    fn a_missing_qemu_names_its_package() {
        let empty = tempfile::tempdir().unwrap();
        let needs = Needs {
            arches: vec!["aarch64".into()],
            ..Needs::default()
        };
        let project = crate::model::fixtures::project("/p/conf.lua", vec![]);
        let findings = qemu(Some(&project), &needs, empty.path().as_os_str());
        assert_eq!(findings[0].status, Status::Failure);
        assert_eq!(
            findings[0].fix.as_deref(),
            Some("sudo apt-get install qemu-system-arm")
        );
    }

    #[test]
    fn virtiofsd_is_a_failure_only_where_a_vm_mounts_folders() {
        let mut needs = Needs {
            from_config: true,
            ..Needs::default()
        };
        assert_eq!(virtiofsd(&needs, None).status, Status::Warning);
        needs.mounts = true;
        let missing = virtiofsd(&needs, None);
        assert_eq!(missing.status, Status::Failure);
        assert!(
            missing.summary.contains("which this config uses"),
            "{missing:?}"
        );
        assert!(
            missing
                .fix
                .as_deref()
                .unwrap()
                .contains("cargo install virtiofsd"),
            "{missing:?}"
        );
        let found = virtiofsd(&needs, Some("/usr/local/bin/virtiofsd".into()));
        assert_eq!(found.status, Status::Ok);
    }
}
