//! Hardening with a real VM: one state dir reached through a symlink or `..` is one state dir
//! (a running VM is never taken for stale), no write into a VM folder follows a planted
//! symlink, `--timeout` is the bound named on failure, a busy QMP socket is named by stop,
//! and Mutagen sessions of a VM named with `_` (legal names, the real name in the label) end
//! when `--no-sync` starts after a crash; a hanging rsync is stopped at its bound; without an
//! ssh client, `status` says so (not "timeout"; the guest-clock step's wording is a unit test
//! in `snapshot/clock.rs`: every command that reaches that step has needed ssh before it).

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{alive, processes_mentioning, wait_until, Project, Run, Tmpfs, VmSpec};
use crate::vm_sync::write_tree;
use crate::vm_sync_mutagen::{sessions, Fake};

/// A folder outside the project; whatever runs from it is killed on drop.
struct Elsewhere {
    dir: tempfile::TempDir,
    _cleanup: KillMentioning,
}

impl Elsewhere {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("qcmdr-l")
            .tempdir()
            .unwrap();
        let _cleanup = KillMentioning(dir.path().to_path_buf());
        Elsewhere { dir, _cleanup }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Kills, when dropped, every process whose command line mentions the folder (a QEMU whose
/// state dir lies outside the folder that [`Project`] cleans up).
struct KillMentioning(PathBuf);

impl Drop for KillMentioning {
    fn drop(&mut self) {
        for pid in processes_mentioning(&self.0) {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

/// `qcmdr -c <config> ARGS`, the config named by a path of the test's choosing.
fn qcmdr_with(config: &Path, args: &[&str]) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_qcmdr"))
            .arg("-c")
            .arg(config)
            .args(args)
            .env_remove("QCMDR_CONFIG")
            .env_remove("QCMDR_STATE_DIR")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

#[test]
fn vm_a_state_dir_reached_another_way_sees_the_running_vm_and_stop_follows_no_symlink() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    project.ok(&["start", "demo"]);
    let pid = project.pid("demo").expect("pidfile");

    let elsewhere = Elsewhere::new();
    let link = elsewhere.path().join("proj");
    std::os::unix::fs::symlink(project.path(), &link).unwrap();
    let dir_name = project.path().file_name().unwrap();
    let dotted = project.path().join("..").join(dir_name).join("conf.lua");
    for config in [link.join("conf.lua"), dotted] {
        let status = qcmdr_with(&config, &["status", "--json"]);
        assert_eq!(status.code, 0, "{status}");
        let vm = &status.json()["vms"][0];
        assert_eq!(vm["state"], "running", "{}: {status}", config.display());
        assert_eq!(vm["pid"], pid, "{status}");
        let start = qcmdr_with(&config, &["start", "demo"]);
        assert_eq!(start.code, 0, "{start}");
        assert!(
            start
                .stderr
                .contains(&format!("already running (pid {pid})")),
            "{}: {start}",
            config.display()
        );
        assert!(alive(pid), "the running QEMU is left alone");
        assert_eq!(project.pid("demo"), Some(pid), "its pidfile is kept");
    }

    // A symlink planted in the VM folder (while it was loose, say): stop replaces it and
    // never writes through it.
    let victim = elsewhere.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let transcript = project.vm_dir("demo").join("stop-ssh.log");
    let _ = fs::remove_file(&transcript);
    std::os::unix::fs::symlink(&victim, &transcript).unwrap();
    let stop = qcmdr_with(&link.join("conf.lua"), &["stop", "demo"]);
    assert_eq!(stop.code, 0, "{stop}");
    assert!(stop.stderr.contains("by ssh-poweroff"), "{stop}");
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "QEMU ended"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!fs::symlink_metadata(&transcript)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn vm_start_timeout_is_the_bound_named_and_stop_names_a_busy_qmp_socket() {
    let project = Project::new(vec![VmSpec::new("demo").kernel_args("qcmdr.nosshd")]);
    let started = Instant::now();
    let start = project.run(&["start", "demo", "--timeout", "15", "--keep-running"]);
    let took = started.elapsed();
    assert_eq!(start.code, 1, "{start}");
    assert!(
        start.stderr.contains("within 15 s (--timeout)"),
        "the bound in force is named: {start}"
    );
    assert!(!start.stderr.contains("60 s"), "{start}");
    assert!(took >= Duration::from_secs(14), "{took:?}");
    let pid = project.pid("demo").expect("kept running");

    // Another client holds QMP (QEMU serves one at a time), and sshd does not run: stop's
    // ACPI step cannot be taken, and stop says why before it goes on to SIGTERM.
    let mut holder = UnixStream::connect(project.vm_dir("demo").join("qmp.sock")).unwrap();
    holder
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut greeting = String::new();
    BufReader::new(&mut holder)
        .read_line(&mut greeting)
        .unwrap();
    assert!(
        greeting.contains("QMP"),
        "we are the QMP client: {greeting}"
    );
    let stop = project.run(&["stop", "demo", "--timeout", "3"]);
    assert_eq!(stop.code, 0, "{stop}");
    assert!(
        stop.stderr
            .contains("ACPI power-down skipped: QMP socket busy: another client is connected?"),
        "{stop}"
    );
    assert!(stop.stderr.contains("by sigterm"), "{stop}");
    assert!(wait_until(Duration::from_secs(10), || !alive(pid)));
    drop(holder);
}

#[test]
fn vm_a_vm_named_with_underscores_syncs_and_no_sync_ends_a_crashed_runs_sessions() {
    let mut project = Project::new(vec![VmSpec::new("nvme_lab")]);
    let (src, src2) = (project.path().join("src"), project.path().join("src2"));
    write_tree(&src, &[("a.txt", "a")]);
    write_tree(&src2, &[("b.txt", "b")]);
    project.vms[0] = project.vms[0].clone().extra(&format!(
        r#"sync = {{
          {{ source = {src:?}, dest = "~/src" }},
          {{ source = {src2:?}, dest = "~/src2", engine = "rsync" }},
        }},"#,
        src = src.to_str().unwrap(),
        src2 = src2.to_str().unwrap(),
    ));
    project.write_config("");
    let fake = Fake::new(&project);

    fake.ok(&project, &["start", "nvme_lab"]);
    let created: Vec<Vec<String>> = fake
        .take_calls()
        .into_iter()
        .map(|call| call.argv)
        .filter(|argv| argv.get(1).map(String::as_str) == Some("create"))
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let argv = &created[0];
    let name = &argv[argv.iter().position(|a| a == "--name").unwrap() + 1];
    assert!(
        name.starts_with("nvme-lab-") && name.ends_with("-0") && !name.contains('_'),
        "{name}"
    );
    assert!(argv.contains(&"qcmdr.vm=nvme_lab".to_string()), "{argv:?}");
    let live = sessions(&project);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["labels"]["qcmdr.vm"], "nvme_lab", "{live:?}");

    // A source that went away (another machine's path): flush names the entry and the path.
    let moved = project.path().join("src2.moved");
    fs::rename(&src2, &moved).unwrap();
    let flush = fake.run(&project, &["sync", "flush", "nvme_lab"]);
    assert_eq!(flush.code, 1, "{flush}");
    assert!(
        flush.stderr.contains(&format!(
            "sync[2] ({} → nvme_lab:~/src2): {} does not exist",
            src2.display(),
            src2.display()
        )),
        "{flush}"
    );
    fs::rename(&moved, &src2).unwrap();

    // An rsync that hangs (fault injection: first on PATH) is stopped at the call bound.
    let hang = project.path().join("hangbin");
    fs::create_dir(&hang).unwrap();
    fs::write(
        hang.join("rsync"),
        "#!/bin/sh\nexec python3 -c 'import time; time.sleep(600)' \"$0\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(hang.join("rsync"), fs::Permissions::from_mode(0o755)).unwrap();
    let path: Vec<PathBuf> = [hang.clone(), fake.bin.clone()]
        .into_iter()
        .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap()))
        .collect();
    let started = Instant::now();
    let flush = Run::of(
        fake.command(&project, &["sync", "flush", "nvme_lab"])
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("QCMDR_SYNC_TIMEOUT", "3")
            .output()
            .unwrap(),
    );
    assert_eq!(flush.code, 1, "{flush}");
    assert!(started.elapsed() < Duration::from_secs(60), "{flush}");
    assert!(
        flush.stderr.contains("sync[2]") && flush.stderr.contains("did not finish within 3 s"),
        "{flush}"
    );
    assert_eq!(
        processes_mentioning(&hang),
        Vec::<i32>::new(),
        "rsync killed"
    );

    // The VM crashes; its session stays behind until the next start, even one without sync.
    let pid = project.pid("nvme_lab").unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || !alive(pid)));
    assert_eq!(sessions(&project).len(), 1);
    fake.take_calls();
    fake.ok(&project, &["start", "nvme_lab", "--no-sync"]);
    assert_eq!(sessions(&project), Vec::<serde_json::Value>::new());
    let calls: Vec<Vec<String>> = fake.take_calls().into_iter().map(|c| c.argv).collect();
    assert!(
        calls.iter().any(|argv| argv[..2] == ["sync", "terminate"]
            && argv.contains(&"qcmdr.vm=nvme_lab".to_string())),
        "{calls:?}"
    );
    fake.ok(&project, &["stop", "nvme_lab"]);
}

#[test]
fn vm_a_state_dir_that_fills_up_during_the_boot_is_named_as_full() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let disk = Tmpfs::new("16m");
    let _cleanup = KillMentioning(disk.path().to_path_buf());
    let state = disk.path().join("state");
    let child = project
        .command(&["start", "demo", "--timeout", "25"])
        .env("QCMDR_STATE_DIR", &state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Enough room before launch; the moment QEMU has written its pidfile (before the guest
    // prints anything), the file system fills up and the serial log cannot grow.
    let pidfile = state.join("vm/demo/qemu.pid");
    assert!(wait_until(Duration::from_secs(60), || pidfile.exists()));
    disk.fill();
    let run = Run::of(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("no login prompt")
            && run.stderr.contains(&format!(
                "the file system of {} is full (ENOSPC",
                state.join("vm/demo/serial.log").display()
            )),
        "{run}"
    );
}

/// A folder of links to every program on `PATH` but `missing`: a `PATH` without it.
fn path_without(missing: &str, dir: &Path) -> std::ffi::OsString {
    fs::create_dir_all(dir).unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for folder in std::env::split_paths(&path) {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if name != missing && fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(entry.path(), link).unwrap();
            }
        }
    }
    dir.as_os_str().to_owned()
}

#[test]
fn vm_without_an_ssh_client_status_says_so_instead_of_timeout() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    project.ok(&["start", "demo"]);
    let no_ssh = path_without("ssh", &project.path().join("bin-without-ssh"));
    let run = |args: &[&str]| {
        Run::of(
            project
                .command(args)
                .env("PATH", &no_ssh)
                .output()
                .expect("run qcmdr"),
        )
    };

    let status = run(&["status", "demo", "--json"]);
    assert_eq!(status.code, 0, "{status}");
    let vm = &status.json()["vms"][0];
    assert_eq!(vm["state"], "running", "{status}");
    assert_eq!(vm["ssh"], "error", "{status}");
    assert_eq!(
        vm["detail"], "cannot run ssh: No such file or directory (os error 2)",
        "{status}"
    );
    let table = run(&["status", "demo"]);
    assert!(table.stdout.contains("  error  "), "{table}");
    assert!(
        table
            .stdout
            .contains("(cannot run ssh: No such file or directory (os error 2))"),
        "{table}"
    );
    assert!(!table.stdout.contains("timeout"), "{table}");

    // With ssh back, the same VM answers: nothing was broken by the attempt.
    let healthy = project.ok(&["status", "demo", "--json"]).json();
    assert_eq!(healthy["vms"][0]["ssh"], "ok", "{healthy}");
}
