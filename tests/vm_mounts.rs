//! `mounts` on the real guest: host folders live over virtiofs (a real virtiofsd per mount),
//! both ways, read-only refused in the guest, a large tree's `git status`, status and
//! snapshot save, and no daemon left after stop, QEMU's death or a SIGKILLed qcmdr.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{alive, wait_until, KillOnDrop, Project, VmSpec};

/// A project whose VM mounts `<project>/share` at /src/share and `<project>/ro` read-only
/// at /src/ro.
fn mount_project() -> (Project, PathBuf, PathBuf) {
    let mut project = Project::new(vec![VmSpec::new("demo")]);
    let share = project.path().join("share");
    let readonly = project.path().join("ro");
    fs::create_dir(&share).unwrap();
    fs::create_dir(&readonly).unwrap();
    project.vms[0] = project.vms[0].clone().extra(&format!(
        r#"mounts = {{ {{ source = {:?}, dest = "/src/share" }}, {{ source = {:?}, dest = "/src/ro", readonly = true }} }},"#,
        share.to_str().unwrap(),
        readonly.to_str().unwrap()
    ));
    project.write_config("");
    (project, share, readonly)
}

/// PIDs of this project's live virtiofsd processes (as root, each daemon is two: its
/// sandbox runs in a child).
fn daemons(project: &Project) -> Vec<i32> {
    crate::support::processes_mentioning(project.path())
        .into_iter()
        .filter(|pid| alive(*pid) && is_virtiofsd(*pid))
        .collect()
}

fn is_virtiofsd(pid: i32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("virtiofsd"))
        .unwrap_or(false)
}

/// The daemons qcmdr started (not their sandbox children).
fn daemon_leaders(project: &Project) -> Vec<i32> {
    daemons(project)
        .into_iter()
        .filter(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].split(' ').nth(1))
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            !is_virtiofsd(ppid)
        })
        .collect()
}

fn guest(project: &Project, script: &str) -> crate::support::Run {
    project.run(&["exec", "demo", "sh", "-c", script])
}

#[test]
fn vm_mounts_are_live_both_ways_readonly_in_the_guest_and_end_with_stop() {
    let (project, share, readonly) = mount_project();
    fs::write(share.join("before.txt"), "written before start\n").unwrap();
    fs::write(readonly.join("keep.txt"), "read me\n").unwrap();
    project.ok(&["start", "demo"]);
    assert_eq!(daemon_leaders(&project).len(), 2, "one virtiofsd per mount");

    // Host to guest, also after the start (live, no sync step).
    let read = guest(&project, "cat /src/share/before.txt");
    assert_eq!(read.stdout, "written before start\n", "{read}");
    fs::write(share.join("after.txt"), "written while running\n").unwrap();
    let read = guest(&project, "cat /src/share/after.txt");
    assert_eq!(read.stdout, "written while running\n", "{read}");
    // Guest to host.
    let write = guest(
        &project,
        "echo from the guest > /src/share/guest.txt && sync",
    );
    assert_eq!(write.code, 0, "{write}");
    assert_eq!(
        fs::read_to_string(share.join("guest.txt")).unwrap(),
        "from the guest\n"
    );

    // Read-only: readable, and a write is refused by the guest's kernel.
    let read = guest(&project, "cat /src/ro/keep.txt");
    assert_eq!(read.stdout, "read me\n", "{read}");
    let write = guest(&project, "echo x > /src/ro/new.txt");
    assert_ne!(write.code, 0, "{write}");
    assert!(write.stderr.contains("Read-only file system"), "{write}");
    assert!(!readonly.join("new.txt").exists());
    let mounts = guest(&project, "grep virtiofs /proc/mounts");
    assert!(
        mounts.stdout.contains("qcmdr1 /src/share virtiofs rw"),
        "{mounts}"
    );
    assert!(
        mounts.stdout.contains("qcmdr2 /src/ro virtiofs ro"),
        "{mounts}"
    );

    // status: each mount and its daemon.
    let status = project.ok(&["status", "demo"]);
    let share_text = share.display().to_string();
    assert!(
        status.stdout.contains(&format!(
            "mount {share_text} -> /src/share (rw, qcmdr1): virtiofsd running (pid"
        )),
        "{status}"
    );
    let json = project.ok(&["status", "demo", "--json"]).json();
    let mounts = json["vms"][0]["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[1]["dest"], "/src/ro");
    assert_eq!(mounts[1]["readonly"], true);
    assert_eq!(mounts[0]["daemon"], "running");
    let pid = mounts[0]["daemon_pid"].as_i64().unwrap() as i32;
    assert!(daemon_leaders(&project).contains(&pid));

    // A snapshot cannot hold a virtiofs device: refused up front, the VM untouched.
    project
        .cmd(&["snapshot", "save", "demo", "s1"])
        .code(1)
        .stderr_has(r#"the VM runs with mount "qcmdr1""#)
        .run();
    let read = guest(&project, "cat /src/share/after.txt");
    assert_eq!(read.code, 0, "the VM still runs: {read}");

    project.ok(&["stop", "demo"]);
    assert_eq!(daemons(&project), Vec::<i32>::new());
    let vm_dir = project.vm_dir("demo");
    assert!(!vm_dir.join("virtiofsd-qcmdr1.pid").exists());
    assert!(!vm_dir.join("qcmdr1.sock").exists());
    assert!(
        !vm_dir.join("qcmdr1.sock.pid").exists(),
        "virtiofsd's own lock file"
    );
    let json = project.ok(&["status", "demo", "--json"]).json();
    assert_eq!(json["vms"][0]["mounts"][0]["daemon"], "stopped");
}

#[test]
fn vm_mounts_git_status_and_find_of_a_large_host_tree_in_the_guest() {
    let (project, share, _) = mount_project();
    let tree = share.join("repo");
    for dir in 0..40 {
        let dir_path = tree.join(format!("d{dir}"));
        fs::create_dir_all(&dir_path).unwrap();
        for file in 0..50 {
            fs::write(
                dir_path.join(format!("f{file}.c")),
                format!("{dir}/{file}\n"),
            )
            .unwrap();
        }
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&tree)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "tree"]);
    fs::write(tree.join("d7/f3.c"), "changed on the host\n").unwrap();

    project.ok(&["start", "demo"]);
    let count = guest(&project, "find /src/share/repo/d* -type f | wc -l");
    assert_eq!(count.stdout.trim(), "2000", "{count}");
    let status = guest(
        &project,
        "cd /src/share/repo && git -c safe.directory='*' status --porcelain",
    );
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(status.stdout, " M d7/f3.c\n", "{status}");
}

#[test]
fn vm_mounts_daemons_end_when_qemu_dies_and_after_a_sigkilled_start() {
    let (project, _, _) = mount_project();
    project.ok(&["start", "demo"]);
    assert_eq!(daemon_leaders(&project).len(), 2);
    let qemu = project.pid("demo").unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(qemu).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    // virtiofsd ends itself when its QEMU disconnects: nothing needs to run for that.
    assert!(
        wait_until(Duration::from_secs(20), || daemons(&project).is_empty()),
        "virtiofsd outlived its QEMU: {:?}",
        daemons(&project)
    );
    let status = project.ok(&["status", "demo", "--json"]).json();
    assert_ne!(status["vms"][0]["mounts"][0]["daemon"], "running");

    // qcmdr SIGKILLed in the middle of a start: whatever it left is ended by the next stop.
    let mut start = KillOnDrop(project.command(&["start", "demo"]).spawn().unwrap());
    let pidfile = project.vm_dir("demo").join("qemu.pid");
    assert!(wait_until(Duration::from_secs(60), || pidfile.exists()));
    start.0.kill().unwrap();
    start.0.wait().unwrap();
    project.ok(&["stop", "demo", "--force"]);
    assert_eq!(daemons(&project), Vec::<i32>::new());
    assert!(project.pid("demo").is_none());
}

#[test]
fn vm_mounts_missing_source_is_refused_before_anything_runs() {
    let (project, share, _) = mount_project();
    fs::remove_dir(&share).unwrap();
    project
        .cmd(&["start", "demo"])
        .code(1)
        .stderr_has(format!(
            "VM \"demo\": mounts[1].source: {} is not a folder on this machine",
            share.display()
        ))
        .stderr_has("nothing was launched")
        .run();
    assert_eq!(daemons(&project), Vec::<i32>::new());
    assert!(project.pid("demo").is_none());
    let check = project.run(&["check"]);
    assert!(
        check.stderr.contains("mounts[1].source") || check.stdout.contains("mounts[1].source"),
        "{check}"
    );
}

#[test]
fn vm_mounts_start_from_a_snapshot_is_refused_up_front() {
    let (project, _, _) = mount_project();
    project
        .cmd(&["start", "demo", "--from", "base"])
        .code(1)
        .stderr_has(r#"the VM has mounts (its mount "qcmdr1" on /src/share); a saved state cannot hold a virtiofs device"#)
        .run();
    assert_eq!(daemons(&project), Vec::<i32>::new());
    assert!(project.pid("demo").is_none());
}
