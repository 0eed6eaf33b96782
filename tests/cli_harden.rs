//! Hardening seen through the real binary, no VM booted: configs written for the ancestor,
//! the state dir's private folders, and no panics (bad --timeout values, a closed stdout, a
//! config that never returns, a non-UTF-8 pidfile), with causes named before anything runs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, processes_mentioning, Run};

/// A folder with a `conf.lua`; anything a test started from it is killed on drop.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(config: &str) -> Dir {
        let dir = tempfile::Builder::new()
            .prefix("qcmdr-h")
            .tempdir()
            .unwrap();
        fs::write(dir.path().join("conf.lua"), config).unwrap();
        // An existing key, so that only the fault a test plants stops a start.
        fs::write(dir.path().join("key"), "not really a key\n").unwrap();
        Dir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn vm_dir(&self, vm: &str) -> PathBuf {
        self.path().join(".qcmdr/vm").join(vm)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qcmdr"));
        command
            .arg("-c")
            .arg(self.path().join("conf.lua"))
            .args(args)
            .current_dir(self.path())
            .env_remove("QCMDR_CONFIG")
            .env_remove("QCMDR_STATE_DIR")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().unwrap())
    }

    /// Nothing of this folder runs (no QEMU was launched, no helper left behind).
    fn assert_nothing_runs(&self) {
        assert_eq!(processes_mentioning(self.path()), Vec::<i32>::new());
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        for pid in processes_mentioning(self.path()) {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

/// One VM `demo` (TCG, a hostfwd for its SSH port) with `extra` Lua fields; the key exists.
fn one_vm(extra: &str) -> String {
    let port = free_port();
    format!(
        r#"return {{ vms = {{
  {{ name = "demo", arch = "x86_64",
    ssh = {{ Port = {port}, User = "root", IdentityFile = "key" }},
    args = {{ "-machine q35,accel=tcg", "-display none",
             "-netdev user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22" }},
    {extra} }},
}} }}"#
    )
}

#[test]
fn timeout_values_no_duration_can_hold_are_usage_errors_naming_the_flag() {
    let dir = Dir::new(&one_vm(""));
    for args in [
        &["start", "--timeout", "inf", "demo"][..],
        &["start", "--timeout", "nan", "demo"],
        &["start", "--timeout", "1e30", "demo"],
        &["stop", "--timeout=-1", "demo"],
        &["qmp", "--timeout", "inf", "demo", "query-status"],
        &["monitor", "--timeout", "NaN", "demo", "info", "status"],
    ] {
        let run = dir.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert!(run.stderr.contains("--timeout"), "{args:?}: {run}");
        assert!(!run.stderr.contains("panicked"), "{args:?}: {run}");
    }
    dir.assert_nothing_runs();
}

#[test]
fn a_reader_that_stops_early_ends_qcmdr_quietly() {
    let dir = Dir::new(
        r#"local vms = {}
for i = 1, 5000 do
  vms[#vms + 1] = { name = "vm" .. i, arch = "x86_64",
    ssh = { Port = 20000 + i, User = "root", IdentityFile = "key" }, args = {} }
end
return { vms = vms }"#,
    );
    // `qcmdr list | head -1`: read one line, then close the pipe while qcmdr still writes.
    let mut child = dir
        .command(&["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("NAME"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.is_empty(), "nothing said on stderr: {stderr}");
}

#[test]
fn a_config_that_never_returns_is_stopped_naming_the_file() {
    let dir = Dir::new("while true do end\nreturn { vms = {} }\n");
    let started = Instant::now();
    let run = dir.run(&["check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(started.elapsed() < Duration::from_secs(30), "{run}");
    assert!(run.stderr.contains("conf.lua"), "{run}");
    assert!(run.stderr.contains("did not finish within 5 s"), "{run}");
}

#[test]
fn a_missing_sync_source_only_concerns_its_own_vm_and_its_sync() {
    let port = free_port();
    let dir = Dir::new(&format!(
        r#"return {{ vms = {{
  {{ name = "a", arch = "x86_64", ssh = {{ Port = {port}, User = "root", IdentityFile = "key" }},
    sync = {{ {{ source = "not/on/this/machine", dest = "~/src", engine = "rsync" }} }},
    args = {{ "-machine q35,accel=tcg", "-display none" }} }},
  {{ name = "b", arch = "x86_64", ssh = {{ Port = {}, User = "root", IdentityFile = "key" }}, args = {{}} }},
}} }}"#,
        port + 1
    ));
    let missing = dir.path().join("not/on/this/machine");
    let check = dir.run(&["check"]);
    assert_eq!(check.code, 0, "a warning, not an error: {check}");
    assert!(
        check.stderr.contains(&format!(
            "warning: {}: VM \"a\": sync[1].source: {} does not exist",
            dir.path().join("conf.lua").display(),
            missing.display()
        )),
        "{check}"
    );
    for args in [&["show", "b"][..], &["list"], &["status"]] {
        let run = dir.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run}");
    }
    let start = dir.run(&["start", "a", "--timeout", "30"]);
    assert_eq!(start.code, 1, "{start}");
    assert!(
        start.stderr.contains(&format!(
            "a: sync[1] ({} → a:~/src): {} does not exist",
            missing.display(),
            missing.display()
        )) && start.stderr.contains("nothing was launched"),
        "{start}"
    );
    assert!(!dir.vm_dir("a").join("qemu.log").exists(), "QEMU never ran");
    dir.assert_nothing_runs();
}

#[test]
fn check_and_start_let_ssh_judge_the_ssh_config_before_launch() {
    let dir = Dir::new(&one_vm("").replace(
        r#"IdentityFile = "key" }"#,
        r#"IdentityFile = "key", ServerAliveIntervl = 5 }"#,
    ));
    let check = dir.run(&["check"]);
    assert_eq!(check.code, 1, "{check}");
    let named = r#"VM "demo": ssh.ServerAliveIntervl: ssh says: Bad configuration option: serveraliveintervl"#;
    assert!(check.stderr.contains(named), "{check}");
    let started = Instant::now();
    let start = dir.run(&["start", "demo"]);
    assert_eq!(start.code, 1, "{start}");
    assert!(started.elapsed() < Duration::from_secs(20), "{start}");
    assert!(start.stderr.contains(named), "{start}");
    assert!(start.stderr.contains("nothing was launched"), "{start}");
    assert!(
        !dir.vm_dir("demo").join("qemu.log").exists(),
        "QEMU never ran"
    );
    dir.assert_nothing_runs();
}

#[test]
fn a_missing_identity_file_is_reported_before_launch() {
    let dir = Dir::new(&one_vm(""));
    fs::remove_file(dir.path().join("key")).unwrap();
    let key = dir.path().join("key");
    let check = dir.run(&["check"]);
    assert_eq!(check.code, 0, "{check}");
    assert!(
        check.stderr.contains(&format!(
            "VM \"demo\": ssh.IdentityFile: {} does not exist",
            key.display()
        )) || check
            .stderr
            .contains("ssh.IdentityFile: key does not exist"),
        "{check}"
    );
    let start = dir.run(&["start", "demo"]);
    assert_eq!(start.code, 1, "{start}");
    assert!(
        start.stderr.contains("ssh.IdentityFile:")
            && start.stderr.contains("does not exist")
            && start.stderr.contains("nothing was launched"),
        "{start}"
    );
    assert!(
        !dir.vm_dir("demo").join("qemu.log").exists(),
        "QEMU never ran"
    );
    dir.assert_nothing_runs();
}

#[test]
fn loose_foreign_and_symlinked_vm_folders_are_fixed_or_refused() {
    // A start that gets past the folder checks and then stops before launch (no key).
    let dir = Dir::new(&one_vm(""));
    fs::remove_file(dir.path().join("key")).unwrap();
    let vm_dir = dir.vm_dir("demo");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // Left 0777 (with the state dir and vm/): tightened to 0700.
    fs::create_dir_all(&vm_dir).unwrap();
    for d in [
        dir.path().join(".qcmdr"),
        dir.path().join(".qcmdr/vm"),
        vm_dir.clone(),
    ] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
    }
    let run = dir.run(&["start", "demo"]);
    assert!(
        run.stderr.contains("ssh.IdentityFile"),
        "got past the folders: {run}"
    );
    for d in [
        dir.path().join(".qcmdr"),
        dir.path().join(".qcmdr/vm"),
        vm_dir.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }

    // Owned by another user: refused, with the reason.
    std::os::unix::fs::chown(&vm_dir, Some(65534), Some(65534)).unwrap();
    let run = dir.run(&["start", "demo"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains(&format!("refusing to use {}", vm_dir.display()))
            && run.stderr.contains("owned by uid 65534"),
        "{run}"
    );
    fs::remove_dir_all(&vm_dir).unwrap();

    // A symlink planted where the VM folder goes: refused, its target untouched.
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &vm_dir).unwrap();
    let run = dir.run(&["start", "demo"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("symbolic link"), "{run}");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    dir.assert_nothing_runs();
}

#[test]
fn a_pidfile_that_is_not_utf8_is_stale_like_any_other_garbage() {
    let dir = Dir::new(&one_vm(""));
    fs::create_dir_all(dir.vm_dir("demo")).unwrap();
    fs::write(dir.vm_dir("demo").join("qemu.pid"), b"\xff\xfe\x00garbage").unwrap();
    let status = dir.run(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("stale"), "{status}");
    let stop = dir.run(&["stop", "demo"]);
    assert_eq!(stop.code, 0, "{stop}");
    assert!(stop.stderr.contains("stale"), "{stop}");
    assert!(!dir.vm_dir("demo").join("qemu.pid").exists());
}

/// A tiny tmpfs mounted for one test (the tests run as root), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "qcmdr-test"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs (needs root)");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_state_dir_on_a_nearly_full_file_system_is_refused_before_launch() {
    let dir = Dir::new(&one_vm(""));
    let small = Tmpfs::new("2m");
    let state = small.0.path().join("state");
    let run = Run::of(
        dir.command(&["start", "demo"])
            .env("QCMDR_STATE_DIR", &state)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("free on the file system of")
            && run.stderr.contains("nothing was launched"),
        "{run}"
    );
    assert!(!state.join("vm/demo/qemu.log").exists(), "QEMU never ran");
    dir.assert_nothing_runs();
}

#[test]
fn a_mutagen_call_that_hangs_is_stopped_at_its_bound_naming_the_step() {
    let source = "src";
    let dir = Dir::new(&one_vm(&format!(
        r#"sync = {{ {{ source = "{source}", dest = "~/src" }} }},"#
    )));
    fs::create_dir(dir.path().join(source)).unwrap();
    // The double, first on PATH, hanging in `sync terminate`.
    let bin = dir.path().join("fakebin");
    fs::create_dir(&bin).unwrap();
    let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/mutagen");
    std::os::unix::fs::symlink(double, bin.join("mutagen")).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    // A crashed run left its sessions: stop ends them, and that call hangs.
    fs::create_dir_all(dir.vm_dir("demo")).unwrap();
    fs::write(dir.vm_dir("demo").join("mutagen-sessions"), "").unwrap();
    let started = Instant::now();
    let run = Run::of(
        dir.command(&["stop", "demo"])
            .env("PATH", path)
            .env("FAKE_MUTAGEN_HANG", "terminate")
            .env("QCMDR_SYNC_TIMEOUT", "2")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "the stop itself is done: {run}");
    assert!(started.elapsed() < Duration::from_secs(30), "{run}");
    assert!(
        run.stderr.contains(
            "`mutagen sync terminate --label-selector qcmdr.vm=demo` did not finish within 2 s"
        ),
        "{run}"
    );
    dir.assert_nothing_runs();
}
