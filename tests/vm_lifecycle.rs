//! start / stop / status / ssh / exec / scp on real QEMU with the real guest, including each
//! failure path a user can hit.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{alive, free_port, wait_until, Project, Run, VmSpec};

fn sockets_of(project: &Project, vm: &str) -> Vec<std::path::PathBuf> {
    let show = project.ok(&["show", vm, "--json"]).json();
    ["qmp_socket", "monitor_socket", "serial_socket"]
        .iter()
        .map(|k| show["paths"][k].as_str().unwrap().into())
        .collect()
}

#[test]
fn vm_full_cycle_start_reach_copy_status_stop() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let start = project.ok(&["start", "demo"]);
    assert!(start.stderr.contains("demo: ready in"), "{start}");
    assert!(
        start.stderr.contains("login") && start.stderr.contains("ssh"),
        "{start}"
    );
    let pid = project.pid("demo").expect("pidfile written");
    assert!(alive(pid));

    // Already running: said so, nothing else happens.
    let again = project.ok(&["start", "demo"]);
    assert!(
        again
            .stderr
            .contains(&format!("demo: already running (pid {pid})")),
        "{again}"
    );

    // ssh: exactly like `ssh -F config demo ARGS`, a remote command string through the shell.
    let ssh = project.ok(&["ssh", "demo", "echo $((6*7)) | tr 4 x"]);
    assert_eq!(ssh.stdout, "x2\n");
    let code = project.run(&["ssh", "demo", "exit 3"]);
    assert_eq!(code.code, 3, "{code}");

    // exec: argv preserved exactly, exit code passed through.
    let exec = project.ok(&["exec", "demo", "printf", "%s\\n", "a  b", "$HOME", "it's"]);
    assert_eq!(exec.stdout, "a  b\n$HOME\nit's\n");
    let failing = project.run(&["exec", "demo", "sh", "-c", "exit 7"]);
    assert_eq!(failing.code, 7, "{failing}");
    let piped = project.run_with_input(&["exec", "demo", "tr", "a-z", "A-Z"], b"streamed\n");
    assert_eq!(piped.stdout, "STREAMED\n", "{piped}");

    // scp round trip through the private config.
    let local = project.path().join("payload.txt");
    fs::write(&local, "round trip ✓\n").unwrap();
    project.ok(&["scp", local.to_str().unwrap(), "demo:/tmp/payload.txt"]);
    let back = project.path().join("back.txt");
    project.ok(&["scp", "demo:/tmp/payload.txt", back.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&back).unwrap(), "round trip ✓\n");

    // status: running, SSH ok, paths present.
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["schema"], "qcmdr.status/1");
    let vm = &status["vms"][0];
    assert_eq!(vm["state"], "running");
    assert_eq!(vm["ssh"], "ok");
    assert_eq!(vm["pid"], pid);
    assert!(vm["uptime_s"].as_f64().unwrap() > 0.0);
    let text = project.ok(&["status"]);
    assert!(
        text.stdout.contains("running") && text.stdout.contains(&pid.to_string()),
        "{text}"
    );
    let list = project.ok(&["list"]);
    assert!(list.stdout.contains("running"), "{list}");

    // stop: ended by the clean SSH step; process, pidfile and sockets gone; logs kept.
    let sockets = sockets_of(&project, "demo");
    let stop = project.ok(&["stop", "demo"]);
    assert!(
        stop.stderr.contains("demo: stopped in") && stop.stderr.contains("ssh-poweroff"),
        "{stop}"
    );
    assert!(!alive(pid), "QEMU {pid} still running after stop");
    assert!(!project.vm_dir("demo").join("qemu.pid").exists());
    for socket in sockets {
        assert!(!socket.exists(), "{socket:?} left behind");
    }
    let serial = fs::read_to_string(project.vm_dir("demo").join("serial.log")).unwrap();
    assert!(serial.contains("login:"), "serial log kept");
    assert!(
        project.vm_dir("demo").join("qemu.log").exists(),
        "QEMU log kept"
    );
    assert!(
        project.own_processes().is_empty(),
        "leftover processes: {:?}",
        project.own_processes()
    );

    // Stopping a stopped VM says so and succeeds; status says stopped.
    let again = project.ok(&["stop", "demo"]);
    assert!(again.stderr.contains("demo: not running"), "{again}");
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "stopped");
    assert_eq!(status["vms"][0]["ssh"], "n/a");
}

#[test]
fn vm_start_json_reports_stage_timestamps_and_restart_keeps_previous_serial_log() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let started = project.ok(&["start", "demo", "--json"]).json();
    assert_eq!(started["schema"], "qcmdr.start/1");
    let vm = &started["vms"][0];
    assert_eq!(vm["ok"], true);
    let mut stages: Vec<&str> = vm["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    // In order of completion: login and ssh run side by side and may finish in either order.
    assert_eq!(stages[0], "launch");
    stages.sort_unstable();
    assert_eq!(stages, ["launch", "login", "ssh"]);
    let launched = vm["launched_at"].as_f64().unwrap();
    let launch_at = vm["stages"][0]["at"].as_f64().unwrap();
    for mark in vm["stages"].as_array().unwrap() {
        let (started, at) = (
            mark["started_at"].as_f64().unwrap(),
            mark["at"].as_f64().unwrap(),
        );
        assert!(launched <= started && started <= at, "{vm}");
        if mark["stage"] != "launch" {
            assert!(launch_at <= at, "{vm}");
        }
    }

    let restart = project.ok(&["restart", "demo"]);
    assert!(
        restart.stderr.contains("stopped in") && restart.stderr.contains("ready in"),
        "{restart}"
    );
    let previous = fs::read_to_string(project.vm_dir("demo").join("serial.prev.log")).unwrap();
    assert!(
        previous.contains("login:"),
        "the previous run's serial log is kept"
    );

    // Under --json, a restart is one document: the stop's and the start's inside.
    let restarted = project.ok(&["restart", "demo", "--json"]).json();
    assert_eq!(restarted["schema"], "qcmdr.restart/1", "{restarted}");
    let stopped = &restarted["stop"]["vms"][0];
    assert_eq!(stopped["was_running"], true, "{restarted}");
    assert!(stopped["ended_by"].is_string(), "{restarted}");
    assert_eq!(restarted["start"]["schema"], "qcmdr.start/1", "{restarted}");
    assert_eq!(restarted["start"]["vms"][0]["ok"], true, "{restarted}");
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_bad_qemu_argument_fails_fast_with_qemu_own_error() {
    let project = Project::new(vec![
        VmSpec::new("demo").qemu_arg("-device no-such-device-xyz")
    ]);
    let started = Instant::now();
    let run = project.run(&["start", "demo"]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("QEMU exited with code 1"), "{run}");
    assert!(
        run.stderr.contains("no-such-device-xyz"),
        "QEMU's own message is shown:\n{run}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(project.own_processes().is_empty());
    assert!(!project.vm_dir("demo").join("qemu.pid").exists());
}

#[test]
fn vm_guest_that_never_prints_the_prompt_times_out_and_is_stopped() {
    let project = Project::new(vec![VmSpec::new("demo")
        .kernel_args("qcmdr.noprompt")
        .extra("login_timeout = 15,")]);
    let run = project.run(&["start", "demo"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains(r#"no login prompt ("login:") on the serial console within 15 s"#),
        "{run}"
    );
    assert!(run.stderr.contains("the VM was stopped"), "{run}");
    // The serial log is reported (with `quiet` and no getty it may well be empty).
    let serial_log = project.vm_dir("demo").join("serial.log");
    assert!(
        run.stderr
            .contains(&format!("serial log ({})", serial_log.display())),
        "{run}"
    );
    assert!(project.own_processes().is_empty(), "QEMU left running");
    // Nothing stale blocks the next start.
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "stopped");
}

#[test]
fn vm_keep_running_leaves_qemu_for_a_post_mortem() {
    let project = Project::new(vec![VmSpec::new("demo")
        .kernel_args("qcmdr.noprompt")
        .extra("login_timeout = 12,")]);
    let run = project.run(&["start", "demo", "--keep-running"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("QEMU left running"), "{run}");
    let pid = project.pid("demo").unwrap();
    assert!(alive(pid));
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "running");
    let stop = project.ok(&["stop", "demo", "--force"]);
    assert!(
        stop.stderr.contains("(by sigterm)"),
        "--force skips the graceful steps:\n{stop}"
    );
    assert!(!alive(pid));
}

#[test]
fn vm_guest_dying_during_boot_is_detected_at_once() {
    let project = Project::new(vec![VmSpec::new("demo")
        .kernel_args("qcmdr.die")
        .extra("login_timeout = 100,")]);
    let started = Instant::now();
    let run = project.run(&["start", "demo"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("QEMU exited with code 0"), "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "detected by the exit, not the timeout"
    );
    assert!(project.own_processes().is_empty());
}

#[test]
fn vm_taken_host_port_is_found_before_launch_and_its_holder_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let project = Project::new(vec![VmSpec::new("demo").port(port)]);
    let run = project.run(&["start", "demo"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains(&format!(
            "host port {port}/tcp is already in use by pid {}",
            std::process::id()
        )),
        "{run}"
    );
    assert!(
        !project.vm_dir("demo").join("qemu.log").exists(),
        "QEMU was never launched"
    );
    drop(listener);

    // Held by a VM of the same state dir: the VM is named.
    project.ok(&["start", "demo"]);
    let other = VmSpec::new("other").port(port);
    let conf2 = project.write_named_config("conf2.lua", &[other], "");
    let run = Run::of(
        Command::new(env!("CARGO_BIN_EXE_qcmdr"))
            .args(["-c", conf2.to_str().unwrap(), "start", "other"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    let pid = project.pid("demo").unwrap();
    assert!(
        run.stderr
            .contains(&format!("in use by VM \"demo\" (pid {pid})")),
        "{run}"
    );
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_without_sshd_is_stopped_by_acpi_powerdown() {
    let project = Project::new(vec![VmSpec::new("demo")
        .kernel_args("qcmdr.nosshd")
        .extra(r#"wait_for = "login","#)]);
    project.ok(&["start", "demo"]);
    let pid = project.pid("demo").unwrap();
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["ssh"], "refused");
    let stop = project.ok(&["stop", "demo", "--json"]);
    let json = stop.json();
    assert_eq!(json["vms"][0]["ended_by"], "acpi-powerdown", "{stop}");
    assert!(!alive(pid));
}

#[test]
fn vm_guest_ignoring_acpi_gets_sigterm_and_a_frozen_qemu_gets_sigkill() {
    let project = Project::new(vec![
        VmSpec::new("deaf")
            .kernel_args("qcmdr.nosshd qcmdr.noacpi")
            .extra(r#"wait_for = "login","#),
        VmSpec::new("frozen").extra(r#"wait_for = "login","#),
    ]);
    project.ok(&["start", "deaf", "frozen"]);
    let deaf = project.pid("deaf").unwrap();
    let stop = project.ok(&["stop", "deaf", "--timeout", "3", "--json"]);
    assert_eq!(stop.json()["vms"][0]["ended_by"], "sigterm", "{stop}");
    assert!(!alive(deaf));

    // A stopped (SIGSTOP) QEMU answers neither SSH nor QMP and cannot act on SIGTERM.
    let frozen = project.pid("frozen").unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(frozen).unwrap(),
        rustix::process::Signal::STOP,
    )
    .unwrap();
    let stop = project.ok(&["stop", "frozen", "--timeout", "2", "--json"]);
    assert_eq!(stop.json()["vms"][0]["ended_by"], "sigkill", "{stop}");
    assert!(!alive(frozen));
}

#[test]
fn vm_stale_pidfile_of_an_unrelated_process_is_reported_and_that_process_left_alone() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let mut stranger = Command::new("sleep").arg("300").spawn().unwrap();
    let pid = stranger.id() as i32;
    let pidfile = project.vm_dir("demo").join("qemu.pid");
    fs::create_dir_all(project.vm_dir("demo")).unwrap();
    fs::write(&pidfile, format!("{pid}\n")).unwrap();

    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "stale");
    assert!(status["vms"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("not this VM's QEMU"));
    let stop = project.ok(&["stop", "demo"]);
    assert!(stop.stderr.contains("removed a stale pidfile"), "{stop}");
    assert!(
        alive(pid),
        "stop must never signal a process that is not this VM's QEMU"
    );
    assert!(!pidfile.exists());

    // start cleans a stale pidfile up with a notice and boots as usual.
    fs::write(&pidfile, format!("{pid}\n")).unwrap();
    let start = project.ok(&["start", "demo"]);
    assert!(start.stderr.contains("removed a stale pidfile"), "{start}");
    assert!(start.stderr.contains("demo: ready in"), "{start}");
    assert_ne!(project.pid("demo"), Some(pid));
    project.ok(&["stop", "demo"]);
    assert!(alive(pid));
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn vm_one_failing_vm_does_not_stop_the_others() {
    let project = Project::new(vec![
        VmSpec::new("good").extra(r#"wait_for = "none","#),
        VmSpec::new("bad").qemu_arg("-device no-such-device-xyz"),
    ]);
    let run = project.run(&["start", "good", "bad", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    let json = run.json();
    let by_name = |name: &str| {
        json["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("good")["ok"], true);
    let good = by_name("good");
    let stages: Vec<&str> = good["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["launch"],
        "wait_for = none waits only for QEMU itself"
    );
    assert_eq!(by_name("bad")["ok"], false);
    assert!(run.stderr.contains("bad: QEMU exited with code 1"), "{run}");
    assert!(alive(project.pid("good").unwrap()));
    project.ok(&["stop", "good", "--force"]);
}

#[test]
fn vm_second_concurrent_start_names_the_lock_holder() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let mut first = project
        .command(&["start", "demo"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first holds the lock (QEMU launched), then race it.
    assert!(wait_until(Duration::from_secs(30), || project
        .vm_dir("demo")
        .join("qemu.log")
        .exists()));
    // Meanwhile status says the VM is starting, and who starts it.
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "starting", "{status}");
    assert!(status["vms"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("qcmdr start demo"));
    let second = project.run(&["start", "demo"]);
    assert_eq!(second.code, 1, "{second}");
    assert!(
        second.stderr.contains("another qcmdr is changing this VM"),
        "{second}"
    );
    assert!(
        second
            .stderr
            .contains(&format!("pid {}: qcmdr start demo", first.id())),
        "{second}"
    );
    assert!(first.wait().unwrap().success());
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_ctrl_c_during_start_exits_130_and_leaves_no_qemu() {
    interrupt_start(rustix::process::Signal::INT);
}

#[test]
fn vm_sigterm_during_start_exits_130_and_leaves_no_qemu() {
    interrupt_start(rustix::process::Signal::TERM);
}

/// A signal during the readiness wait: QEMU is stopped, the command exits 130.
fn interrupt_start(signal: rustix::process::Signal) {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let child = project
        .command(&["start", "demo"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || project
        .pid("demo")
        .is_some()));
    let qemu = project.pid("demo").unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        signal,
    )
    .unwrap();
    let run = Run::of(child.wait_with_output().unwrap());
    assert_eq!(run.code, 130, "{run}");
    assert!(run.stderr.contains("interrupted"), "{run}");
    assert!(!alive(qemu), "QEMU {qemu} orphaned by {signal:?}");
    assert!(project.own_processes().is_empty());
}

#[test]
fn vm_three_vms_start_and_stop_in_parallel() {
    let project = Project::new(vec![
        VmSpec::new("one"),
        VmSpec::new("two"),
        VmSpec::new("three"),
    ]);
    let start = project.ok(&["start", "--all"]);
    for name in ["one", "two", "three"] {
        assert!(
            start.stderr.contains(&format!("{name}: ready in")),
            "{start}"
        );
    }
    let pids: Vec<i32> = ["one", "two", "three"]
        .iter()
        .map(|n| project.pid(n).unwrap())
        .collect();
    let status = project.ok(&["status", "--json"]).json();
    for vm in status["vms"].as_array().unwrap() {
        assert_eq!(vm["state"], "running", "{vm}");
        assert_eq!(vm["ssh"], "ok", "{vm}");
    }
    let stop = project.ok(&["stop", "--all"]);
    for name in ["one", "two", "three"] {
        assert!(
            stop.stderr.contains(&format!("{name}: stopped in")),
            "{stop}"
        );
    }
    assert!(pids.iter().all(|pid| !alive(*pid)));
    let _ = free_port();
}

#[test]
fn vm_ssh_only_readiness_fails_fast_when_the_key_is_refused() {
    let project = Project::new(vec![]);
    let key = project.path().join("stranger_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(keygen.success());
    let spec = VmSpec::new("demo")
        .identity(&key)
        .extra(r#"wait_for = "ssh", ssh_timeout = 100,"#);
    project.write_named_config("conf.lua", &[spec], "");
    let started = Instant::now();
    let run = project.run(&["start", "demo", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("SSH login refused") && run.stderr.contains("Permission denied"),
        "{run}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "refusal is final, not retried until the timeout"
    );
    let json = run.json();
    assert_eq!(json["vms"][0]["ok"], false);
    assert!(json["vms"][0]["error"]
        .as_str()
        .unwrap()
        .contains("Permission denied"));
    assert!(project.own_processes().is_empty(), "the VM was stopped");
}

#[test]
fn vm_missing_qemu_binary_is_reported_before_anything_runs() {
    let project = Project::with_top_level(
        vec![VmSpec::new("demo")],
        r#"qemu_bin_dir_fpath = "/nonexistent/qemu/build","#,
    );
    let run = project.run(&["start", "demo"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("QEMU binary /nonexistent/qemu/build/qemu-system-x86_64 not found in qemu_bin_dir_fpath"),
        "{run}"
    );
    assert!(!project.vm_dir("demo").join("qemu.log").exists());
}
