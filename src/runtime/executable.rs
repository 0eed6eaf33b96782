//! Finding a program on `PATH`: the one lookup every helper (QEMU, ssh, scp, rsync, Mutagen)
//! goes through, so they all agree on what counts as "installed".

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A regular file with an execute bit (for anyone: the kernel decides the rest at `exec`).
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The first executable `name` in the folders of `search_path` that `accept` takes.
pub fn find_in(name: &str, search_path: &OsStr, accept: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        // An empty PATH entry means the current folder; resolving relative to wherever qcmdr
        // happens to run would find a different program per call, so skip it.
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate) && accept(candidate))
}

/// The first executable `name` on this process's `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    find_in(name, &std::env::var_os("PATH")?, |_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_relative_folders_non_executables_and_refused_candidates() {
        let tmp = tempfile::tempdir().unwrap();
        let (first, second, third) = (
            tmp.path().join("a"),
            tmp.path().join("b"),
            tmp.path().join("c"),
        );
        for dir in [&first, &second, &third] {
            std::fs::create_dir(dir).unwrap();
        }
        std::fs::write(first.join("tool"), "plain file").unwrap();
        for dir in [&second, &third] {
            std::fs::write(dir.join("tool"), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(dir.join("tool"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let search = std::env::join_paths([
            "relative",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
            third.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(
            find_in("tool", &search, |_| true),
            Some(second.join("tool"))
        );
        assert_eq!(
            find_in("tool", &search, |p| !p.starts_with(&second)),
            Some(third.join("tool"))
        );
        assert_eq!(find_in("missing", &search, |_| true), None);
    }
}
