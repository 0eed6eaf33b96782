//! Proof that `show --json`'s argv and the private SSH config are right, end to end: boot the
//! guest with exactly that argv (no `qcmdr start`), wait for the login prompt in the serial
//! log, and log in with the real ssh on qcmdr's config.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{wait_until, KillOnDrop, Project, VmSpec};

#[test]
fn vm_boots_with_the_argv_show_prints_and_answers_ssh_on_the_private_config() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let show = project.ok(&["show", "demo", "--json"]).json();
    let argv: Vec<String> = serde_json::from_value(show["argv"].clone()).unwrap();
    let serial_log = show["paths"]["serial_log"].as_str().unwrap().to_string();
    let ssh_config = show["paths"]["ssh_config"].as_str().unwrap().to_string();
    fs::create_dir_all(std::path::Path::new(&serial_log).parent().unwrap()).unwrap();

    let qemu = KillOnDrop(
        Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(show["cwd"].as_str().unwrap())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let booted = wait_until(Duration::from_secs(120), || {
        fs::read_to_string(&serial_log).is_ok_and(|log| log.contains("login:"))
    });
    assert!(
        booted,
        "no login prompt; serial log:\n{}",
        fs::read_to_string(&serial_log).unwrap_or_default()
    );

    // `ssh-config` refreshes the private file and prints the same settings for the VM (scoped
    // to its own Host block, for pasting into ~/.ssh/config).
    let printed = project.path().join("exported");
    fs::write(&printed, project.ok(&["ssh-config"]).stdout).unwrap();
    let resolved = |file: &str| {
        let out = Command::new("ssh")
            .args(["-G", "-F", file, "demo"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    assert_eq!(resolved(&ssh_config), resolved(printed.to_str().unwrap()));
    let reached = wait_until(Duration::from_secs(60), || {
        Command::new("ssh")
            .args([
                "-F",
                &ssh_config,
                "-o",
                "BatchMode=yes",
                "-o",
                "ControlMaster=no",
                "demo",
                "true",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(reached, "ssh -F {ssh_config} demo true never succeeded");
    drop(qemu);
}
