//! `qcmdr run` on real QEMU with the real guest: exit codes passed through, argv and the
//! standard streams byte-exact, a cold boot over a disk that stays unchanged, `--kernel` and
//! `--append`, a run from a snapshot holding a disk's state (over a copy of the disk), runs
//! from a snapshot that stays unchanged, a panic, `--timeout`, two runs at
//! once beside a `start`ed VM of the same name, `--keep`, Ctrl-C, SIGTERM and what a SIGKILL
//! leaves (cleared by the next run), a `git bisect run` that finds the planted bad commit, and
//! the codes of what is not the command's fault: a panic at boot, QEMU refusing, no SSH.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{processes_mentioning, wait_until, KillOnDrop, Project, Run, VmSpec};

/// Saves snapshot `s0` of the demo guest and stops it.
fn with_snapshot(project: &Project) {
    project.ok(&["start", "demo"]);
    project.ok(&["snapshot", "save", "demo", "s0", "--stop"]);
}

fn runs_dir(project: &Project) -> PathBuf {
    project.state().join("run")
}

/// Nothing of any run is left: no instance folder, no process started from one.
fn assert_nothing_left(project: &Project) {
    let runs = runs_dir(project);
    let left: Vec<_> = fs::read_dir(&runs)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "instance folders left: {left:?}");
    let processes = processes_mentioning(&runs);
    assert!(processes.is_empty(), "processes left: {processes:?}");
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Every file below `dir` with its checksum.
fn checksums(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut sums = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sums.extend(checksums(&path));
        } else {
            sums.push((path.clone(), sha256(&path)));
        }
    }
    sums.sort();
    sums
}

/// Closes `child`'s stdin (unless taken), reads both output streams to their end and reaps
/// it: its exit code, stdout and stderr.
fn finish_raw(mut child: KillOnDrop) -> (i32, Vec<u8>, Vec<u8>) {
    drop(child.stdin.take());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let mut stdout = Vec::new();
    let mut pipe = child.stdout.take().unwrap();
    pipe.read_to_end(&mut stdout).unwrap();
    let stderr = reader.join().unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), stdout, stderr)
}

fn finish(child: KillOnDrop) -> Run {
    let (code, stdout, stderr) = finish_raw(child);
    Run {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `run --from s0 demo -- COMMAND...` with all three streams piped.
fn spawn_from_s0(project: &Project, command: &[&str]) -> KillOnDrop {
    let mut args = vec!["run", "--from", "s0", "demo", "--"];
    args.extend(command);
    KillOnDrop(
        project
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn run_from_s0(project: &Project, command: &[&str]) -> Run {
    let mut args = vec!["run", "--from", "s0", "demo", "--"];
    args.extend(command);
    project.run(&args)
}

#[test]
fn vm_run_cold_boot_and_a_disk_snapshot_leave_the_vm_s_disk_unchanged() {
    let mut project = Project::new(vec![VmSpec::new("demo")]);
    let disk = project.path().join("data.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("16M")
        .status()
        .unwrap();
    assert!(made.success());
    let kernel = project.path().join("run-kernel");
    fs::copy(crate::support::guest_dir().join("vmlinuz"), &kernel).unwrap();
    project.vms[0] = project.vms[0].clone().qemu_arg(&format!(
        "-drive file={},if=virtio,format=qcow2,id=d0",
        disk.display()
    ));
    project.write_config("");
    let disk_before = sha256(&disk);

    // The command reads its stdin until the test closes it, so the test can look at the
    // instance's QEMU meanwhile.
    let script = r#"grep -q qcmdr.run-marker=1 /proc/cmdline || exit 9
echo written | dd of=/dev/vda conv=fsync 2>/dev/null
test "$(head -c 7 /dev/vda)" = written || exit 8
cat > /dev/null
printf '%s|' "$@"; exit 42"#;
    let mut child = KillOnDrop(
        project
            .command(&[
                "run",
                "--kernel",
                kernel.to_str().unwrap(),
                "--append",
                "qcmdr.run-marker=1",
                "demo",
                "--",
                "sh",
                "-c",
                script,
                "sh",
                "two words",
                "it's",
                "\"q\"",
                "$HOME",
                "",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let runs = runs_dir(&project);
    let qemu_argv = || -> Option<String> {
        processes_mentioning(&runs).into_iter().find_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            text.contains("qemu-system").then_some(text)
        })
    };
    assert!(wait_until(Duration::from_secs(120), || qemu_argv().is_some()));
    let argv = qemu_argv().unwrap();
    assert!(
        argv.contains(&format!("-kernel {}", kernel.display())),
        "{argv}"
    );
    assert!(argv.contains(" -snapshot"), "{argv}");
    // The VM's own forward stays free: the instance has a port of its own.
    let own_port = project.vms[0].port;
    assert!(!argv.contains(&format!(":{own_port}-:22")), "{argv}");
    assert!(argv.contains("-:22"), "{argv}");
    drop(child.stdin.take());
    let output = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let run = Run::of(output);
    assert_eq!(run.code, 42, "{run}");
    assert_eq!(run.stdout, "two words|it's|\"q\"|$HOME||", "{run}");
    assert_eq!(sha256(&disk), disk_before, "the VM's disk was written");
    assert_nothing_left(&project);
    // Never started: the named VM has no folder, the run left no trace in `status`.
    assert!(!project.vm_dir("demo").exists());
    let status = project.ok(&["status", "demo", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "stopped", "{status}");

    // A snapshot with a disk's state: the run gets a copy of the disk, reverted to the
    // snapshot; the VM's disk and the snapshot stay as they are.
    project.ok(&["start", "demo"]);
    project.ok(&[
        "exec",
        "demo",
        "sh",
        "-c",
        "echo saved | dd of=/dev/vda conv=fsync 2>/dev/null",
    ]);
    project.ok(&["snapshot", "save", "demo", "d0"]);
    project.ok(&[
        "exec",
        "demo",
        "sh",
        "-c",
        "echo later | dd of=/dev/vda conv=fsync 2>/dev/null",
    ]);
    let busy = project.run(&["run", "--from", "d0", "demo", "--", "true"]);
    assert_eq!(busy.code, 123, "{busy}");
    assert!(busy.stderr.contains("which runs"), "{busy}");
    project.ok(&["stop", "demo"]);
    let disk_saved = sha256(&disk);
    let snapshot = checksums(&project.vm_dir("demo").join("snapshots"));
    let restored = project.run(&[
        "run",
        "--from",
        "d0",
        "demo",
        "--",
        "sh",
        "-c",
        "head -c 5 /dev/vda; echo gone | dd of=/dev/vda conv=fsync 2>/dev/null",
    ]);
    assert_eq!(
        (restored.code, restored.stdout.as_str()),
        (0, "saved"),
        "{restored}"
    );
    assert_eq!(sha256(&disk), disk_saved, "the run wrote the VM's disk");
    assert_eq!(
        checksums(&project.vm_dir("demo").join("snapshots")),
        snapshot
    );
    assert_nothing_left(&project);
    // The VM itself still has its own last write.
    project.ok(&["start", "demo"]);
    let own = project.ok(&["exec", "demo", "head", "-c", "5", "/dev/vda"]);
    assert_eq!(own.stdout, "later");
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_run_from_a_snapshot_passes_codes_and_streams_and_leaves_it_unchanged() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    with_snapshot(&project);
    let snapshot = project.vm_dir("demo").join("snapshots");
    let before = checksums(&snapshot);

    for code in [0, 1, 42] {
        let run = run_from_s0(&project, &["sh", "-c", &format!("exit {code}")]);
        assert_eq!(run.code, code, "{run}");
        assert_eq!(run.stderr, "", "{run}");
    }
    // Every byte value through stdin and back out, and stderr apart.
    let input: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut child = spawn_from_s0(&project, &["sh", "-c", "cat; echo to-stderr >&2"]);
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let input = input.clone();
        std::thread::spawn(move || stdin.write_all(&input).unwrap())
    };
    let (code, stdout, stderr) = finish_raw(child);
    writer.join().unwrap();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    assert!(stdout == input, "stdout differs from stdin");
    assert_eq!(String::from_utf8_lossy(&stderr), "to-stderr\n");

    let json = project
        .run(&[
            "run", "--from", "s0", "--json", "demo", "--", "sh", "-c", "exit 3",
        ])
        .json();
    assert_eq!(json["schema"], "qcmdr.run/1", "{json}");
    assert_eq!(
        (json["exit_code"].as_u64(), json["cause"].as_str()),
        (Some(3), Some("exited")),
        "{json}"
    );
    assert_eq!(json["command_exit_code"], 3);
    assert_eq!(json["from_snapshot"], "s0");
    assert!(json["instance_dir"].is_null(), "{json}");
    let stages: Vec<&str> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    for stage in ["prepare", "restore", "ssh", "command", "teardown"] {
        assert!(stages.contains(&stage), "{stages:?}");
    }

    let timed_out = project.run(&[
        "run",
        "--from",
        "s0",
        "--timeout",
        "2",
        "demo",
        "--",
        "sh",
        "-c",
        "echo begun; sleep 600",
    ]);
    assert_eq!(timed_out.code, 124, "{timed_out}");
    assert_eq!(timed_out.stdout, "begun\n");
    assert!(
        timed_out
            .stderr
            .contains("did not end within 2 s (--timeout)"),
        "{timed_out}"
    );

    let kept = project.run(&[
        "run", "--from", "s0", "--keep", "--json", "demo", "--", "true",
    ]);
    assert_eq!(kept.code, 0, "{kept}");
    let dir = PathBuf::from(kept.json()["instance_dir"].as_str().unwrap());
    assert!(
        kept.stderr
            .contains(&format!("instance kept in {}", dir.display())),
        "{kept}"
    );
    assert!(dir.starts_with(runs_dir(&project)), "{dir:?}");
    assert!(dir.join("vm/demo/qemu.log").is_file());
    assert!(dir.join("vm/demo/serial.log").is_file());
    assert!(
        processes_mentioning(&dir).is_empty(),
        "a kept instance still runs"
    );
    // Later runs leave it alone.
    assert_eq!(run_from_s0(&project, &["true"]).code, 0);
    assert!(dir.join("vm/demo/serial.log").is_file());
    fs::remove_dir_all(&dir).unwrap();

    // The guest's clock, which stood still since the save (many seconds ago by now), is the
    // host's again for the command (busybox `date` has whole seconds).
    let host = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let before_run = host();
    let dated = run_from_s0(&project, &["date", "+%s"]);
    let guest: f64 = dated.stdout.trim().parse().expect("date +%s");
    assert!(
        guest + 1.0 >= before_run && guest <= host() + 1.0,
        "guest clock {guest} outside [{before_run}, now]: {dated}"
    );

    assert_eq!(checksums(&snapshot), before, "the snapshot changed");
    assert_nothing_left(&project);
}

#[test]
fn vm_run_reports_a_panic_and_runs_in_parallel_beside_a_started_vm() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    with_snapshot(&project);

    let panicked = project.run(&[
        "run",
        "--from",
        "s0",
        "--json",
        "demo",
        "--",
        "sh",
        "-c",
        "echo c > /proc/sysrq-trigger",
    ]);
    assert_eq!(panicked.code, 121, "{panicked}");
    assert!(
        panicked
            .stderr
            .contains("the guest kernel panicked or oopsed")
            && panicked.stderr.contains("| ")
            && panicked
                .stderr
                .contains("Kernel panic - not syncing: sysrq triggered crash"),
        "{panicked}"
    );
    let json = panicked.json();
    assert_eq!(json["cause"], "panic", "{json}");
    let lines = json["panic_lines"].as_array().unwrap();
    assert!(
        lines[0]
            .as_str()
            .unwrap()
            .contains("Kernel panic - not syncing"),
        "{json}"
    );
    assert!(
        lines.len() > 3,
        "the call trace belongs to the report: {json}"
    );
    let bisect = project.run(&[
        "run",
        "--from",
        "s0",
        "--bisect",
        "demo",
        "--",
        "sh",
        "-c",
        "echo c > /proc/sysrq-trigger",
    ]);
    assert_eq!(bisect.code, 1, "a panic is the commit's fault: {bisect}");
    assert_nothing_left(&project);

    // The named VM runs; runs of it neither see nor touch it.
    project.ok(&["start", "demo", "--from", "s0"]);
    let pid = project.pid("demo").unwrap();
    project.ok(&["exec", "demo", "sh", "-c", "echo mine > /tmp/started"]);
    let script = "test ! -e /tmp/started && echo \"$0\"";
    let spawn = |word: &str| spawn_from_s0(&project, &["sh", "-c", script, word]);
    let (first, second) = (spawn("first"), spawn("second"));
    for (child, word) in [(first, "first"), (second, "second")] {
        let run = finish(child);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, format!("{word}\n").as_str()),
            "{run}"
        );
    }
    assert_eq!(project.pid("demo"), Some(pid));
    assert!(crate::support::alive(pid));
    let own = project.ok(&["exec", "demo", "cat", "/tmp/started"]);
    assert_eq!(own.stdout, "mine\n");
    let status = project.ok(&["status", "demo", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "running", "{status}");
    assert_nothing_left(&project);
    project.ok(&["stop", "demo"]);
}

/// Spawns `run --from s0 demo -- sh -c 'echo begun; sleep 600'` and waits until the command
/// runs in the guest.
fn running_command(project: &Project) -> KillOnDrop {
    let mut child = spawn_from_s0(project, &["sh", "-c", "echo begun; sleep 600"]);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "begun\n");
    child
}

fn signal(child: &KillOnDrop, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

#[test]
fn vm_run_ctrl_c_and_sigterm_leave_no_qemu_overlay_or_state() {
    use rustix::process::Signal;
    let project = Project::new(vec![VmSpec::new("demo")]);
    with_snapshot(&project);
    for sent in [Signal::INT, Signal::TERM] {
        let mut child = running_command(&project);
        assert!(!processes_mentioning(&runs_dir(&project)).is_empty());
        signal(&child, sent);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{sent:?}");
        assert_nothing_left(&project);
    }
    // A qcmdr killed outright cannot clean up; the next run clears what it left.
    let mut killed = running_command(&project);
    signal(&killed, Signal::KILL);
    killed.wait().unwrap();
    let runs = runs_dir(&project);
    assert!(
        !processes_mentioning(&runs).is_empty(),
        "its QEMU is orphaned"
    );
    let next = run_from_s0(&project, &["true"]);
    assert_eq!(next.code, 0, "{next}");
    // The orphan's ssh processes end with their connection to its QEMU.
    assert!(wait_until(Duration::from_secs(10), || {
        processes_mentioning(&runs).is_empty()
    }));
    assert_nothing_left(&project);

    // During a cold boot too.
    let mut booting = KillOnDrop(
        project
            .command(&["run", "demo", "--", "true"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let runs = runs_dir(&project);
    assert!(wait_until(Duration::from_secs(60), || {
        !processes_mentioning(&runs).is_empty()
    }));
    signal(&booting, Signal::TERM);
    assert_eq!(booting.wait().unwrap().code(), Some(130));
    assert_nothing_left(&project);
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn vm_run_bisect_finds_the_planted_bad_commit() {
    let mut project = Project::new(vec![VmSpec::new("demo")]);
    let repo = project.path().join("repo");
    fs::create_dir(&repo).unwrap();
    project.vms[0] = project.vms[0].clone().extra(&format!(
        r#"sync = {{ {{ source = {:?}, dest = "/root/repo" }} }},"#,
        repo.to_str().unwrap()
    ));
    project.write_config(r#"sync_engine = "rsync","#);
    git(&repo, &["init", "-q"]);
    let mut commits = Vec::new();
    for (i, value) in ["good", "good", "good", "bad", "bad", "bad"]
        .iter()
        .enumerate()
    {
        fs::write(repo.join("value"), format!("{value} {i}\n")).unwrap();
        git(&repo, &["add", "value"]);
        git(&repo, &["commit", "-q", "-m", &format!("commit {i}")]);
        commits.push(git(&repo, &["rev-parse", "HEAD"]).trim().to_string());
    }
    with_snapshot(&project);
    git(&repo, &["bisect", "start", &commits[5], &commits[0]]);
    let qcmdr = env!("CARGO_BIN_EXE_qcmdr");
    let config = project.config();
    let out = Command::new("git")
        .args(["bisect", "run", qcmdr, "-c", config.to_str().unwrap()])
        .args(["run", "--bisect", "--from", "s0", "demo", "--"])
        .args(["sh", "-c", "grep -q '^good ' /root/repo/value"])
        .current_dir(&repo)
        .env("XDG_CACHE_HOME", crate::support::test_cache_home())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        said.contains(&format!("{} is the first bad commit", commits[3])),
        "{said}"
    );
    assert_nothing_left(&project);
}

#[test]
fn vm_run_infrastructure_failures_have_their_own_codes_and_skip_under_bisect() {
    let project = Project::new(vec![VmSpec::new("demo").extra("ssh_timeout = 3,")]);
    // A kernel that panics while booting ends the run at once, not at login_timeout.
    let panicked = project.run(&[
        "run",
        "--append",
        "rdinit=/nonexistent",
        "demo",
        "--",
        "true",
    ]);
    assert_eq!(panicked.code, 121, "{panicked}");
    assert!(
        panicked.stderr.contains("Kernel panic - not syncing"),
        "{panicked}"
    );
    assert_nothing_left(&project);

    // Not a kernel: QEMU refuses it and exits.
    let bogus = project.path().join("not-a-kernel");
    fs::write(&bogus, "this is no kernel\n").unwrap();
    for (bisect, code) in [(false, 122), (true, 125)] {
        let mut args = vec!["run", "--kernel", bogus.to_str().unwrap()];
        if bisect {
            args.push("--bisect");
        }
        args.extend(["--json", "demo", "--", "true"]);
        let failed = project.run(&args);
        assert_eq!(failed.code, code, "{failed}");
        let json = failed.json();
        assert_eq!(json["cause"], "qemu-failed", "{json}");
        assert!(
            json["error"].as_str().unwrap().starts_with("QEMU exited"),
            "{json}"
        );
        assert!(!json["qemu_tail"].as_array().unwrap().is_empty(), "{json}");
        assert!(
            failed.stderr.contains("last lines of the QEMU log"),
            "{failed}"
        );
    }
    assert_nothing_left(&project);

    // No sshd: the prompt comes, SSH never does.
    let never = project.run(&["run", "--append", "qcmdr.nosshd", "demo", "--", "true"]);
    assert_eq!(never.code, 120, "{never}");
    assert!(
        never.stderr.contains("last lines of the serial log"),
        "{never}"
    );
    assert_nothing_left(&project);
}
