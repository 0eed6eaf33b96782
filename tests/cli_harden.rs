//! Hardening seen through the real binary, no VM booted: configs written for the ancestor,
//! the state dir's private folders, and no panics (bad --timeout values, a closed stdout, a
//! config that never returns, a non-UTF-8 pidfile), with causes named before anything runs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cli::Expect;
use crate::support::{free_port, processes_mentioning, CliTest, Run, Tmpfs};

/// A [`CliTest`] folder whose `conf.lua` is given, with an existing `key` file; anything a
/// test started from it is killed on drop.
struct Dir {
    test: CliTest,
}

impl Dir {
    fn new(config: &str) -> Dir {
        let test = CliTest::with_config(config);
        // An existing key, so that only the fault a test plants stops a start.
        fs::write(test.path().join("key"), "not really a key\n").unwrap();
        Dir { test }
    }

    fn path(&self) -> &Path {
        self.test.path()
    }

    fn vm_dir(&self, vm: &str) -> PathBuf {
        self.path().join(".qcmdr/vm").join(vm)
    }

    /// `qcmdr ARGS` in the folder (so its `conf.lua` is the config); nothing panics.
    fn cmd(&self, args: &[&str]) -> Expect {
        self.test.cmd(args)
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

/// No panic report reached the user.
fn no_panic(run: &Run) {
    assert!(!run.stderr.contains("panicked"), "{run}");
}

/// `PATH` with `first` in front.
fn path_with(first: &[PathBuf]) -> std::ffi::OsString {
    let rest = std::env::split_paths(&std::env::var_os("PATH").unwrap()).collect::<Vec<_>>();
    std::env::join_paths(first.iter().cloned().chain(rest)).unwrap()
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
        &["snapshot", "restore", "--timeout", "inf", "demo", "s0"],
    ] {
        no_panic(&dir.cmd(args).code(2).stderr_has("--timeout").run());
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_qcmdr"))
        .arg("list")
        .current_dir(dir.path())
        .env_remove("QCMDR_CONFIG")
        .env_remove("QCMDR_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("NAME"), "{first}");
    let run = Run::of(child.wait_with_output().unwrap());
    no_panic(&run);
    assert_ne!(run.code, 101, "{run}");
    assert!(run.stderr.is_empty(), "nothing said on stderr: {run}");
}

#[test]
fn a_config_that_never_returns_is_stopped_naming_the_file() {
    let dir = Dir::new("while true do end\nreturn { vms = {} }\n");
    let started = Instant::now();
    dir.cmd(&["check"])
        .code(2)
        .stderr_has("conf.lua: evaluation did not finish within 5 s")
        .run();
    assert!(started.elapsed() < Duration::from_secs(30));
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
    let config = dir.path().join("conf.lua");
    dir.cmd(&["check"])
        .stderr_has(format!(
            "warning: {}: VM \"a\": sync[1].source: {} does not exist",
            config.display(),
            missing.display()
        ))
        .run();
    for args in [&["show", "b"][..], &["list"], &["status"], &["ssh-config"]] {
        dir.cmd(args).run();
    }
    dir.cmd(&["start", "a", "--timeout", "30"])
        .code(1)
        .stderr_has(format!(
            "a: sync[1] ({} → a:~/src): {} does not exist",
            missing.display(),
            missing.display()
        ))
        .stderr_has("nothing was launched")
        .run();
    assert!(!dir.vm_dir("a").join("qemu.log").exists(), "QEMU never ran");
    dir.assert_nothing_runs();
}

#[test]
fn check_and_start_let_ssh_judge_the_ssh_config_before_launch() {
    let dir = Dir::new(&one_vm("").replace(
        r#"IdentityFile = "key" }"#,
        r#"IdentityFile = "key", ServerAliveIntervl = 5 }"#,
    ));
    let named = r#"VM "demo": ssh.ServerAliveIntervl: ssh says: Bad configuration option: serveraliveintervl"#;
    dir.cmd(&["check"]).code(2).stderr_has(named).run();
    let started = Instant::now();
    dir.cmd(&["start", "demo"])
        .code(1)
        .stderr_has(named)
        .stderr_has("nothing was launched")
        .run();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        !dir.vm_dir("demo").join("qemu.log").exists(),
        "QEMU never ran"
    );
    dir.assert_nothing_runs();
}

#[test]
fn a_missing_identity_file_is_reported_before_launch() {
    let dir = Dir::new(&one_vm(""));
    let key = dir.path().join("key");
    fs::remove_file(&key).unwrap();
    dir.cmd(&["check"])
        .stderr_has("VM \"demo\": ssh.IdentityFile: key does not exist")
        .run();
    dir.cmd(&["start", "demo"])
        .code(1)
        .stderr_has("ssh.IdentityFile: key does not exist, so SSH could never log in")
        .stderr_has("nothing was launched")
        .run();
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
    let folders = [
        dir.path().join(".qcmdr"),
        dir.path().join(".qcmdr/vm"),
        vm_dir.clone(),
    ];

    // Left 0777 (with the state dir and vm/): tightened to 0700.
    fs::create_dir_all(&vm_dir).unwrap();
    for d in &folders {
        fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    }
    dir.cmd(&["start", "demo"])
        .code(1)
        .stderr_has("ssh.IdentityFile")
        .run();
    for d in &folders {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }

    // Owned by another user: refused, with the reason.
    std::os::unix::fs::chown(&vm_dir, Some(65534), Some(65534)).unwrap();
    dir.cmd(&["start", "demo"])
        .code(1)
        .stderr_has(format!("refusing to use {}", vm_dir.display()))
        .stderr_has("owned by uid 65534")
        .run();
    fs::remove_dir_all(&vm_dir).unwrap();

    // A symlink planted where the VM folder goes: refused, its target untouched.
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &vm_dir).unwrap();
    dir.cmd(&["start", "demo"])
        .code(1)
        .stderr_has("symbolic link")
        .run();
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    dir.assert_nothing_runs();
}

#[test]
fn a_pidfile_that_is_not_utf8_is_stale_like_any_other_garbage() {
    let dir = Dir::new(&one_vm(""));
    fs::create_dir_all(dir.vm_dir("demo")).unwrap();
    fs::write(dir.vm_dir("demo").join("qemu.pid"), b"\xff\xfe\x00garbage").unwrap();
    dir.cmd(&["status"]).stdout_has("stale").run();
    dir.cmd(&["stop", "demo"]).stderr_has("stale").run();
    assert!(!dir.vm_dir("demo").join("qemu.pid").exists());
}

#[test]
fn a_state_dir_on_a_nearly_full_file_system_is_refused_before_launch() {
    let dir = Dir::new(&one_vm(""));
    let small = Tmpfs::new("2m");
    let state = small.path().join("state");
    dir.cmd(&["start", "demo"])
        .env("QCMDR_STATE_DIR", &state)
        .code(1)
        .stderr_has("free on the file system of")
        .stderr_has("nothing was launched")
        .run();
    assert!(!state.join("vm/demo/qemu.log").exists(), "QEMU never ran");
    dir.assert_nothing_runs();
}

#[test]
fn a_mutagen_call_that_hangs_is_stopped_at_its_bound_naming_the_step() {
    let dir = Dir::new(&one_vm(r#"sync = { { source = "src", dest = "~/src" } },"#));
    fs::create_dir(dir.path().join("src")).unwrap();
    // The double, first on PATH, hanging in `sync terminate`.
    let bin = dir.path().join("fakebin");
    fs::create_dir(&bin).unwrap();
    let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/mutagen");
    std::os::unix::fs::symlink(double, bin.join("mutagen")).unwrap();
    // A crashed run left its sessions: stop ends them, and that call hangs.
    fs::create_dir_all(dir.vm_dir("demo")).unwrap();
    fs::write(dir.vm_dir("demo").join("mutagen-sessions"), "").unwrap();
    let started = Instant::now();
    dir.cmd(&["stop", "demo"])
        .env("PATH", path_with(&[bin]))
        .env("FAKE_MUTAGEN_HANG", "terminate")
        .env("QCMDR_SYNC_TIMEOUT", "2")
        .stderr_has(
            "`mutagen sync terminate --label-selector qcmdr.vm=demo` did not finish within 2 s",
        )
        .run();
    assert!(started.elapsed() < Duration::from_secs(30));
    dir.assert_nothing_runs();
}
