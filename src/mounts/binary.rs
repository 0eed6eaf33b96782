//! Where `virtiofsd` is found: it is not packaged in Debian 12, so a build from its crate
//! may be in `~/.cargo/bin` rather than on PATH; distributions that package it put it in
//! `/usr/libexec`.

use std::path::PathBuf;

use crate::runtime::executable::{find_on_path, is_executable};

/// How to install it, for messages.
pub const NOT_FOUND_HINT: &str = "virtiofsd is not installed (looked on PATH, in /usr/libexec \
    and ~/.cargo/bin); install it: apt-get install libcap-ng-dev libseccomp-dev && cargo \
    install virtiofsd (or run scripts/deps.sh)";

/// PATH first, then `/usr/libexec/virtiofsd`, then `~/.cargo/bin/virtiofsd`.
pub fn find_virtiofsd() -> Option<PathBuf> {
    if let Some(found) = find_on_path("virtiofsd") {
        return Some(found);
    }
    let mut candidates = vec![PathBuf::from("/usr/libexec/virtiofsd")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/virtiofsd"));
    }
    candidates.into_iter().find(|p| is_executable(p))
}
