//! A `debian` build by a user who lacks what a rootless build needs stops before it begins,
//! naming the fix: no uidmap, no subordinate ids. The real qcmdr runs as `nobody` (who has no
//! subordinate ids), so these tests need root to start it (CI's suite runs as root; the real
//! rootless builds are `vm_image`'s, in CI's run as a regular user).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::Run;

const NOBODY: u32 = 65534;

/// A project folder `nobody` owns, with one debian image.
fn nobodys_project() -> tempfile::TempDir {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests start qcmdr as nobody: run them as root"
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("conf.lua"),
        "return { images = { box = { builder = \"debian\" } }, vms = {} }\n",
    )
    .unwrap();
    for path in [dir.path(), &dir.path().join("conf.lua")] {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// `qcmdr image build` as nobody in `project`, with `path` as PATH.
fn build_as_nobody(project: &Path, path: &str) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_qcmdr"))
        .args(["image", "build"])
        .current_dir(project)
        .env_clear()
        .env("HOME", project)
        .env("XDG_CACHE_HOME", project.join("cache"))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::of(output)
}

#[test]
fn cli_rootless_build_without_subordinate_ids_names_usermod() {
    let project = nobodys_project();
    let run = build_as_nobody(project.path(), "/usr/local/bin:/usr/bin:/bin");
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains(
            "user nobody has no 65536 subordinate user ids in /etc/subuid, which building images without root needs"
        ),
        "{run}"
    );
    assert!(
        run.stderr.contains("as root: usermod --add-subuids ")
            && run.stderr.contains(" --add-subgids ")
            && run.stderr.contains(" nobody"),
        "{run}"
    );
    // Nothing was built or left half-done.
    let images = project.path().join("cache/qcmdr/images");
    let left: Vec<_> = fs::read_dir(&images)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".build-") || name.starts_with("box-"))
                .filter(|name| !name.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn cli_rootless_build_without_uidmap_names_the_package() {
    let project = nobodys_project();
    // A PATH with every tool but newuidmap/newgidmap: a folder of links to /usr/bin's others.
    let bin = project.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for entry in fs::read_dir("/usr/bin").unwrap().flatten() {
        let name = entry.file_name();
        if name != "newuidmap" && name != "newgidmap" {
            std::os::unix::fs::symlink(entry.path(), bin.join(&name)).unwrap();
        }
    }
    let run = build_as_nobody(project.path(), bin.to_str().unwrap());
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains(
            "newuidmap is not installed: building images without root needs it (Debian: apt-get install uidmap)"
        ),
        "{run}"
    );
}
