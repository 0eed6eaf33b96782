//! The folders qcmdr writes: the state dir and the folders in it (ours, 0700, no symlink:
//! the rules `state_dir::private_dir` enforces on use, checked here without changing anything),
//! and the image cache (ours and not writable by others: a VM boots what is in it). A cache
//! made by `sudo qcmdr ...` belongs to root, the usual way a user's cache goes wrong.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::finding::{Finding, Status};
use crate::state_dir::paths::StateDir;

/// How a folder looks; `None` for one that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderFacts {
    pub is_symlink: bool,
    pub is_dir: bool,
    pub uid: u32,
    pub mode: u32,
}

impl FolderFacts {
    /// The folder itself (`follow`: what a symlink leads to).
    pub fn read(path: &Path, follow: bool) -> Option<FolderFacts> {
        let meta = if follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        }
        .ok()?;
        Some(FolderFacts {
            is_symlink: meta.file_type().is_symlink(),
            is_dir: meta.is_dir(),
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        })
    }
}

/// Whether `path` may be a private folder of user `uid`.
pub fn judge_private(path: &Path, facts: Option<FolderFacts>, uid: u32) -> Finding {
    let shown = path.display();
    let Some(facts) = facts else {
        return Finding::ok("state-dir", format!("{shown} (created when first used)"));
    };
    let refuse =
        |why: String, fix: String| Finding::problem("state-dir", Status::Failure, why, fix);
    if facts.is_symlink {
        return refuse(
            format!("{shown} is a symbolic link; qcmdr refuses to use it"),
            format!("remove it (rm {shown}); qcmdr creates the folder itself"),
        );
    }
    if !facts.is_dir {
        return refuse(
            format!("{shown} is not a folder"),
            "remove it, or use another --state-dir".to_string(),
        );
    }
    if facts.uid != uid {
        return refuse(
            format!(
                "{shown} is owned by uid {}, not by you (uid {uid}), so qcmdr refuses it",
                facts.uid
            ),
            format!("remove it (sudo rm -r {shown}), or use another --state-dir"),
        );
    }
    if facts.mode & 0o077 != 0 {
        return Finding::problem(
            "state-dir",
            Status::Warning,
            format!(
                "{shown} is mode {:04o}; others may look in (qcmdr makes it 0700 when it next uses it)",
                facts.mode
            ),
            format!("chmod 700 {shown}"),
        );
    }
    Finding::ok("state-dir", format!("{shown}: yours, 0700"))
}

/// The state dir and each folder in it that exists.
pub fn state_dir(state: &StateDir, uid: u32) -> Vec<Finding> {
    let root = state.root();
    // The state dir itself may be a symlink the user chose; where it leads must be ours.
    let mut findings = vec![judge_private(root, FolderFacts::read(root, true), uid)];
    let mut below: Vec<PathBuf> = ["vm", "ctl", "bin", "mutagen", "mutagen/data", "mutagen/ssh"]
        .iter()
        .map(|name| root.join(name))
        .collect();
    if let Ok(entries) = std::fs::read_dir(state.vms_dir()) {
        let mut vms: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        vms.sort();
        below.extend(vms);
    }
    for dir in below {
        if let Some(facts) = FolderFacts::read(&dir, false) {
            let finding = judge_private(&dir, Some(facts), uid);
            // Only what is wrong: a healthy state dir is one line.
            if finding.status != Status::Ok {
                findings.push(finding);
            }
        }
    }
    findings
}

/// The image cache `dir` (`<cache>/qcmdr/images`) and the folder holding it.
pub fn cache(dir: &Path, uid: u32) -> Vec<Finding> {
    let parent = dir.parent().unwrap_or(dir);
    let mut findings: Vec<Finding> = [parent, dir]
        .iter()
        .filter_map(|path| {
            judge_cache(path, FolderFacts::read(path, true), uid).filter(|f| f.status != Status::Ok)
        })
        .collect();
    if findings.is_empty() {
        findings.push(Finding::ok(
            "cache",
            format!("{}: yours, not writable by others", dir.display()),
        ));
    }
    findings
}

/// A problem of one cache folder, or an ok finding; `None` when it does not exist (yet).
pub fn judge_cache(path: &Path, facts: Option<FolderFacts>, uid: u32) -> Option<Finding> {
    let facts = facts?;
    let shown = path.display();
    Some(if !facts.is_dir {
        Finding::problem(
            "cache",
            Status::Failure,
            format!("{shown} is not a folder"),
            format!("remove it (rm {shown}); qcmdr creates the cache itself"),
        )
    } else if facts.uid != uid {
        Finding::problem(
            "cache",
            Status::Failure,
            format!(
                "{shown} is owned by uid {}, not by you (uid {uid}): a build run with sudo?",
                facts.uid
            ),
            format!("sudo chown -R {uid} {shown} (or remove it: the images are rebuilt)"),
        )
    } else if facts.mode & 0o022 != 0 {
        Finding::problem(
            "cache",
            Status::Failure,
            format!(
                "{shown} is mode {:04o}: others may change the images your VMs boot",
                facts.mode
            ),
            format!("chmod go-w {shown}"),
        )
    } else {
        Finding::ok("cache", shown.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINE: FolderFacts = FolderFacts {
        is_symlink: false,
        is_dir: true,
        uid: 1000,
        mode: 0o700,
    };

    #[test]
    fn a_private_folder_must_be_a_real_folder_of_ours() {
        let path = Path::new("/p/.qcmdr/vm");
        assert_eq!(judge_private(path, Some(MINE), 1000).status, Status::Ok);
        assert_eq!(judge_private(path, None, 1000).status, Status::Ok);
        let link = FolderFacts {
            is_symlink: true,
            ..MINE
        };
        let finding = judge_private(path, Some(link), 1000);
        assert_eq!(finding.status, Status::Failure);
        assert!(finding.fix.unwrap().contains("rm /p/.qcmdr/vm"));
        let foreign = judge_private(path, Some(MINE), 1001);
        assert_eq!(foreign.status, Status::Failure);
        assert!(foreign.summary.contains("owned by uid 1000"), "{foreign:?}");
        let loose = FolderFacts {
            mode: 0o755,
            ..MINE
        };
        let finding = judge_private(path, Some(loose), 1000);
        assert_eq!(finding.status, Status::Warning);
        assert_eq!(finding.fix.as_deref(), Some("chmod 700 /p/.qcmdr/vm"));
    }

    #[test]
    fn a_cache_owned_by_root_says_chown() {
        let path = Path::new("/home/a/.cache/qcmdr");
        let root_owned = FolderFacts { uid: 0, ..MINE };
        let finding = judge_cache(path, Some(root_owned), 1000).unwrap();
        assert_eq!(finding.status, Status::Failure);
        assert!(finding.fix.unwrap().starts_with("sudo chown -R 1000"));
        let shared = FolderFacts {
            mode: 0o777,
            ..MINE
        };
        assert_eq!(
            judge_cache(path, Some(shared), 1000).unwrap().status,
            Status::Failure
        );
        assert!(judge_cache(path, None, 1000).is_none());
    }
}
