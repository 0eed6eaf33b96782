//! Rootless builds: a user namespace in which this user is root and its subordinate ids
//! (`/etc/subuid`, `/etc/subgid`) are the other users. What mmdebstrap writes there, and what
//! mke2fs copies from there into the image, has the owners a root filesystem needs (root-owned
//! `/etc`, setuid bits, `/root/.ssh`), and on the host every file belongs to this user or its
//! subordinate ids: no privilege anywhere but uidmap's `newuidmap`/`newgidmap`.
//!
//! The child unshares its user namespace just before `exec` and waits there until a thread of
//! ours has written its id maps (only a process outside the namespace can), then runs the
//! program as the namespace's root.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

use rustix::pipe::{pipe_with, PipeFlags};
use rustix::thread::UnshareFlags;

use crate::runtime::executable::find_on_path;

/// Ids the namespace maps besides root: Debian's `nobody` is 65534.
const SUB_IDS_NEEDED: u32 = 65536;
/// Where subordinate ranges start on Debian (`SUB_UID_MIN` in /etc/login.defs).
const FIRST_SUB_ID: u64 = 100_000;

/// This user's ids and the subordinate ranges its namespace maps to 1..=65536.
#[derive(Debug, Clone)]
pub struct IdMap {
    uid: u32,
    gid: u32,
    sub_uid: u32,
    sub_gid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("{tool} is not installed: building images without root needs it (Debian: apt-get install uidmap)")]
    NoMapper { tool: &'static str },
    #[error("user {user} has no {SUB_IDS_NEEDED} subordinate {kind} ids in {file}, which building images without root needs; as root: usermod --add-subuids {start}-{end} --add-subgids {start}-{end} {user}")]
    NoRange {
        user: String,
        kind: &'static str,
        file: &'static str,
        start: u64,
        end: u64,
    },
    #[error("cannot read {file}")]
    Read {
        file: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot map ids into the build's user namespace: {tool} failed ({status}): {stderr}")]
    MapFailed {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    #[error("cannot run {tool}")]
    MapRun {
        tool: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot make a user namespace for the build: are user namespaces disabled here? (sysctl user.max_user_namespaces must be above 0; on Ubuntu, kernel.apparmor_restrict_unprivileged_userns=0)")]
    Unshare {
        #[source]
        source: io::Error,
    },
    #[error("cannot set up the build's user namespace")]
    Setup(#[source] io::Error),
}

impl IdMap {
    /// The map for this process's user, or why a rootless build cannot run here (with the fix).
    pub fn for_this_user() -> Result<IdMap, UsernsError> {
        for tool in ["newuidmap", "newgidmap"] {
            if find_on_path(tool).is_none() {
                return Err(UsernsError::NoMapper { tool });
            }
        }
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        // A user only NSS knows (LDAP) has no line here: /etc/subuid can name it by number.
        let user = user_name(&read("/etc/passwd")?, uid).unwrap_or_else(|| uid.to_string());
        let (uids, gids) = (read("/etc/subuid")?, read("/etc/subgid")?);
        // A suggested range free in both files serves as both.
        let start = free_start(&format!("{uids}\n{gids}"));
        let range = |text: &str, file: &'static str, kind: &'static str| {
            sub_range(text, &user, uid).ok_or_else(|| UsernsError::NoRange {
                user: user.clone(),
                kind,
                file,
                start,
                end: start + u64::from(SUB_IDS_NEEDED) - 1,
            })
        };
        Ok(IdMap {
            uid,
            gid,
            sub_uid: range(&uids, "/etc/subuid", "user")?,
            sub_gid: range(&gids, "/etc/subgid", "group")?,
        })
    }

    /// Makes `command` run as root of a new user namespace with this map. The returned
    /// [`Mapping`] is finished after the command ran (and was dropped).
    pub fn enter_on_spawn(&self, command: &mut Command) -> Result<Mapping, UsernsError> {
        let (ready_read, ready_write) = pipe_with(PipeFlags::CLOEXEC).map_err(setup)?;
        let (go_read, go_write) = pipe_with(PipeFlags::CLOEXEC).map_err(setup)?;
        // SAFETY: the closure runs in the forked child before exec and only makes system
        // calls (unshare, getpid, write, read): nothing that allocates or takes a lock.
        unsafe {
            command.pre_exec(move || {
                if let Err(error) = rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER) {
                    // A negative "pid" tells the mapping thread why the spawn fails.
                    let _ = rustix::io::write(&ready_write, &(-error.raw_os_error()).to_ne_bytes());
                    return Err(error.into());
                }
                let pid = rustix::process::getpid().as_raw_nonzero().get();
                rustix::io::write(&ready_write, &pid.to_ne_bytes())?;
                let mut mapped = [0u8];
                match rustix::io::read(&go_read, &mut mapped)? {
                    1 if mapped[0] == 1 => Ok(()),
                    _ => Err(io::ErrorKind::PermissionDenied.into()),
                }
            });
        }
        let map = self.clone();
        let thread = std::thread::spawn(move || map.write_maps(ready_read, go_write));
        Ok(Mapping { thread })
    }

    /// Waits for the child's pid, writes its maps, tells it whether that worked.
    fn write_maps(&self, ready: OwnedFd, go: OwnedFd) -> Result<(), UsernsError> {
        let mut pid = [0u8; 4];
        // End of file: the child never got as far as unsharing (the spawn failed).
        if File::from(ready).read_exact(&mut pid).is_err() {
            return Ok(());
        }
        let pid = match i32::from_ne_bytes(pid) {
            errno if errno <= 0 => {
                let source = io::Error::from_raw_os_error(-errno);
                return Err(UsernsError::Unshare { source });
            }
            pid => pid.to_string(),
        };
        let result = map_ids("newuidmap", &pid, self.uid, self.sub_uid)
            .and_then(|()| map_ids("newgidmap", &pid, self.gid, self.sub_gid));
        let _ = File::from(go).write_all(&[u8::from(result.is_ok())]);
        result
    }
}

/// The thread writing a namespace's maps; [`Mapping::finish`] says whether it failed.
pub struct Mapping {
    thread: JoinHandle<Result<(), UsernsError>>,
}

impl Mapping {
    /// Call once the command is done with: a failed mapping is the reason its spawn failed.
    pub fn finish(self) -> Result<(), UsernsError> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(UsernsError::Setup(io::Error::other("mapping panicked"))))
    }
}

fn setup(error: rustix::io::Errno) -> UsernsError {
    UsernsError::Setup(error.into())
}

fn read(file: &'static str) -> Result<String, UsernsError> {
    std::fs::read_to_string(file).or_else(|source| match source.kind() {
        // No file: nobody has subordinate ids yet; the message says how to add some.
        io::ErrorKind::NotFound if file != "/etc/passwd" => Ok(String::new()),
        _ => Err(UsernsError::Read { file, source }),
    })
}

/// `newuidmap PID 0 ID 1 1 SUB 65536`: this user is root, its subordinate ids the rest.
fn map_ids(tool: &'static str, pid: &str, id: u32, sub: u32) -> Result<(), UsernsError> {
    let output = Command::new(tool)
        .args([pid, "0", &id.to_string(), "1", "1"])
        .args([sub.to_string(), SUB_IDS_NEEDED.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| UsernsError::MapRun { tool, source })?;
    if output.status.success() {
        return Ok(());
    }
    Err(UsernsError::MapFailed {
        tool,
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// The name of `uid` in passwd-format `text`.
fn user_name(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2].parse() == Ok(uid)).then(|| fields[0].to_string())
    })
}

/// The start of the first range of at least [`SUB_IDS_NEEDED`] ids that subuid/subgid-format
/// `text` gives `user` (by name or by number, as newuidmap accepts both).
fn sub_range(text: &str, user: &str, id: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        let ours = owner == user || owner.parse() == Ok(id);
        let (start, count): (u32, u32) = (start.parse().ok()?, count.parse().ok()?);
        (ours && count >= SUB_IDS_NEEDED && start.checked_add(SUB_IDS_NEEDED).is_some())
            .then_some(start)
    })
}

/// The first id after every range in `text`: where a new range overlaps nobody's.
fn free_start(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':').skip(1);
            let start: u64 = fields.next()?.parse().ok()?;
            let count: u64 = fields.next()?.parse().ok()?;
            Some(start + count)
        })
        .fold(FIRST_SUB_ID, u64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_users_range_by_name_or_number_and_only_a_big_enough_one() {
        let text = "alice:100000:65536\n1002:165536:65536\nbob:231072:1000\nbob:300000:65536\n";
        assert_eq!(sub_range(text, "alice", 1001), Some(100_000));
        assert_eq!(sub_range(text, "carol", 1002), Some(165_536));
        assert_eq!(sub_range(text, "bob", 1003), Some(300_000));
        assert_eq!(sub_range(text, "dave", 1004), None);
        assert_eq!(sub_range("", "alice", 1001), None);
    }

    #[test]
    fn a_suggested_range_starts_after_every_existing_one() {
        assert_eq!(free_start(""), 100_000);
        assert_eq!(free_start("a:100000:65536\nb:165536:65536\n"), 231_072);
        assert_eq!(free_start("garbage\n"), 100_000);
    }

    /// The whole handshake (unshare in the child, its pid to the thread, newuidmap, the
    /// answer back) with a range nobody has: the spawn fails and the error is newuidmap's.
    #[test]
    fn a_map_newuidmap_refuses_fails_the_spawn_with_its_words() {
        let unowned = 4_000_000_000;
        let map = IdMap {
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
            sub_uid: unowned,
            sub_gid: unowned,
        };
        let mut command = Command::new("true");
        let mapping = map.enter_on_spawn(&mut command).unwrap();
        let spawned = command.spawn();
        drop(command);
        let error = mapping.finish().unwrap_err();
        assert!(spawned.is_err(), "{spawned:?}");
        let UsernsError::MapFailed { tool, stderr, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(*tool, "newuidmap");
        assert!(stderr.contains("not allowed"), "{error}");
    }

    #[test]
    fn names_a_uid_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/sh\n";
        assert_eq!(user_name(passwd, 1001).as_deref(), Some("alice"));
        assert_eq!(user_name(passwd, 5), None);
    }
}
