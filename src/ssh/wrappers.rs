//! `ssh` and `scp` wrapper scripts that bind the real binaries to the private `ssh_config`.
//!
//! `<state>/bin/{ssh,scp}` are for users and tools (`PATH=<state>/bin:$PATH`, rsync `-e`).
//! `<state>/mutagen/ssh/{ssh,scp}` are for Mutagen (`MUTAGEN_SSH_PATH`): they also turn
//! connection sharing off, because Mutagen holds one ssh per session for hours and a shared
//! master stalls it. Mutagen reads exit status 126/127 as "agent missing, install it", so its
//! wrappers must never produce those themselves: a vanished binary exits 1 with a message.
//! The remote command's own 127 still passes through, since `exec` hands over the process.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::atomic_file::write_if_changed;
use crate::runtime::executable::find_in;
use crate::state_dir::paths::StateDir;
use crate::state_dir::private_dir;

/// Second line of every wrapper; how the PATH search recognises (and skips) a wrapper.
const MARKER: &str = "# qcmdr wrapper";

/// The two tools wrapped.
const TOOLS: [&str; 2] = ["ssh", "scp"];

/// Installs all four wrappers around the `ssh` and `scp` found on `PATH`.
pub fn install(state: &StateDir) -> io::Result<()> {
    let search_path = std::env::var_os("PATH").unwrap_or_default();
    let skip = [state.bin_dir(), state.mutagen_ssh_dir()];
    let find = |name: &str| {
        find_real(name, &search_path, &skip).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} not found on PATH (install openssh-client)"),
            )
        })
    };
    install_with(state, &find("ssh")?, &find("scp")?)
}

/// Installs the wrappers around the given absolute binaries (rewriting only what changed).
pub fn install_with(state: &StateDir, real_ssh: &Path, real_scp: &Path) -> io::Result<()> {
    let config = state.ssh_config();
    let reals = [real_ssh, real_scp];
    let user_dir = state.bin_dir();
    private_dir::ensure(state, &user_dir)?;
    for (tool, real) in TOOLS.iter().zip(reals) {
        let script = script(real, &config, Flavour::User);
        write_if_changed(&user_dir.join(tool), &script, 0o755)?;
    }
    let mutagen_dir = state.mutagen_ssh_dir();
    private_dir::ensure(state, &mutagen_dir)?;
    for (tool, real) in TOOLS.iter().zip(reals) {
        let script = script(real, &config, Flavour::Mutagen);
        write_if_changed(&mutagen_dir.join(tool), &script, 0o755)?;
    }
    Ok(())
}

/// The first executable `name` on `search_path` that is neither in one of the `skip` folders
/// nor a qcmdr wrapper (a wrapper wrapping a wrapper would pass `-F` twice).
pub fn find_real(name: &str, search_path: &OsStr, skip: &[PathBuf]) -> Option<PathBuf> {
    let skip: Vec<PathBuf> = skip.iter().map(|dir| canonical(dir)).collect();
    find_in(name, search_path, |candidate| {
        let dir = candidate.parent().unwrap_or(candidate);
        !skip.contains(&canonical(dir)) && !is_wrapper(candidate)
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Flavour {
    User,
    Mutagen,
}

fn script(real: &Path, config: &Path, flavour: Flavour) -> Vec<u8> {
    let real_q = sh_quoted(real.as_os_str().as_bytes());
    let config_q = sh_quoted(config.as_os_str().as_bytes());
    let mut out = Vec::new();
    out.extend_from_slice(b"#!/bin/sh\n");
    out.extend_from_slice(MARKER.as_bytes());
    out.extend_from_slice(b": generated, do not edit.\n");
    let mut exec_line = [b"exec ", &real_q[..], b" -F ", &config_q[..]].concat();
    if flavour == Flavour::Mutagen {
        // Without this check a missing binary makes sh exit 127, which Mutagen misreads.
        let message = [
            b"qcmdr: ".as_slice(),
            real.as_os_str().as_bytes(),
            b" is missing or not executable",
        ]
        .concat();
        out.extend_from_slice(&[b"if [ ! -x ", &real_q[..], b" ]; then\n"].concat());
        // printf, not echo: dash's echo would interpret backslashes in the path.
        out.extend_from_slice(
            &[b"  printf '%s\\n' ", &sh_quoted(&message)[..], b" >&2\n"].concat(),
        );
        out.extend_from_slice(b"  exit 1\nfi\n");
        exec_line.extend_from_slice(b" -o ControlMaster=no");
    }
    out.extend_from_slice(&exec_line);
    out.extend_from_slice(b" \"$@\"\n");
    out
}

/// One sh word holding exactly `bytes`: single quotes, each `'` written as `'\''`.
fn sh_quoted(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'\'');
    for &byte in bytes {
        if byte == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(byte);
        }
    }
    out.push(b'\'');
    out
}

fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

fn is_wrapper(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 64];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let n = file.read(&mut head).unwrap_or(0);
    head[..n]
        .strip_prefix(b"#!/bin/sh\n")
        .is_some_and(|rest| rest.starts_with(MARKER.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Output, Stdio};

    /// A stand-in for the real binary: records its argv NUL-separated in `$RECORD`, exits
    /// with `$STATUS`.
    fn recorder(dir: &Path) -> PathBuf {
        let path = dir.join("recorder");
        std::fs::write(
            &path,
            "#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$RECORD\"\nexit \"${STATUS:-0}\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Runs a freshly written script. Another test thread forking while one of our scripts was
    /// still open for writing makes exec fail with ETXTBSY for a moment: retry that.
    fn output_of(command: &mut Command) -> Output {
        for _ in 0..50 {
            match command.output() {
                Err(err)
                    if err.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error()) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                result => return result.unwrap(),
            }
        }
        panic!("{command:?} stayed busy");
    }

    fn run(wrapper: &Path, args: &[&str], record: &Path, status: u8) -> (Output, Vec<String>) {
        let output = output_of(
            Command::new(wrapper)
                .args(args)
                .env("RECORD", record)
                .env("STATUS", status.to_string())
                .stdin(Stdio::null()),
        );
        let recorded = std::fs::read(record).unwrap_or_default();
        let argv = recorded
            .split(|&b| b == 0)
            .map(|word| String::from_utf8(word.to_vec()).unwrap())
            .collect::<Vec<_>>();
        // printf ends every word with a NUL, so the split leaves one empty tail.
        let argv = argv[..argv.len().saturating_sub(1)].to_vec();
        (output, argv)
    }

    const AWKWARD: &[&str] = &[
        "a b",
        "\"dq\"",
        "'sq'",
        "$HOME",
        "",
        "back\\slash",
        "*",
        "line\nbreak",
        "-o",
        "x=y",
    ];

    /// A state dir whose path itself needs quoting in sh.
    fn awkward_state(tmp: &Path) -> StateDir {
        StateDir::new(tmp.join("it's a $dir"))
    }

    #[test]
    fn user_wrappers_pass_arguments_through_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let state = awkward_state(tmp.path());
        let fake = recorder(tmp.path());
        install_with(&state, &fake, &fake).unwrap();
        let record = tmp.path().join("record");
        let config = state.ssh_config();
        let mut expected = vec!["-F", config.to_str().unwrap()];
        expected.extend_from_slice(AWKWARD);
        for tool in TOOLS {
            let (output, argv) = run(&state.bin_dir().join(tool), AWKWARD, &record, 0);
            assert!(output.status.success(), "{output:?}");
            assert_eq!(argv, expected);
        }
    }

    #[test]
    fn mutagen_wrappers_add_control_master_no_and_pass_exit_status() {
        let tmp = tempfile::tempdir().unwrap();
        let state = awkward_state(tmp.path());
        let fake = recorder(tmp.path());
        install_with(&state, &fake, &fake).unwrap();
        let record = tmp.path().join("record");
        let config = state.ssh_config();
        let mut expected = vec!["-F", config.to_str().unwrap(), "-o", "ControlMaster=no"];
        expected.extend_from_slice(AWKWARD);
        for tool in TOOLS {
            // 127 from the remote side (agent missing) must reach Mutagen unchanged.
            let (output, argv) = run(&state.mutagen_ssh_dir().join(tool), AWKWARD, &record, 127);
            assert_eq!(output.status.code(), Some(127), "{output:?}");
            assert_eq!(argv, expected);
        }
    }

    #[test]
    fn mutagen_wrapper_exits_1_when_the_real_binary_is_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let state = awkward_state(tmp.path());
        let gone = tmp.path().join("no such ssh");
        install_with(&state, &gone, &gone).unwrap();
        let record = tmp.path().join("record");
        let (output, _) = run(&state.mutagen_ssh_dir().join("ssh"), &["host"], &record, 0);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no such ssh"), "{stderr}");
        assert!(stderr.contains("missing"), "{stderr}");
    }

    #[test]
    fn install_is_idempotent_and_scripts_are_executable() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join(".qcmdr"));
        let fake = recorder(tmp.path());
        install_with(&state, &fake, &fake).unwrap();
        let wrapper = state.bin_dir().join("ssh");
        let before = std::fs::metadata(&wrapper).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        install_with(&state, &fake, &fake).unwrap();
        let meta = std::fs::metadata(&wrapper).unwrap();
        assert_eq!(meta.modified().unwrap(), before);
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn search_skips_the_wrapper_folders_and_other_wrappers() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join(".qcmdr"));
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let fake = recorder(&real);
        std::fs::rename(&fake, real.join("ssh")).unwrap();
        install_with(&state, &real.join("ssh"), &real.join("ssh")).unwrap();
        // Another project's wrappers, not in our skip list, are recognised by their marker.
        let other = StateDir::new(tmp.path().join("other"));
        install_with(&other, &real.join("ssh"), &real.join("ssh")).unwrap();
        let search = std::env::join_paths([
            state.bin_dir(),
            other.bin_dir(),
            state.mutagen_ssh_dir(),
            real.clone(),
        ])
        .unwrap();
        let skip = [state.bin_dir(), state.mutagen_ssh_dir()];
        assert_eq!(find_real("ssh", &search, &skip), Some(real.join("ssh")));
        assert_eq!(find_real("nope", &search, &skip), None);
    }

    #[test]
    fn real_ssh_through_the_wrappers_uses_the_private_config() {
        let tmp = tempfile::tempdir().unwrap();
        let state = awkward_state(tmp.path());
        std::fs::create_dir_all(state.root()).unwrap();
        std::fs::write(
            state.ssh_config(),
            "Host web\n  Port 2299\n  ControlMaster auto\n",
        )
        .unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let skip = [state.bin_dir(), state.mutagen_ssh_dir()];
        let ssh = find_real("ssh", &path, &skip).expect("openssh-client installed");
        let scp = find_real("scp", &path, &skip).expect("openssh-client installed");
        install_with(&state, &ssh, &scp).unwrap();
        let ssh_g = |wrapper: PathBuf| {
            let output = output_of(
                Command::new(wrapper)
                    .args(["-G", "web"])
                    .stdin(Stdio::null()),
            );
            assert!(output.status.success(), "{output:?}");
            String::from_utf8(output.stdout).unwrap()
        };
        let user = ssh_g(state.bin_dir().join("ssh"));
        assert!(user.lines().any(|l| l == "port 2299"), "{user}");
        assert!(user.lines().any(|l| l == "controlmaster auto"), "{user}");
        let mutagen = ssh_g(state.mutagen_ssh_dir().join("ssh"));
        assert!(mutagen.lines().any(|l| l == "port 2299"), "{mutagen}");
        assert!(
            mutagen.lines().any(|l| l == "controlmaster false"),
            "{mutagen}"
        );
    }
}
