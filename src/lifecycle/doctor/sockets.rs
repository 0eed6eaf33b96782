//! Unix socket paths against the 108-byte `sun_path` (107 characters and the NUL). qcmdr's
//! own sockets (QEMU's, ssh's master, Mutagen's daemon) move to `/tmp/qcmdr-<uid>/<hash>/`
//! when the state dir is too deep for them; that only works while `/tmp/qcmdr-<uid>` is a
//! private folder of ours. Sockets the user names in a VM's own `args` (`path=` of a socket
//! chardev, `unix:PATH`, `addr.path=`) are used as written, so a long one makes QEMU fail.

use std::path::Path;

use super::finding::{Finding, Status};
use super::folders::{judge_private, FolderFacts};
use crate::model::Vm;
use crate::state_dir::paths::{short_root, StateDir, MAX_SOCKET_PATH};

/// qcmdr's own sockets of `vm`: the longest path, and the short folder when one is needed.
pub fn own(state: &StateDir, vm: &Vm, uid: u32) -> Finding {
    let sockets = state.longest_sockets(&vm.name);
    let longest = sockets.iter().max_by_key(|s| s.len).expect("three kinds");
    let short = short_root();
    let moved: Vec<_> = sockets
        .iter()
        .filter(|s| s.folder.starts_with(&short))
        .collect();
    if moved.is_empty() {
        return Finding::ok(
            "sockets",
            format!(
                "longest socket path {} of {MAX_SOCKET_PATH} bytes ({} in {})",
                longest.len,
                longest.what,
                longest.folder.display()
            ),
        )
        .about(&vm.name);
    }
    // The state dir is too deep: the sockets need the short folders, which must be ours.
    let mut folders = vec![short.clone()];
    folders.extend(moved.iter().map(|s| s.folder.clone()));
    for folder in &folders {
        let finding = judge_private(folder, FolderFacts::read(folder, false), uid);
        if finding.status == Status::Failure {
            return Finding::problem(
                "sockets",
                Status::Failure,
                format!(
                    "the state dir {} is too deep for unix socket paths ({MAX_SOCKET_PATH} \
                     bytes at most), so {} must go to {}, but {}",
                    state.root().display(),
                    moved.iter().map(|s| s.what).collect::<Vec<_>>().join(", "),
                    folder.display(),
                    finding.summary
                ),
                format!(
                    "remove {} (qcmdr makes it itself, private), or use a shorter --state-dir",
                    folder.display()
                ),
            )
            .about(&vm.name);
        }
    }
    Finding::ok(
        "sockets",
        format!(
            "the state dir is too deep for unix socket paths, so {} live in {} (private, ours)",
            moved.iter().map(|s| s.what).collect::<Vec<_>>().join(", "),
            short.display()
        ),
    )
    .about(&vm.name)
}

/// Socket paths in `vm`'s own `args` longer than a unix socket path may be.
pub fn configured(vm: &Vm, config_file: &Path) -> Vec<Finding> {
    vm.args
        .iter()
        .flat_map(|arg| {
            socket_paths_in(arg)
                .into_iter()
                .map(move |path| (arg, path))
        })
        .filter(|(_, path)| path.len() > MAX_SOCKET_PATH)
        .map(|(arg, path)| {
            Finding::problem(
                "sockets",
                Status::Failure,
                format!(
                    "the socket path {path} in `{arg}` is {} bytes, longer than a unix socket \
                     path may be ({MAX_SOCKET_PATH}), so QEMU will fail to create it",
                    path.len()
                ),
                format!(
                    "shorten it in {} (a relative path counts as written: QEMU runs in the \
                     config's folder)",
                    config_file.display()
                ),
            )
            .about(&vm.name)
        })
        .collect()
}

/// The unix socket paths one QEMU argument names.
fn socket_paths_in(arg: &str) -> Vec<&str> {
    let mut paths = Vec::new();
    if let Some(rest) = arg.strip_prefix("unix:") {
        paths.push(rest.split(',').next().unwrap_or(rest));
    }
    let is_socket_chardev = arg.starts_with("socket,") || arg.starts_with("backend=socket");
    for part in arg.split(',') {
        if let Some(path) = part.strip_prefix("addr.path=") {
            paths.push(path);
        } else if let Some(path) = part.strip_prefix("path=").filter(|_| is_socket_chardev) {
            paths.push(path);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_are_found_in_chardevs_unix_addresses_and_streams() {
        assert_eq!(
            socket_paths_in("socket,id=v,path=/run/v.sock,server=on"),
            ["/run/v.sock"]
        );
        assert_eq!(
            socket_paths_in("unix:/tmp/q.sock,server,nowait"),
            ["/tmp/q.sock"]
        );
        assert_eq!(
            socket_paths_in("stream,id=n,addr.type=unix,addr.path=/tmp/n"),
            ["/tmp/n"]
        );
        // A directory shared with the guest is no socket.
        assert!(
            socket_paths_in("local,id=fs,path=/a/very/long/dir,security_model=none").is_empty()
        );
    }

    #[test]
    fn a_too_long_configured_socket_fails_naming_it() {
        let long = format!("/tmp/{}/x.sock", "d".repeat(120));
        let mut vm = crate::model::fixtures::vm("a", 2222);
        vm.args = vec![
            "-chardev".into(),
            format!("socket,id=extra,path={long},server=on,wait=off"),
        ];
        let findings = configured(&vm, Path::new("/p/conf.lua"));
        assert_eq!(findings.len(), 1);
        assert!(findings[0].summary.contains(&long), "{:?}", findings[0]);
        assert!(findings[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("shorten it in /p/conf.lua"));
        vm.args[1] = "socket,id=extra,path=/tmp/short.sock".into();
        assert!(configured(&vm, Path::new("/p/conf.lua")).is_empty());
    }
}
