//! The readiness race of `start`: SSH is tried alongside the boot, so ready follows whichever
//! of the login prompt and SSH comes last, and a refused key ends the start before the prompt.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Project, VmSpec};

/// `(started_at, at)` of each stage of the one VM in a `start --json` document.
fn stage_times(json: &serde_json::Value, stage: &str) -> (f64, f64) {
    let vm = &json["vms"][0];
    let mark = vm["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("no {stage} stage in {vm}"));
    (
        mark["started_at"].as_f64().unwrap(),
        mark["at"].as_f64().unwrap(),
    )
}

#[test]
fn vm_late_sshd_makes_ready_track_sshd_not_the_prompt() {
    const SSHD_DELAY_S: f64 = 6.0;
    let project = Project::new(vec![VmSpec::new("demo")
        .kernel_args(&format!("qcmdr.sshdelay={}", SSHD_DELAY_S as u32))
        .extra("ssh_timeout = 90,")]);
    let run = project.ok(&["start", "demo", "--json"]);
    let json = run.json();
    assert_eq!(json["vms"][0]["ok"], true, "{run}");
    let (login_started, login_at) = stage_times(&json, "login");
    let (ssh_started, ssh_at) = stage_times(&json, "ssh");
    assert!(
        ssh_started <= login_at,
        "SSH is tried while the guest boots:\n{run}"
    );
    assert!(login_started <= login_at && login_at < ssh_at, "{run}");
    // sshd starts SSHD_DELAY_S after the getty, which prints the prompt at once.
    assert!(
        ssh_at - login_at >= SSHD_DELAY_S,
        "ready must wait for sshd, {:.2} s after the prompt:\n{run}",
        ssh_at - login_at
    );
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["ssh"], "ok");
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_sshd_up_before_the_prompt_is_ready_right_after_the_prompt() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let run = project.ok(&["start", "demo", "--json"]);
    let json = run.json();
    assert_eq!(json["vms"][0]["ok"], true, "{run}");
    let (_, launch_at) = stage_times(&json, "launch");
    let (_, login_at) = stage_times(&json, "login");
    let (ssh_started, ssh_at) = stage_times(&json, "ssh");
    assert!(
        ssh_started <= launch_at + 0.5 && ssh_started < login_at,
        "SSH begins with the pidfile, not after the prompt:\n{run}"
    );
    // The tight figure is bench/bench.py's; this bound only holds on a loaded machine too.
    assert!(
        (ssh_at - login_at).abs() < 3.0,
        "SSH ready {:.2} s after the prompt:\n{run}",
        ssh_at - login_at
    );
    // Once the canary said the network is up, the login was the first connection to sshd:
    // no sshd process was spent on a probe that never logged in.
    let probing = &json["vms"][0]["ssh_probing"];
    assert_eq!(probing["sshd_probes"], 0, "{run}");
    assert!(probing["canary_probes"].as_u64().unwrap() >= 1, "{run}");
    let log = project
        .ok(&["ssh", "demo", "--", "cat", "/var/log/sshd.log"])
        .stdout;
    assert!(
        !log.contains("kex_exchange_identification"),
        "a connection to sshd that never logged in:\n{log}"
    );
    project.ok(&["ssh", "demo", "true"]);
    project.ok(&["stop", "demo"]);
}

/// `wait_for = "login-then-ssh"`: nothing reaches for the guest before its prompt; SSH
/// begins there, and its canary (the network is up by then) makes the login the first
/// connection to sshd.
#[test]
fn vm_login_then_ssh_begins_ssh_at_the_prompt() {
    let project = Project::new(vec![
        VmSpec::new("demo").extra("wait_for = \"login-then-ssh\",")
    ]);
    let show = project.ok(&["show", "demo", "--json"]).json();
    assert_eq!(show["wait_for"], "login-then-ssh");
    let run = project.ok(&["start", "demo", "--json"]);
    let json = run.json();
    assert_eq!(json["vms"][0]["ok"], true, "{run}");
    let (_, login_at) = stage_times(&json, "login");
    let (ssh_started, ssh_at) = stage_times(&json, "ssh");
    assert!(
        ssh_started >= login_at && ssh_at > ssh_started,
        "SSH begins at the prompt:\n{run}"
    );
    let probing = &json["vms"][0]["ssh_probing"];
    assert_eq!(probing["logins"], 1, "{run}");
    assert_eq!(probing["sshd_probes"], 0, "{run}");
    assert!(
        probing["login_began_at"].as_f64().unwrap() >= login_at,
        "{run}"
    );
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["ssh"], "ok");
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_refused_key_before_the_prompt_fails_fast() {
    let project = Project::new(vec![]);
    let key = project.path().join("stranger_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(keygen.success());
    // No prompt ever comes: only the SSH side can end this start before login_timeout.
    let spec = VmSpec::new("demo")
        .identity(&key)
        .kernel_args("qcmdr.noprompt")
        .extra("login_timeout = 100,");
    project.write_named_config("conf.lua", &[spec], "");
    let started = Instant::now();
    let run = project.run(&["start", "demo", "--json"]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("SSH login refused") && run.stderr.contains("Permission denied"),
        "{run}"
    );
    assert!(!run.stderr.contains("no login prompt"), "{run}");
    assert!(
        took < Duration::from_secs(60),
        "a refusal is final, not waited out until login_timeout (took {took:?})"
    );
    let json = run.json();
    assert_eq!(json["vms"][0]["ok"], false);
    assert!(json["vms"][0]["error"]
        .as_str()
        .unwrap()
        .contains("Permission denied"));
    assert!(project.own_processes().is_empty(), "the VM was stopped");
    assert!(!project.vm_dir("demo").join("qemu.pid").exists());
}

/// A guest whose network comes up late (DHCP taking its time): QEMU's user network holds
/// every connection made to a forwarded port before that (`TCP[SYN_SENT]` in `info usernet`),
/// retries it for up to 75 s and replays it to the guest, so probing sshd's port early would
/// reach sshd later as connections nobody uses (on a Debian guest enough of them fill sshd's
/// `MaxStartups` and it drops the real login). Probes go to a canary forward until the guest
/// answers: when `start` returns no connection to sshd's port is held, and the canary is gone.
#[test]
fn vm_late_network_leaves_no_probe_of_sshd_to_be_replayed() {
    let project = Project::new(vec![VmSpec::new("demo").kernel_args("qcmdr.netdelay=5")]);
    let run = project.ok(&["start", "demo", "--json"]);
    assert_eq!(run.json()["vms"][0]["ok"], true, "{run}");
    let usernet = project.ok(&["monitor", "demo", "info usernet"]).stdout;
    let held_for_sshd: Vec<&str> = usernet
        .lines()
        .filter(|line| line.contains("SYN_SENT") && line.split_whitespace().nth(5) == Some("22"))
        .collect();
    assert!(
        held_for_sshd.is_empty(),
        "probes of sshd held by QEMU, to be replayed to sshd:\n{usernet}"
    );
    let forwards = usernet.matches("HOST_FORWARD").count();
    assert_eq!(forwards, 1, "only the SSH forward is left:\n{usernet}");
    let log = project
        .ok(&["ssh", "demo", "--", "cat", "/var/log/sshd.log"])
        .stdout;
    assert!(log.contains("Accepted publickey"), "{log}");
    project.ok(&["stop", "demo"]);
}
