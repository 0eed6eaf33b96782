//! Image builds that fail or are interrupted, without a real build: a `cloud` image whose
//! file does not match its `sha256` (refused before anything runs), and a fake `mmdebstrap`
//! on PATH that announces itself and blocks until Ctrl-C.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};

use crate::support::{
    alive, free_port, processes_mentioning, signal_and_collect, wait_until, CliTest, KillOnDrop,
};

/// What is left in the image cache, sorted (the build locks are meant to stay).
fn cache_entries(images: &Path) -> Vec<String> {
    let mut left: Vec<String> = fs::read_dir(images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    left.sort();
    left
}

#[test]
fn start_json_reports_a_failed_image_build_as_that_vms_failure_and_launches_nothing() {
    let (port, other_port) = (free_port(), free_port());
    let test = CliTest::with_config(&format!(
        r#"return {{
  images = {{ bad = {{ builder = "cloud", file = "base.img", sha256 = "{zeros}" }} }},
  vms = {{
    {{ name = "dev", arch = "x86_64", image = "bad", ssh = {{ Port = {port} }}, args = {{ "-m 256" }} }},
    {{ name = "plain", arch = "x86_64", args = {{ "-m 256" }},
      ssh = {{ Port = {other_port}, User = "root", IdentityFile = "no_such_key" }} }},
  }},
}}
"#,
        zeros = "0".repeat(64)
    ));
    fs::write(
        test.path().join("base.img"),
        "not the file the config expects",
    )
    .unwrap();
    let cache = test.path().join("cache");
    let start = |args: &[&str]| test.cmd(args).env("XDG_CACHE_HOME", &cache).code(1);

    let doc = start(&["start", "dev", "plain", "--json"]).json();
    assert_eq!(doc["schema"], "qcmdr.start/1", "{doc}");
    let dev = &doc["vms"][0];
    assert_eq!(
        (&dev["name"], &dev["ok"]),
        (&"dev".into(), &false.into()),
        "{doc}"
    );
    let error = dev["error"].as_str().unwrap();
    assert!(error.starts_with(r#"image "bad": "#), "{error}");
    assert!(error.contains("has SHA-256"), "{error}");
    assert!(
        error.contains(&format!("the config expects {}", "0".repeat(64))),
        "{error}"
    );
    assert_eq!(dev["kept_running_pid"], serde_json::Value::Null);
    // The other VM was started as always, and failed for its own reason.
    let plain = &doc["vms"][1];
    assert_eq!(
        (&plain["name"], &plain["ok"]),
        (&"plain".into(), &false.into()),
        "{doc}"
    );
    let error = plain["error"].as_str().unwrap();
    assert!(
        error.contains("IdentityFile") && !error.contains("image"),
        "{error}"
    );

    // The same words for a person.
    start(&["start", "dev"])
        .stderr_has(r#"dev: image "bad": "#)
        .stderr_has("has SHA-256")
        .stderr_has("nothing was kept of the build")
        .run();

    // No QEMU: no process of this folder, nothing in the VM's folder that a launch writes.
    assert_eq!(processes_mentioning(test.path()), Vec::<i32>::new());
    let vm_dir = test.path().join(".qcmdr/vm/dev");
    for file in ["qemu.pid", "qemu.log", "serial.log"] {
        assert!(
            !vm_dir.join(file).exists(),
            "{file} exists: QEMU was launched"
        );
    }
    assert_eq!(
        cache_entries(&cache.join("qcmdr/images")),
        ["bad.failed.log"]
    );
}

/// The fake mmdebstrap: writes its PID and its child's into `started`, then waits.
fn fake_mmdebstrap(bin: &Path, started: &Path) {
    fs::create_dir_all(bin).unwrap();
    let script = bin.join("mmdebstrap");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 3600 &\necho \"$$ $!\" > {0}.tmp && mv {0}.tmp {0}\nwait\n",
            started.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The fake's processes, killed when the test ends however it ends.
struct FakeProcesses(PathBuf);

impl FakeProcesses {
    fn pids(&self) -> Vec<i32> {
        fs::read_to_string(&self.0)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }
}

impl Drop for FakeProcesses {
    fn drop(&mut self) {
        for pid in self.pids().into_iter().filter(|pid| alive(*pid)) {
            let _ = kill_process(Pid::from_raw(pid).unwrap(), Signal::KILL);
        }
    }
}

#[test]
fn an_interrupted_image_build_exits_130_and_leaves_no_build_folder_and_no_tool() {
    interrupt_build(&["image", "build", "box"], Signal::INT);
}

#[test]
fn a_build_inside_start_ended_by_sigterm_exits_130_and_leaves_nothing() {
    interrupt_build(&["start", "dev"], Signal::TERM);
}

/// Runs `args` (which build image `box` through the fake mmdebstrap), sends `signal` to qcmdr
/// once the fake runs, and checks what is left: one line, exit 130, no build folder, no fake.
fn interrupt_build(args: &[&str], signal: Signal) {
    let test = CliTest::with_config(&format!(
        r#"return {{
  images = {{ box = {{ builder = "debian", packages = {{ "hello" }} }} }},
  vms = {{ {{ name = "dev", arch = "x86_64", image = "box", ssh = {{ Port = {} }}, args = {{ "-m 256" }} }} }},
}}
"#,
        free_port()
    ));
    let (bin, started) = (
        test.path().join("bin"),
        test.path().join("mmdebstrap.started"),
    );
    fake_mmdebstrap(&bin, &started);
    let cache = test.path().join("cache");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut qcmdr = KillOnDrop(
        test.cmd(args)
            .env("XDG_CACHE_HOME", &cache)
            .env("PATH", path)
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let fake = FakeProcesses(started.clone());
    assert!(
        wait_until(Duration::from_secs(60), || started.exists()),
        "the fake mmdebstrap never ran"
    );
    let images = cache.join("qcmdr/images");
    assert!(
        cache_entries(&images)
            .iter()
            .any(|e| e.starts_with(".build-")),
        "no build folder to clean up: {:?}",
        cache_entries(&images)
    );

    let (code, stderr) = signal_and_collect(&mut qcmdr, signal, &format!("qcmdr {args:?}"));
    assert_eq!(code, Some(130), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("interrupted"))
        .collect();
    assert_eq!(
        said,
        [r#"error: image "box": build interrupted; nothing was kept"#],
        "{stderr}"
    );
    assert_eq!(cache_entries(&images), Vec::<String>::new(), "{stderr}");
    assert!(
        !test.path().join(".qcmdr/vm/dev/qemu.log").exists(),
        "QEMU was launched"
    );
    let pids = fake.pids();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(
        wait_until(Duration::from_secs(10), || !pids.iter().any(|p| alive(*p))),
        "the fake mmdebstrap or its child outlived qcmdr: {pids:?}"
    );
}
