//! Removing a build's folder tree, never through something still mounted below it.

use std::fs;
use std::path::Path;

/// Removes a folder tree unless something is mounted below it (a crashed mmdebstrap could
/// leave its /proc or /dev mounts in the root filesystem: removing through those would
/// destroy the host's files).
pub fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let below = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mount_point| Path::new(mount_point).starts_with(dir));
    if below {
        return Err(std::io::Error::other(format!(
            "something is still mounted below {}; unmount it, then remove the folder",
            dir.display()
        )));
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
