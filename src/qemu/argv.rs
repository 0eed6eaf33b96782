//! The full QEMU argv of a VM: the binary, what its image adds, its per-architecture
//! defaults, the user's args, then qcmdr's control plumbing.
//!
//! The plumbing gives qcmdr a QMP socket (machine control), a readline monitor socket (for
//! humans), and a serial chardev socket that also logs everything to `serial.log`, so the
//! console can be attached at any time while readiness is read from the log.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::model::{Project, Vm};
use crate::runtime::executable::{find_in, is_executable};
use crate::state_dir::paths::VmPaths;

/// Chardev ids qcmdr owns; prefixed so they never clash with the user's own ids.
pub const QMP_CHARDEV: &str = "qcmdr-qmp";
pub const MONITOR_CHARDEV: &str = "qcmdr-monitor";
pub const SERIAL_CHARDEV: &str = "qcmdr-serial";

/// `argv[0]` is the QEMU binary (resolved path when found, else `qemu-system-<arch>`).
pub fn build(project: &Project, vm: &Vm, paths: &VmPaths) -> Vec<String> {
    let search_path = std::env::var_os("PATH").unwrap_or_default();
    build_with_path(project, vm, paths, &search_path)
}

/// [`build`] with an explicit `PATH`, so tests need not touch the process environment.
pub fn build_with_path(
    project: &Project,
    vm: &Vm,
    paths: &VmPaths,
    search_path: &OsStr,
) -> Vec<String> {
    let binary = qemu_binary(project, &vm.arch, search_path);
    let mut argv = Vec::with_capacity(vm.args.len() + 16);
    argv.push(text(&binary));
    argv.extend(super::image_args::for_vm(project, vm, paths));
    argv.extend(
        vm.arch_defaults
            .iter()
            .flat_map(|d| d.added().iter().cloned()),
    );
    argv.extend(vm.args.iter().cloned());
    argv.extend(super::virtiofs_args::for_vm(vm, paths));
    super::virtiofs_args::append_kernel_words(vm, &mut argv);
    if !names_itself(&vm.args) {
        argv.extend(["-name".to_owned(), vm.name.clone()]);
    }
    argv.extend(["-pidfile".to_owned(), text(&paths.pidfile)]);
    argv.extend([
        "-chardev".to_owned(),
        socket_chardev(QMP_CHARDEV, &paths.qmp_socket),
        "-mon".to_owned(),
        format!("chardev={QMP_CHARDEV},mode=control"),
        "-chardev".to_owned(),
        socket_chardev(MONITOR_CHARDEV, &paths.monitor_socket),
        "-mon".to_owned(),
        format!("chardev={MONITOR_CHARDEV},mode=readline"),
        "-chardev".to_owned(),
        format!(
            "{},logfile={},logappend=on",
            socket_chardev(SERIAL_CHARDEV, &paths.serial_socket),
            option_value(&paths.serial_log)
        ),
        "-serial".to_owned(),
        format!("chardev:{SERIAL_CHARDEV}"),
    ]);
    argv
}

/// The binary for `arch`: in `qemu_bin_dir` when set, else the first match on `search_path`,
/// else the bare name (so the caller can report it missing with the name the user expects).
pub fn qemu_binary(project: &Project, arch: &str, search_path: &OsStr) -> PathBuf {
    let name = format!("qemu-system-{arch}");
    if let Some(dir) = &project.qemu_bin_dir {
        return dir.join(name);
    }
    find_in(&name, search_path, |_| true).unwrap_or_else(|| PathBuf::from(name))
}

/// `None` when `binary` (argv[0] of a VM of `arch`) can run; else what to do about it, to
/// follow "QEMU binary X not found" (also `check`'s warning).
pub fn missing_binary_hint(binary: &str, project: &Project, arch: &str) -> Option<String> {
    let path = Path::new(binary);
    if path.is_absolute() && is_executable(path) {
        return None;
    }
    Some(match &project.qemu_bin_dir {
        Some(dir) => format!(
            " in qemu_bin_dir_fpath ({}); fix qemu_bin_dir_fpath in {} or remove it to search PATH",
            dir.display(),
            project.config_file.display()
        ),
        None => format!(
            " on PATH; install it (Debian: apt-get install {}) or set qemu_bin_dir_fpath",
            crate::model::arch::debian_package(arch)
        ),
    })
}

/// QEMU accepts both `-name` and `--name`; a user's own name must win over ours.
fn names_itself(args: &[String]) -> bool {
    args.iter().any(|arg| arg == "-name" || arg == "--name")
}

fn socket_chardev(id: &str, socket: &Path) -> String {
    format!(
        "socket,id={id},path={},server=on,wait=off",
        option_value(socket)
    )
}

/// A path as a value inside a QEMU option string, where a single comma would start the next
/// option: QEMU reads `,,` as one literal comma.
fn option_value(path: &Path) -> String {
    text(path).replace(',', ",,")
}

/// The argv is `Vec<String>`; state paths come from a UTF-8 config, so lossiness is theoretical.
fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The argv as one line a user can paste into a POSIX shell.
pub fn shell_quoted(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| {
        // Only a NUL byte makes shlex refuse; no real argv can hold one, but stay total.
        argv.iter()
            .map(|word| single_quoted(word))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn single_quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;

    fn project(qemu_bin_dir: Option<&str>) -> Project {
        Project {
            qemu_bin_dir: qemu_bin_dir.map(PathBuf::from),
            ..fixtures::project("/p/conf.lua", vec![])
        }
    }

    fn vm(args: &[&str]) -> Vm {
        let mut vm = fixtures::vm("demo", 2222);
        vm.ssh.user = "u".into();
        vm.args = strings(args);
        vm
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn user_args_then_plumbing_in_exact_order() {
        let paths = VmPaths::new(PathBuf::from("/p/.qcmdr/vm/demo"));
        let argv = build_with_path(
            &project(Some("/opt/qemu/bin")),
            &vm(&["-m", "512", "-display", "none"]),
            &paths,
            OsStr::new(""),
        );
        let d = "/p/.qcmdr/vm/demo";
        let expected = strings(&[
            "/opt/qemu/bin/qemu-system-x86_64",
            "-m",
            "512",
            "-display",
            "none",
            "-name",
            "demo",
            "-pidfile",
            &format!("{d}/qemu.pid"),
            "-chardev",
            &format!("socket,id=qcmdr-qmp,path={d}/qmp.sock,server=on,wait=off"),
            "-mon",
            "chardev=qcmdr-qmp,mode=control",
            "-chardev",
            &format!("socket,id=qcmdr-monitor,path={d}/monitor.sock,server=on,wait=off"),
            "-mon",
            "chardev=qcmdr-monitor,mode=readline",
            "-chardev",
            &format!(
                "socket,id=qcmdr-serial,path={d}/serial.sock,server=on,wait=off,\
                 logfile={d}/serial.log,logappend=on"
            ),
            "-serial",
            "chardev:qcmdr-serial",
        ]);
        assert_eq!(argv, expected);
    }

    #[test]
    fn user_name_suppresses_ours() {
        let paths = VmPaths::new(PathBuf::from("/p/.qcmdr/vm/demo"));
        for flag in ["-name", "--name"] {
            let argv = build_with_path(
                &project(Some("/q")),
                &vm(&[flag, "mine,debug-threads=on"]),
                &paths,
                OsStr::new(""),
            );
            let names = argv.iter().filter(|a| *a == "-name" || *a == "--name");
            assert_eq!(names.count(), 1, "{argv:?}");
            assert_eq!(argv[1..3], strings(&[flag, "mine,debug-threads=on"]));
        }
    }

    #[test]
    fn commas_in_paths_are_doubled_in_chardev_options_only() {
        let paths = VmPaths::new(PathBuf::from("/p,x/.qcmdr/vm/demo"));
        let argv = build_with_path(&project(Some("/q")), &vm(&[]), &paths, OsStr::new(""));
        let after = |flag: &str| argv[argv.iter().position(|a| a == flag).unwrap() + 1].clone();
        // -pidfile takes a plain path, not an option string.
        assert_eq!(after("-pidfile"), "/p,x/.qcmdr/vm/demo/qemu.pid");
        let chardevs: Vec<_> = argv
            .windows(2)
            .filter(|w| w[0] == "-chardev")
            .map(|w| w[1].clone())
            .collect();
        assert_eq!(chardevs.len(), 3);
        assert!(chardevs[0].contains("path=/p,,x/.qcmdr/vm/demo/qmp.sock,server=on"));
        assert!(chardevs[2].contains("logfile=/p,,x/.qcmdr/vm/demo/serial.log,logappend=on"));
    }

    #[test]
    fn binary_is_searched_on_the_given_path() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        // A non-executable file earlier on PATH must be skipped.
        std::fs::write(empty.join("qemu-system-x86_64"), "").unwrap();
        let fake = bin.join("qemu-system-x86_64");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = std::env::join_paths([empty.as_path(), bin.as_path()]).unwrap();

        let paths = VmPaths::new(PathBuf::from("/p/.qcmdr/vm/demo"));
        let argv = build_with_path(&project(None), &vm(&[]), &paths, &search);
        assert_eq!(argv[0], fake.to_str().unwrap());

        let argv = build_with_path(&project(None), &vm(&[]), &paths, empty.as_os_str());
        assert_eq!(argv[0], "qemu-system-x86_64");
    }

    #[test]
    fn qemu_bin_dir_wins_without_checking_existence() {
        let bin = qemu_binary(
            &project(Some("/nowhere")),
            "aarch64",
            OsStr::new("/usr/bin"),
        );
        assert_eq!(bin, Path::new("/nowhere/qemu-system-aarch64"));
    }

    #[test]
    fn shell_quoted_round_trips_through_shlex() {
        let argv = strings(&[
            "/usr/bin/qemu",
            "-append",
            "console=ttyS0 quiet",
            "it's",
            "",
        ]);
        let line = shell_quoted(&argv);
        assert_eq!(shlex::split(&line).unwrap(), argv);
        assert!(line.starts_with("/usr/bin/qemu -append "), "{line}");
    }

    #[test]
    fn shell_quoted_falls_back_on_nul() {
        let line = shell_quoted(&strings(&["a\0b", "c'd"]));
        assert_eq!(line, r"'a\0b' 'c'\''d'".replace(r"\0", "\0"));
    }
}
