//! The config-facing commands through the real binary: check, list, show, ssh-config,
//! completions, and the exit codes and messages a user sees. No VM is started here.

use std::fs;
use std::process::{Command, Stdio};

use crate::support::Run;

fn qcmdr(dir: &std::path::Path, args: &[&str]) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_qcmdr"))
            .args(args)
            .current_dir(dir)
            .env_remove("QCMDR_CONFIG")
            .env_remove("QCMDR_STATE_DIR")
            .env("XDG_CONFIG_HOME", dir.join("xdg"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

const GOOD: &str = r#"
local function net(port) return { "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:" .. port .. "-:22" } end
return {
  ssh_conf_base = { ServerAliveInterval = 5 },
  vms = {
    { name = "alpha", arch = "x86_64", ssh = { Port = 2201, User = "root", IdentityFile = "~/.ssh/id" },
      args = { "-m 512", "-display none", net(2201) } },
    { name = "beta", arch = "aarch64", ssh = { Port = 2202, User = "me", IdentityFile = "/k/id", ConnectTimeout = 3 },
      args = { "-append", '"console=ttyAMA0 root=/dev/vda"' } },
  },
}
"#;

fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("conf.lua"), text).unwrap();
    dir
}

#[test]
fn check_accepts_a_good_config_found_in_the_current_folder() {
    let dir = project(GOOD);
    let run = qcmdr(dir.path(), &["check"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("OK, 2 VMs: alpha, beta"), "{run}");
}

#[test]
fn check_reports_every_problem_with_vm_and_key_and_exits_1() {
    let dir = project(
        r#"return { vms = {
          { name = "a", arch = "x86_64", login_timout = 3, ssh = { Port = "20x9", User = "u", IdentityFile = "k" }, args = {} },
          { name = "a", arch = "x86_64", ssh = { Port = 2, User = "u", IdentityFile = "k" }, args = { "-daemonize" } },
        } }"#,
    );
    let run = qcmdr(dir.path(), &["check"]);
    assert_eq!(run.code, 1, "{run}");
    for expected in [
        r#"vms[1] "a": ssh.Port: expected a number, got string "20x9""#,
        r#"vms[1] "a": unknown key "login_timout" (did you mean "login_timeout"?)"#,
        r#"vms[2] "a": name: "a" is already used by vms[1]"#,
        r#"vms[2] "a": args: -daemonize"#,
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in\n{run}"
        );
    }
    assert!(run.stderr.contains("conf.lua"), "the file is named:\n{run}");
}

#[test]
fn lua_errors_show_file_and_line() {
    let dir = project("local x = 1\nreturn { vms = nil + 1 }\n");
    let run = qcmdr(dir.path(), &["check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("conf.lua:2:"), "{run}");
}

#[test]
fn missing_config_lists_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let run = qcmdr(dir.path(), &["list"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("no config file found"), "{run}");
    assert!(
        run.stderr
            .contains(&dir.path().join("conf.lua").display().to_string()),
        "{run}"
    );
    assert!(run.stderr.contains("xdg/qcmdr/conf.lua"), "{run}");
}

#[test]
fn explicit_config_and_env_var_are_used() {
    let dir = project(GOOD);
    let elsewhere = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.lua");
    let run = qcmdr(elsewhere.path(), &["-c", conf.to_str().unwrap(), "check"]);
    assert_eq!(run.code, 0, "{run}");
    let run = Run::of(
        Command::new(env!("CARGO_BIN_EXE_qcmdr"))
            .arg("check")
            .current_dir(elsewhere.path())
            .env("QCMDR_CONFIG", &conf)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn list_shows_vms_and_json_has_the_documented_keys() {
    let dir = project(GOOD);
    let run = qcmdr(dir.path(), &["list"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("alpha") && l.contains("stopped") && l.contains("2201")),
        "{run}"
    );
    let json = qcmdr(dir.path(), &["list", "--json"]).json();
    assert_eq!(json["schema"], "qcmdr.list/1");
    assert_eq!(json["vms"][1]["name"], "beta");
    assert_eq!(json["vms"][1]["arch"], "aarch64");
    assert_eq!(json["vms"][1]["ssh_port"], 2202);
    assert_eq!(json["vms"][1]["state"], "stopped");
    assert_eq!(json["vms"][0]["sync_entries"], 0);
}

#[test]
fn show_json_has_argv_and_paths_and_text_is_pasteable() {
    let dir = project(GOOD);
    let json = qcmdr(dir.path(), &["show", "beta", "--json"]).json();
    let argv: Vec<String> = serde_json::from_value(json["argv"].clone()).unwrap();
    assert!(argv[0].ends_with("qemu-system-aarch64"), "{argv:?}");
    let append = argv.iter().position(|a| a == "-append").unwrap();
    assert_eq!(argv[append + 1], "console=ttyAMA0 root=/dev/vda");
    assert!(argv.windows(2).any(|w| w == ["-name", "beta"]));
    for key in [
        "serial_log",
        "qemu_log",
        "pidfile",
        "qmp_socket",
        "monitor_socket",
        "ssh_config",
    ] {
        let path = json["paths"][key]
            .as_str()
            .unwrap_or_else(|| panic!("paths.{key} missing"));
        assert!(
            path.starts_with(dir.path().to_str().unwrap()),
            "{key}: {path}"
        );
    }
    let pidfile = json["paths"]["pidfile"].as_str().unwrap();
    assert!(argv
        .windows(2)
        .any(|w| w[0] == "-pidfile" && w[1] == pidfile));

    let text = qcmdr(dir.path(), &["show", "beta"]);
    let line = text
        .stdout
        .lines()
        .find(|l| l.contains("qemu-system-aarch64"))
        .unwrap();
    assert_eq!(
        shlex::split(line.trim()).unwrap(),
        argv,
        "the printed command line pastes back"
    );
}

#[test]
fn unknown_vm_lists_the_configured_ones() {
    let dir = project(GOOD);
    let run = qcmdr(dir.path(), &["show", "gamma"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains(r#"no VM named "gamma""#) && run.stderr.contains("alpha, beta"),
        "{run}"
    );
}

#[test]
fn ssh_config_export_scopes_every_option_to_the_vm_blocks() {
    let dir = project(GOOD);
    let run = qcmdr(dir.path(), &["ssh-config"]);
    assert_eq!(run.code, 0, "{run}");
    let alpha = run.stdout.find("Host alpha").unwrap();
    let beta = run.stdout.find("Host beta").unwrap();
    assert!(alpha < beta, "{run}");
    assert!(!run.stdout.contains("Host *"), "{run}");
    assert!(run.stdout.contains("ControlMaster auto"));
    // Pasted into a user's config, it leaves every other host as it was.
    let exported = dir.path().join("exported");
    fs::write(&exported, &run.stdout).unwrap();
    let empty = dir.path().join("empty");
    fs::write(&empty, "").unwrap();
    let ssh_g = |file: &std::path::Path, host: &str| {
        let out = Command::new("ssh")
            .args(["-G", "-F"])
            .arg(file)
            .arg(host)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        ssh_g(&exported, "some-other-host"),
        ssh_g(&empty, "some-other-host")
    );
    let alpha_seen = ssh_g(&exported, "alpha");
    for line in [
        "stricthostkeychecking false",
        "serveraliveinterval 5",
        "port 2201",
    ] {
        assert!(
            alpha_seen.lines().any(|l| l == line),
            "{line}: {alpha_seen}"
        );
    }
    let only = qcmdr(dir.path(), &["ssh-config", "beta"]);
    assert!(
        !only.stdout.contains("Host alpha") && only.stdout.contains("Host beta"),
        "{only}"
    );
}

#[test]
fn usage_errors_exit_2_and_version_and_completions_work() {
    let dir = project(GOOD);
    assert_eq!(qcmdr(dir.path(), &["frobnicate"]).code, 2);
    assert_eq!(
        qcmdr(dir.path(), &["start"]).code,
        2,
        "start needs a VM or --all"
    );
    let version = qcmdr(dir.path(), &["--version"]);
    assert!(version.stdout.starts_with("qcmdr "), "{version}");
    let completions = qcmdr(dir.path(), &["completions", "bash"]);
    assert_eq!(completions.code, 0);
    assert!(completions.stdout.contains("qcmdr"), "{completions}");
}

#[test]
fn ssh_to_a_stopped_vm_says_how_to_start_it() {
    let dir = project(GOOD);
    let run = qcmdr(dir.path(), &["ssh", "alpha", "true"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("not running") && run.stderr.contains("qcmdr start alpha"),
        "{run}"
    );
}

#[test]
fn deep_state_dir_keeps_socket_paths_within_the_unix_limit() {
    let dir = project(GOOD);
    let deep = dir.path().join("a-rather-long-folder-name/".repeat(6));
    let run = qcmdr(
        dir.path(),
        &[
            "--state-dir",
            deep.to_str().unwrap(),
            "show",
            "alpha",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let json = run.json();
    for key in ["qmp_socket", "monitor_socket", "serial_socket"] {
        let path = json["paths"][key].as_str().unwrap();
        assert!(path.len() < 108, "{key} is {} bytes: {path}", path.len());
    }
    assert!(json["paths"]["serial_log"]
        .as_str()
        .unwrap()
        .starts_with(deep.to_str().unwrap()));
}
