//! Which saved state a running QEMU was started from (`<vm folder>/from-snapshot.json`), so
//! `status` and an "already running" `start` can say so. A record names the QEMU's PID and
//! counts only while that PID is the one running: a later QEMU could get the same folder.

use std::fs;
use std::io;

use crate::state_dir::paths::VmPaths;
use crate::state_dir::private_file;

const ORIGIN_FILE: &str = "from-snapshot.json";

/// Records that the QEMU with `pid` was started from snapshot `name`.
pub fn record(paths: &VmPaths, name: &str, pid: i32) -> io::Result<()> {
    let path = paths.dir.join(ORIGIN_FILE);
    let text = serde_json::json!({ "snapshot": name, "pid": pid }).to_string();
    let temp = path.with_extension("tmp");
    io::Write::write_all(&mut private_file::create_fresh(&temp)?, text.as_bytes())?;
    fs::rename(&temp, &path)
}

/// Forgets where an earlier QEMU came from (a later one could get its PID).
pub fn forget(paths: &VmPaths) {
    let _ = fs::remove_file(paths.dir.join(ORIGIN_FILE));
}

/// The snapshot the QEMU with `pid` was started from, if it was.
pub fn of(paths: &VmPaths, pid: i32) -> Option<String> {
    let text = fs::read_to_string(paths.dir.join(ORIGIN_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    (value["pid"].as_i64() == Some(i64::from(pid)))
        .then(|| value["snapshot"].as_str().map(str::to_string))
        .flatten()
}
