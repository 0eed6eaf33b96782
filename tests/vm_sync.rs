//! File sync with the rsync engine on the real guest: start, flush, status, watch.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{wait_until, KillOnDrop, Project, VmSpec};

/// Writes `files` (relative path → contents) below `root`.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
}

/// Every file below `dir` in the guest, relative and sorted.
fn guest_files(project: &Project, dir: &str) -> Vec<String> {
    let listing = project.ok(&[
        "exec",
        "demo",
        "sh",
        "-c",
        &format!("cd {dir} && find . -type f | sort"),
    ]);
    listing.stdout.lines().map(str::to_string).collect()
}

fn guest_read(project: &Project, path: &str) -> Option<String> {
    let run = project.run(&["exec", "demo", "sh", "-c", &format!("cat {path}")]);
    (run.code == 0).then_some(run.stdout)
}

/// A project whose VM syncs `<project>/src` to `~/dst dir` with rsync; `extra_entry` adds
/// fields to the entry.
pub fn rsync_project(extra_entry: &str) -> (Project, PathBuf) {
    let mut project = Project::with_top_level(vec![VmSpec::new("demo")], "");
    let source = project.path().join("src");
    fs::create_dir(&source).unwrap();
    project.vms[0] = project.vms[0].clone().extra(&format!(
        r#"sync = {{ {{ source = {:?}, dest = "~/dst dir", {extra_entry} }} }},"#,
        source.to_str().unwrap()
    ));
    project.write_config(r#"sync_engine = "rsync","#);
    (project, source)
}

#[test]
fn vm_rsync_mirrors_on_start_and_flush_without_ignored_or_vcs_paths() {
    let (project, source) = rsync_project(r#"ignore = { "*.o", "skip me" }, ignore_vcs = true"#);
    write_tree(
        &source,
        &[
            ("a.txt", "a"),
            ("sub/b.txt", "b1"),
            ("sub/deep/c.txt", "c"),
            ("with space.txt", "s"),
            ("x.o", "object"),
            ("skip me/y.txt", "y"),
            (".git/config", "git"),
            ("sub/.hg/store", "hg"),
            ("CVS/Root", "cvs"),
        ],
    );
    let start = project.ok(&["start", "demo", "--json"]).json();
    let stages: Vec<&str> = start["vms"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["launch", "login", "ssh", "sync"]);
    // `~` is the guest user's home; the CONTENTS of source are in dest.
    let expected = [
        "./a.txt",
        "./sub/b.txt",
        "./sub/deep/c.txt",
        "./with space.txt",
    ];
    assert_eq!(guest_files(&project, "/root/'dst dir'"), expected);

    // A local deletion and a change arrive with the next flush.
    fs::remove_file(source.join("a.txt")).unwrap();
    fs::write(source.join("sub/b.txt"), "b2").unwrap();
    let flush = project.ok(&["sync", "flush", "demo"]);
    assert!(flush.stderr.contains("demo: synced in"), "{flush}");
    assert_eq!(
        guest_files(&project, "/root/'dst dir'"),
        expected[1..].to_vec()
    );
    assert_eq!(
        guest_read(&project, "/root/'dst dir'/sub/b.txt").as_deref(),
        Some("b2")
    );

    let status = project.ok(&["sync", "status", "--json"]).json();
    assert_eq!(status["schema"], "qcmdr.sync-status/1");
    let entry = &status["vms"][0]["entries"][0];
    assert_eq!(entry["engine"], "rsync", "{status}");
    assert_eq!(entry["state"], "synced", "{status}");
    assert_eq!(entry["last_run"]["ok"], true, "{status}");
    assert_eq!(entry["problems"], serde_json::json!([]), "{status}");
    assert_eq!(entry["remote"], "demo:~/dst dir");
    let text = project.ok(&["sync", "status", "demo"]);
    assert!(text.stdout.contains("sync[1]  rsync"), "{text}");

    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_rsync_watch_follows_changes_until_interrupted_or_the_vm_stops() {
    let (project, source) = rsync_project("");
    write_tree(&source, &[("first.txt", "1")]);
    project.ok(&["start", "demo"]);

    let watch = |log: &str| {
        let log = project.path().join(log);
        let child = project
            .command(&["sync", "watch", "demo"])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let said = move || fs::read_to_string(&log).unwrap_or_default();
        assert!(
            wait_until(Duration::from_secs(30), || said()
                .contains("synced sync[1]")),
            "no initial sync: {}",
            said()
        );
        (KillOnDrop(child), said)
    };

    let (mut child, said) = watch("watch1.log");
    let changed = Instant::now();
    write_tree(&source, &[("later/new.txt", "fresh")]);
    let arrived = wait_until(Duration::from_secs(10), || {
        guest_read(&project, "'/root/dst dir/later/new.txt'").as_deref() == Some("fresh")
    });
    assert!(arrived, "change not propagated: {}", said());
    assert!(
        changed.elapsed() < Duration::from_secs(5),
        "took {:?}",
        changed.elapsed()
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.0.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", said());
    assert!(said().contains("demo: watch ended"), "{}", said());

    // Stopping the VM ends a watch by itself.
    let (mut child, said) = watch("watch2.log");
    project.ok(&["stop", "demo"]);
    let ended = wait_until(Duration::from_secs(10), || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(ended, "watch still running after stop: {}", said());
    assert_eq!(child.0.wait().unwrap().code(), Some(0), "{}", said());
    assert!(said().contains("the VM stopped; watch ended"), "{}", said());
}
