//! Finding the helper programs (mutagen, rsync) before anything depends on them.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The first executable `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// What a failed helper said: its stderr (else stdout), trimmed, on one line.
pub fn said(output: &std::process::Output) -> String {
    let pick = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let text = pick(&output.stderr);
    if !text.is_empty() {
        return text;
    }
    let text = pick(&output.stdout);
    if !text.is_empty() {
        return text;
    }
    format!("exited with {}", output.status)
}
