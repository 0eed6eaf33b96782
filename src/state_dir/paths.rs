//! Where qcmdr keeps each VM's runtime files, and how unix socket paths stay short.
//!
//! Layout of a state dir (default `.qcmdr/` beside the config file):
//! ```text
//! <state>/ssh_config            private SSH config (0600)
//! <state>/bin/{ssh,scp}         wrappers that use it
//! <state>/mutagen/ssh/{ssh,scp} wrappers for Mutagen (ControlMaster=no)
//! <state>/mutagen/data/         MUTAGEN_DATA_DIRECTORY
//! <state>/ctl/                  SSH ControlPath sockets
//! <state>/vm/<name>/            one folder per VM: pidfile, logs, lock, sockets
//! ```
//! A unix socket path must fit in `sun_path` (108 bytes with the NUL). A deep state dir would
//! break QEMU's sockets, ssh's ControlPath and Mutagen's daemon socket, so each socket folder
//! that would be too long is replaced by a fixed-length folder under `/tmp/qcmdr-<uid>/`,
//! named after a hash of the folder it stands for. That folder is private (0700, checked).

use std::path::{Path, PathBuf};

/// Longest usable unix socket path (108-byte `sun_path` minus the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// ssh names a new master socket `<ControlPath>.<16 random chars>` before renaming it.
const SSH_CONTROL_TEMP_SUFFIX: usize = 17;
/// `%C` expands to a 40-character hex hash.
const SSH_CONTROL_HASH_LEN: usize = 40;
/// The longest socket file name qcmdr puts in a VM's socket folder.
const LONGEST_VM_SOCKET_NAME: &str = "monitor.sock";
/// Mutagen's socket below its data directory.
const MUTAGEN_DAEMON_SOCKET: &str = "daemon/daemon.sock";

/// The root of all runtime files of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// `root` must be absolute.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        debug_assert!(root.is_absolute(), "state dir must be absolute: {root:?}");
        StateDir { root }
    }

    /// The default: `.qcmdr/` beside the config file.
    pub fn beside_config(config_file: &Path) -> Self {
        let dir = config_file.parent().unwrap_or(Path::new("/"));
        StateDir::new(dir.join(".qcmdr"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.root.join("ssh_config")
    }

    /// Folder of the `ssh` and `scp` wrappers for users and tools.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// Folder of the `ssh` and `scp` wrappers given to Mutagen as `MUTAGEN_SSH_PATH`.
    pub fn mutagen_ssh_dir(&self) -> PathBuf {
        self.root.join("mutagen").join("ssh")
    }

    /// `MUTAGEN_DATA_DIRECTORY`; short enough for Mutagen's daemon socket.
    pub fn mutagen_data_dir(&self) -> PathBuf {
        let natural = resolved(&self.root.join("mutagen").join("data"));
        if path_len(&natural.join(MUTAGEN_DAEMON_SOCKET)) <= MAX_SOCKET_PATH {
            natural
        } else {
            short_dir_for(&natural)
        }
    }

    /// Folder of SSH master sockets (`ControlPath <dir>/%C`).
    pub fn control_dir(&self) -> PathBuf {
        let natural = resolved(&self.root.join("ctl"));
        let longest = path_len(&natural) + 1 + SSH_CONTROL_HASH_LEN + SSH_CONTROL_TEMP_SUFFIX;
        if longest <= MAX_SOCKET_PATH {
            natural
        } else {
            short_dir_for(&natural)
        }
    }

    /// All VM folders live below this.
    pub fn vms_dir(&self) -> PathBuf {
        self.root.join("vm")
    }

    pub fn vm(&self, name: &str) -> VmPaths {
        VmPaths::new(self.vms_dir().join(name))
    }

    /// The longest unix socket path of each kind qcmdr makes for VM `name` (`qcmdr doctor`
    /// shows them): QEMU's, ssh's ControlPath while ssh creates it, Mutagen's daemon.
    pub fn longest_sockets(&self, name: &str) -> [SocketPath; 3] {
        let vm = self.vm(name);
        let control = self.control_dir();
        let mutagen = self.mutagen_data_dir().join(MUTAGEN_DAEMON_SOCKET);
        [
            SocketPath {
                what: "QEMU's sockets",
                len: path_len(&vm.socket_dir.join(LONGEST_VM_SOCKET_NAME)),
                folder: vm.socket_dir,
            },
            SocketPath {
                what: "ssh's master socket",
                len: path_len(&control) + 1 + SSH_CONTROL_HASH_LEN + SSH_CONTROL_TEMP_SUFFIX,
                folder: control,
            },
            SocketPath {
                what: "Mutagen's daemon socket",
                len: path_len(&mutagen),
                folder: mutagen.parent().map(Path::to_path_buf).unwrap_or_default(),
            },
        ]
    }
}

/// The folder of some unix sockets, and the length of the longest path made in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPath {
    pub what: &'static str,
    pub folder: PathBuf,
    pub len: usize,
}

/// Every runtime file of one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    /// The VM's own folder in the state dir.
    pub dir: PathBuf,
    /// Folder of the VM's sockets: `dir` itself (its real path) when short enough.
    pub socket_dir: PathBuf,
    pub pidfile: PathBuf,
    /// QEMU's own stdout and stderr, for the VM's whole life.
    pub qemu_log: PathBuf,
    /// The previous run's `qemu_log`.
    pub qemu_log_prev: PathBuf,
    /// Everything the guest wrote to its serial port.
    pub serial_log: PathBuf,
    /// The previous run's `serial_log`.
    pub serial_log_prev: PathBuf,
    /// Held (flock) by the qcmdr command that is changing the VM.
    pub lock: PathBuf,
    pub qmp_socket: PathBuf,
    pub monitor_socket: PathBuf,
    /// Serial chardev socket (attach with `qcmdr console`).
    pub serial_socket: PathBuf,
    /// An image-backed VM's own disk: a qcow2 overlay over its image (`images::overlay`).
    pub image_disk: PathBuf,
}

impl VmPaths {
    pub fn new(dir: PathBuf) -> Self {
        // Decided on the folder itself, not on how `dir` is spelled: reached through a
        // symlink or `..`, the same VM has its sockets in the same place.
        let real = resolved(&dir);
        let socket_dir = if path_len(&real.join(LONGEST_VM_SOCKET_NAME)) <= MAX_SOCKET_PATH {
            real
        } else {
            short_dir_for(&real)
        };
        VmPaths {
            pidfile: dir.join("qemu.pid"),
            qemu_log: dir.join("qemu.log"),
            qemu_log_prev: dir.join("qemu.prev.log"),
            serial_log: dir.join("serial.log"),
            serial_log_prev: dir.join("serial.prev.log"),
            lock: dir.join("lock"),
            qmp_socket: socket_dir.join("qmp.sock"),
            monitor_socket: socket_dir.join("monitor.sock"),
            serial_socket: socket_dir.join("serial.sock"),
            image_disk: dir.join("disk.qcow2"),
            socket_dir,
            dir,
        }
    }

    /// The sockets QEMU creates, in a fixed order.
    pub fn sockets(&self) -> [&Path; 3] {
        [&self.qmp_socket, &self.monitor_socket, &self.serial_socket]
    }

    /// True when the sockets live outside `dir` because `dir` is too deep.
    pub fn uses_short_socket_dir(&self) -> bool {
        self.socket_dir.starts_with(short_root())
    }
}

/// Root of the short socket folders: `/tmp/qcmdr-<uid>`.
pub fn short_root() -> PathBuf {
    PathBuf::from(format!("/tmp/qcmdr-{}", rustix::process::getuid().as_raw()))
}

/// A fixed-length stand-in for `long`: `/tmp/qcmdr-<uid>/<16 hex digits>`. The hash is of the
/// folder itself, not of its spelling: the same state dir reached through a symlink or `..`
/// finds the same sockets.
pub fn short_dir_for(long: &Path) -> PathBuf {
    let real = resolved(long);
    short_root().join(format!(
        "{:016x}",
        fnv1a64(real.as_os_str().as_encoded_bytes())
    ))
}

/// `path` with its longest existing ancestor canonicalized (symlinks and `..` resolved) and
/// the rest, not created yet, appended as written.
fn resolved(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn path_len(path: &Path) -> usize {
    path.as_os_str().len()
}

/// Stable across runs and builds (unlike `DefaultHasher`), which the socket folder names need.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_state_dir_keeps_sockets_in_vm_folder() {
        let state = StateDir::new("/home/u/proj/.qcmdr");
        let vm = state.vm("demo");
        assert_eq!(
            vm.qmp_socket,
            Path::new("/home/u/proj/.qcmdr/vm/demo/qmp.sock")
        );
        assert!(!vm.uses_short_socket_dir());
        assert_eq!(state.control_dir(), Path::new("/home/u/proj/.qcmdr/ctl"));
    }

    #[test]
    fn deep_state_dir_moves_every_socket_to_a_short_folder() {
        let deep = format!("/home/u/{}/.qcmdr", "very-long-folder-name/".repeat(8));
        let state = StateDir::new(deep);
        let vm = state.vm("a_vm_with_a_rather_long_name_too");
        assert!(vm.uses_short_socket_dir());
        for socket in vm.sockets() {
            assert!(path_len(socket) <= MAX_SOCKET_PATH, "{socket:?}");
            assert!(socket.starts_with(short_root()));
        }
        let control = state.control_dir();
        assert!(path_len(&control) + 1 + 40 + 17 <= MAX_SOCKET_PATH);
        let mutagen = state.mutagen_data_dir().join(MUTAGEN_DAEMON_SOCKET);
        assert!(path_len(&mutagen) <= MAX_SOCKET_PATH);
        // Logs and pidfile stay in the state dir whatever its depth.
        assert!(vm.serial_log.starts_with(state.root()));
    }

    #[test]
    fn a_deep_state_dir_through_a_symlink_finds_the_same_short_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("r".repeat(60)).join("s".repeat(60));
        std::fs::create_dir_all(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let (direct, via_link) = (
            StateDir::new(real.join(".qcmdr")),
            StateDir::new(link.join(".qcmdr")),
        );
        assert!(direct.vm("demo").uses_short_socket_dir());
        assert_eq!(direct.vm("demo").socket_dir, via_link.vm("demo").socket_dir);
        assert_eq!(direct.control_dir(), via_link.control_dir());
        let dotted = StateDir::new(real.join("..").join("s".repeat(60)).join(".qcmdr"));
        assert_eq!(direct.vm("demo").socket_dir, dotted.vm("demo").socket_dir);
    }

    #[test]
    fn short_folders_differ_per_vm_and_are_stable() {
        let deep = format!("/x/{}", "d".repeat(120));
        let state = StateDir::new(deep);
        assert_ne!(state.vm("a").socket_dir, state.vm("b").socket_dir);
        assert_eq!(state.vm("a").socket_dir, state.vm("a").socket_dir);
    }
}
