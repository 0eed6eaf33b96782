//! The Mutagen engine against `tests/fakes/mutagen`, a double of Mutagen's command line that
//! follows the project's contract note (validation, exit codes, selectors, daemon, JSON) and
//! really connects to the guest through the private ssh/scp wrappers. The VM is real.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{alive, wait_until, Project, Run, VmSpec};
use crate::vm_sync::write_tree;

/// The double, first on PATH, logging every call.
pub(crate) struct Fake {
    pub(crate) bin: PathBuf,
    log: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) argv: Vec<String>,
    env: BTreeMap<String, Option<String>>,
    exit: i64,
}

impl Fake {
    pub(crate) fn new(project: &Project) -> Self {
        let bin = project.path().join("fakebin");
        fs::create_dir_all(&bin).unwrap();
        let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/mutagen");
        std::os::unix::fs::symlink(double, bin.join("mutagen")).unwrap();
        Fake {
            bin,
            log: project.path().join("mutagen-calls.jsonl"),
        }
    }

    /// `qcmdr ARGS` with the double on PATH, and a MUTAGEN_PROMPTER that must never reach it.
    pub(crate) fn command(&self, project: &Project, args: &[&str]) -> Command {
        let path = std::env::join_paths(
            std::iter::once(self.bin.clone())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let mut command = project.command(args);
        command
            .env("PATH", path)
            .env("FAKE_MUTAGEN_LOG", &self.log)
            .env("MUTAGEN_PROMPTER", "/bin/false");
        command
    }

    pub(crate) fn run(&self, project: &Project, args: &[&str]) -> Run {
        Run::of(self.command(project, args).output().unwrap())
    }

    pub(crate) fn ok(&self, project: &Project, args: &[&str]) -> Run {
        let run = self.run(project, args);
        assert_eq!(run.code, 0, "qcmdr {args:?} failed:\n{run}");
        run
    }

    /// The calls since the last `take_calls`.
    pub(crate) fn take_calls(&self) -> Vec<Call> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let _ = fs::remove_file(&self.log);
        text.lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap();
                Call {
                    argv: serde_json::from_value(value["argv"].clone()).unwrap(),
                    env: serde_json::from_value(value["env"].clone()).unwrap(),
                    exit: value["exit"].as_i64().unwrap(),
                }
            })
            .collect()
    }
}

fn data_dir(project: &Project) -> PathBuf {
    project.state().join("mutagen/data")
}

/// The sessions the double holds, as `sync list --template '{{ json . }}'` shows them.
pub(crate) fn sessions(project: &Project) -> Vec<Value> {
    fs::read_to_string(data_dir(project).join("fake-sessions.json"))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or_default()
}

fn daemon_running(project: &Project) -> bool {
    data_dir(project).join("daemon/daemon.lock").exists()
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Every call carries exactly the private environment, and nothing else reaches Mutagen.
fn assert_private_env(project: &Project, calls: &[Call]) {
    let expected: BTreeMap<String, Option<String>> = [
        (
            "MUTAGEN_DATA_DIRECTORY",
            Some(data_dir(project).display().to_string()),
        ),
        (
            "MUTAGEN_SSH_PATH",
            Some(project.state().join("mutagen/ssh").display().to_string()),
        ),
        ("MUTAGEN_PROMPTER", None),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for call in calls {
        assert_eq!(call.env, expected, "{call:?}");
    }
}

/// Two entries: a with every option (and awkward patterns), b plain in another mode.
fn two_entry_project() -> (Project, PathBuf, PathBuf) {
    let mut project = Project::new(vec![VmSpec::new("demo")]);
    let (a, b) = (project.path().join("src a"), project.path().join("src-b"));
    write_tree(&a, &[("x.txt", "x")]);
    write_tree(&b, &[("y.txt", "y")]);
    project.vms[0] = project.vms[0].clone().extra(&format!(
        r#"sync = {{
          {{ source = {a:?}, dest = "~/a", ignore_vcs = true,
             ignore = {{ "venv", "*.o", "build dir", "a,b", 'say "hi"' }} }},
          {{ source = {b:?}, dest = "/root/b dir", mode = "two-way-safe" }},
        }},"#,
        a = a.to_str().unwrap(),
        b = b.to_str().unwrap(),
    ));
    project.write_config("");
    (project, a, b)
}

fn create_argv(a: &Path, b: &Path) -> [Vec<String>; 2] {
    let mut first = words(
        "sync create --no-global-configuration --name demo-0 --label qcmdr.vm=demo \
         -m one-way-replica --ignore-vcs --ignore=venv --ignore=*.o",
    );
    first.extend(
        [
            "--ignore=build dir",
            "--ignore=\"a,b\"",
            "--ignore=\"say \"\"hi\"\"\"",
            a.to_str().unwrap(),
            "demo:~/a",
        ]
        .map(str::to_string),
    );
    let mut second = words(
        "sync create --no-global-configuration --name demo-1 --label qcmdr.vm=demo -m two-way-safe",
    );
    second.extend([b.to_str().unwrap(), "demo:/root/b dir"].map(str::to_string));
    [first, second]
}

#[test]
fn vm_mutagen_sessions_follow_the_vm_with_exact_calls() {
    let (project, a, b) = two_entry_project();
    let fake = Fake::new(&project);

    // --no-sync: Mutagen is never called; status says what is missing; flush creates them.
    fake.ok(&project, &["start", "demo", "--no-sync"]);
    assert_eq!(fake.take_calls(), []);
    let status = fake.ok(&project, &["sync", "status", "--json"]).json();
    let entry = &status["vms"][0]["entries"][0];
    assert_eq!(entry["state"], "no-session", "{status}");
    assert!(entry["problems"][0].as_str().unwrap().contains("--no-sync"));
    fake.take_calls();
    fake.ok(&project, &["sync", "flush", "demo"]);
    assert_eq!(sessions(&project).len(), 2);
    fake.ok(&project, &["stop", "demo"]);
    assert_eq!(sessions(&project), Vec::<Value>::new());
    fake.take_calls();

    // A full start: terminate-by-selector, one create per entry, flush retried while the new
    // sessions are "not currently able to synchronize" (each once in the double, and like
    // Mutagen's daemon it stops at the first session that cannot).
    let start = fake.ok(&project, &["start", "demo"]);
    assert!(
        start.stderr.contains("sync "),
        "the sync stage is shown: {start}"
    );
    let calls = fake.take_calls();
    let selector = words("--label-selector qcmdr.vm=demo");
    let argv: Vec<Vec<String>> = calls.iter().map(|c| c.argv.clone()).collect();
    let [create0, create1] = create_argv(&a, &b);
    let terminate = [words("sync terminate"), selector.clone()].concat();
    let flush = [words("sync flush"), selector.clone()].concat();
    assert_eq!(
        argv,
        [
            terminate.clone(),
            create0,
            create1,
            flush.clone(),
            flush.clone(),
            flush.clone()
        ]
    );
    assert_eq!(
        calls.iter().map(|c| c.exit).collect::<Vec<_>>(),
        [0, 0, 0, 1, 1, 0]
    );
    assert_private_env(&project, &calls);

    // Each pattern arrived as one pattern: spaces, commas and quotes included.
    let held = sessions(&project);
    assert_eq!(held.len(), 2);
    assert_eq!(
        held[0]["ignore"]["paths"],
        serde_json::json!(["venv", "*.o", "build dir", "a,b", "say \"hi\""])
    );
    assert_eq!(held[0]["ignore"]["vcs"], true);
    assert_eq!(held[0]["labels"]["qcmdr.vm"], "demo");
    assert_eq!(held[1]["beta"]["path"], "/root/b dir");
    assert_eq!(held[1]["ignore"]["paths"], serde_json::json!([]));
    // The double reached the guest through the private ssh and scp wrappers.
    project.ok(&["exec", "demo", "test", "-f", "/root/.fake-mutagen-agent"]);

    // Starting a running VM changes nothing.
    fake.ok(&project, &["start", "demo"]);
    assert_eq!(fake.take_calls(), []);

    // status reads Mutagen's JSON.
    let status = fake
        .ok(&project, &["sync", "status", "demo", "--json"])
        .json();
    let entries = status["vms"][0]["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        assert_eq!(entry["engine"], "mutagen");
        assert_eq!(entry["state"], "watching", "{status}");
        assert_eq!(entry["problems"], serde_json::json!([]), "{status}");
    }
    assert_eq!(entries[1]["session"]["name"], "demo-1");
    let calls = fake.take_calls();
    assert_eq!(
        calls[0].argv,
        [
            words("sync list"),
            selector.clone(),
            vec!["--template".into(), "{{ json . }}".into()]
        ]
        .concat()
    );
    assert_private_env(&project, &calls);

    // `qcmdr mutagen`: arguments untouched, private environment, exit code passed through.
    let listed = fake.ok(
        &project,
        &[
            "mutagen",
            "sync",
            "list",
            "--label-selector",
            "qcmdr.vm=demo",
        ],
    );
    assert!(listed.stdout.contains("Name: demo-0"), "{listed}");
    let missing = fake.run(&project, &["mutagen", "sync", "terminate", "no-such"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing.stderr.contains("Error: unable to locate"),
        "{missing}"
    );
    let calls = fake.take_calls();
    assert_eq!(
        calls[0].argv,
        words("sync list --label-selector qcmdr.vm=demo")
    );
    assert_eq!(calls[1].argv, words("sync terminate no-such"));
    assert_private_env(&project, &calls);

    // stop: sessions end before the shutdown, then the private daemon stops.
    assert!(daemon_running(&project));
    fake.ok(&project, &["stop", "demo"]);
    let calls = fake.take_calls();
    let argv: Vec<Vec<String>> = calls.iter().map(|c| c.argv.clone()).collect();
    assert_eq!(argv, [terminate, words("daemon stop")]);
    assert_private_env(&project, &calls);
    assert_eq!(sessions(&project), Vec::<Value>::new());
    assert!(!daemon_running(&project));
}

/// SIGKILLs the VM's QEMU: the guest is gone without any shutdown.
fn kill_qemu(project: &Project) {
    let pid = project.pid("demo").unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || !alive(pid)));
}

#[test]
fn vm_mutagen_restart_after_a_crash_leaves_no_duplicates_and_stop_cleans_up_a_dead_guest() {
    let (project, _, _) = two_entry_project();
    let fake = Fake::new(&project);
    fake.ok(&project, &["start", "demo"]);
    let first: Vec<Value> = sessions(&project);
    assert_eq!(first.len(), 2, "{:?}", fake.take_calls());
    kill_qemu(&project);

    // The crashed run's sessions are still there; the next start replaces them.
    assert_eq!(sessions(&project).len(), 2);
    fake.take_calls();
    fake.ok(&project, &["start", "demo"]);
    let held = sessions(&project);
    let names: Vec<&str> = held.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["demo-0", "demo-1"]);
    assert_ne!(held[0]["identifier"], first[0]["identifier"]);
    assert_eq!(
        fake.take_calls()[0].argv,
        words("sync terminate --label-selector qcmdr.vm=demo")
    );

    // The guest is gone (QEMU killed): stop still ends the sessions and the daemon.
    kill_qemu(&project);
    let stop = fake.ok(&project, &["stop", "demo"]);
    assert!(stop.stderr.contains("removed a stale pidfile"), "{stop}");
    let calls = fake.take_calls();
    let argv: Vec<Vec<String>> = calls.iter().map(|c| c.argv.clone()).collect();
    assert_eq!(
        argv,
        [
            words("sync terminate --label-selector qcmdr.vm=demo"),
            words("daemon stop")
        ]
    );
    assert_private_env(&project, &calls);
    assert_eq!(sessions(&project), Vec::<Value>::new());
    assert!(!daemon_running(&project));
}

#[test]
fn vm_mutagen_failed_create_rolls_back_and_stops_the_vm() {
    let (project, _, b) = two_entry_project();
    let fake = Fake::new(&project);
    let run = Run::of(
        fake.command(&project, &["start", "demo"])
            .env("FAKE_MUTAGEN_FAIL_CREATE", "demo-1")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    // Which entry, and what Mutagen said.
    let entry = format!("sync[2] ({} → demo:/root/b dir)", b.display());
    assert!(run.stderr.contains(&entry), "{run}");
    assert!(run.stderr.contains("injected by the test"), "{run}");
    assert!(run.stderr.contains("the VM was stopped"), "{run}");
    let calls = fake.take_calls();
    let argv: Vec<Vec<String>> = calls.iter().map(|c| c.argv[..2].to_vec()).collect();
    assert_eq!(
        argv,
        [
            words("sync terminate"),
            words("sync create"),
            words("sync create"),
            words("sync terminate"),
        ]
    );
    assert_eq!(calls[2].exit, 1);
    assert_private_env(&project, &calls);
    // demo-0 was created, then removed again.
    assert_eq!(sessions(&project), Vec::<Value>::new());
    assert!(project.own_processes().is_empty(), "QEMU left running");
}

#[test]
fn vm_missing_mutagen_is_reported_before_qemu_is_launched() {
    let (project, _, _) = two_entry_project();
    // PATH without any mutagen.
    let path = std::env::join_paths(
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .filter(|dir| !dir.join("mutagen").exists()),
    )
    .unwrap();
    let run = Run::of(
        project
            .command(&["start", "demo"])
            .env("PATH", path)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("Mutagen is not installed"), "{run}");
    assert!(run.stderr.contains("engine = \"rsync\""), "{run}");
    assert!(
        !project.vm_dir("demo").join("qemu.log").exists(),
        "QEMU was launched"
    );
    assert!(project.own_processes().is_empty());
}

#[test]
fn vm_mutagen_passthrough_keeps_the_daemon_socket_short_under_a_deep_state_dir() {
    let (project, _, _) = two_entry_project();
    let fake = Fake::new(&project);
    let deep = project
        .path()
        .join("a-rather-long-folder-name/".repeat(4))
        .join("state");
    let run = Run::of(
        fake.command(&project, &["mutagen", "sync", "list"])
            .env("QCMDR_STATE_DIR", &deep)
            .output()
            .unwrap(),
    );
    // The double refuses a socket path of 108 bytes or more, as Mutagen's daemon fails then.
    assert_eq!(run.code, 0, "{run}");
    let calls = fake.take_calls();
    let data = PathBuf::from(calls[0].env["MUTAGEN_DATA_DIRECTORY"].clone().unwrap());
    assert!(
        data.join("daemon/daemon.sock").as_os_str().len() < 108,
        "{data:?}"
    );
    assert_eq!(
        calls[0].env["MUTAGEN_SSH_PATH"].as_deref(),
        Some(deep.join("mutagen/ssh").to_str().unwrap())
    );
}

#[test]
fn vm_mutagen_failed_flush_rolls_back_and_keep_running_leaves_the_vm() {
    let (project, _, b) = two_entry_project();
    let fake = Fake::new(&project);
    let run = Run::of(
        fake.command(&project, &["start", "demo", "--keep-running"])
            .env("FAKE_MUTAGEN_FAIL_FLUSH", "demo-1")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    // The entry whose session could not sync is named, with what Mutagen said.
    let entry = format!("sync[2] ({} → demo:/root/b dir)", b.display());
    assert!(run.stderr.contains(&entry), "{run}");
    assert!(run.stderr.contains("not connected"), "{run}");
    // Both sessions just created are gone again; the VM was kept for a post-mortem.
    assert_eq!(sessions(&project), Vec::<Value>::new());
    assert!(run.stderr.contains("QEMU left running"), "{run}");
    let pid = project.pid("demo").expect("kept running");
    assert!(alive(pid));
    fake.ok(&project, &["stop", "demo"]);
    assert!(!alive(pid));
}
