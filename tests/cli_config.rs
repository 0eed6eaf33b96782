//! The config-facing commands through the real binary: check, list, show, ssh-config,
//! completions, and the exit codes and messages a user sees. No VM is started here.

use crate::support::CliTest;

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

#[test]
fn check_accepts_a_good_config_found_in_the_current_folder() {
    CliTest::with_config(GOOD)
        .cmd(&["check"])
        .code(0)
        .stdout_has("OK, 2 VMs: alpha, beta")
        .run();
}

#[test]
fn check_reports_every_problem_with_vm_and_key_and_exits_2_a_config_error() {
    let test = CliTest::with_config(
        r#"return { vms = {
          { name = "a", arch = "x86_64", login_timout = 3, ssh = { Port = "20x9", User = "u", IdentityFile = "k" }, args = {} },
          { name = "a", arch = "x86_64", ssh = { Port = 2, User = "u", IdentityFile = "k" }, args = { "-daemonize" } },
        } }"#,
    );
    let mut check = test.cmd(&["check"]).code(2);
    for expected in [
        r#"vms[1] "a": ssh.Port: expected a number, got string "20x9""#,
        r#"vms[1] "a": unknown key "login_timout" (did you mean "login_timeout"?)"#,
        r#"vms[2] "a": name: "a" is already used by vms[1]"#,
        r#"vms[2] "a": args: -daemonize"#,
    ] {
        check = check.stderr_has(expected);
    }
    // The file is named.
    check.stderr_has("conf.lua").run();
}

#[test]
fn lua_errors_show_file_and_line() {
    CliTest::with_config("local x = 1\nreturn { vms = nil + 1 }\n")
        .cmd(&["check"])
        .code(2)
        .stderr_has("conf.lua:2:")
        .run();
}

#[test]
fn missing_config_lists_where_it_looked() {
    let test = CliTest::new();
    test.cmd(&["list"])
        .code(2)
        .stderr_has("no config file found")
        .stderr_has(test.config().display().to_string())
        .stderr_has("xdg/qcmdr/conf.lua")
        .run();
}

#[test]
fn explicit_config_and_env_var_are_used() {
    let test = CliTest::with_config(GOOD);
    let elsewhere = tempfile::tempdir().unwrap();
    let conf = test.config();
    test.cmd(&["-c", conf.to_str().unwrap(), "check"])
        .current_dir(elsewhere.path())
        .code(0)
        .run();
    test.cmd(&["check"])
        .current_dir(elsewhere.path())
        .env("QCMDR_CONFIG", &conf)
        .code(0)
        .run();
}

#[test]
fn list_shows_vms_and_json_has_the_documented_keys() {
    let test = CliTest::with_config(GOOD);
    let run = test.cmd(&["list"]).code(0).run();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("alpha") && l.contains("stopped") && l.contains("2201")),
        "{run}"
    );
    let json = test.cmd(&["list", "--json"]).json();
    assert_eq!(json["schema"], "qcmdr.list/1");
    assert_eq!(json["vms"][1]["name"], "beta");
    assert_eq!(json["vms"][1]["arch"], "aarch64");
    assert_eq!(json["vms"][1]["ssh_port"], 2202);
    assert_eq!(json["vms"][1]["state"], "stopped");
    assert_eq!(json["vms"][0]["sync_entries"], 0);
}

#[test]
fn show_json_has_argv_and_paths_and_text_is_pasteable() {
    let test = CliTest::with_config(GOOD);
    let dir = test.path();
    let json = test.cmd(&["show", "beta", "--json"]).json();
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
        assert!(path.starts_with(dir.to_str().unwrap()), "{key}: {path}");
    }
    let pidfile = json["paths"]["pidfile"].as_str().unwrap();
    assert!(argv
        .windows(2)
        .any(|w| w[0] == "-pidfile" && w[1] == pidfile));

    let text = test.cmd(&["show", "beta"]).run();
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
    CliTest::with_config(GOOD)
        .cmd(&["show", "gamma"])
        .code(2)
        .stderr_has(r#"no VM named "gamma""#)
        .stderr_has("alpha, beta")
        .run();
}

#[test]
fn ssh_config_export_scopes_every_option_to_the_vm_blocks() {
    let test = CliTest::with_config(GOOD);
    let run = test.cmd(&["ssh-config"]).code(0).run();
    let alpha = run.stdout.find("Host alpha").unwrap();
    let beta = run.stdout.find("Host beta").unwrap();
    assert!(alpha < beta, "{run}");
    assert!(!run.stdout.contains("Host *"), "{run}");
    assert!(run.stdout.contains("ControlMaster auto"));
    // Pasted into a user's config, it leaves every other host as it was.
    let exported = test.path().join("exported");
    std::fs::write(&exported, &run.stdout).unwrap();
    let empty = test.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let ssh_g = |file: &std::path::Path, host: &str| {
        let out = std::process::Command::new("ssh")
            .args(["-G", "-F"])
            .arg(file)
            .arg(host)
            .stdin(std::process::Stdio::null())
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
    let only = test.cmd(&["ssh-config", "beta"]).run();
    assert!(
        !only.stdout.contains("Host alpha") && only.stdout.contains("Host beta"),
        "{only}"
    );
}

#[test]
fn usage_errors_exit_2_and_version_and_completions_work() {
    let test = CliTest::with_config(GOOD);
    test.cmd(&["frobnicate"]).code(2).run();
    // start needs a VM or --all.
    test.cmd(&["start"]).code(2).run();
    let version = test.cmd(&["--version"]).run();
    assert!(version.stdout.starts_with("qcmdr "), "{version}");
    test.cmd(&["completions", "bash"])
        .code(0)
        .stdout_has("qcmdr")
        .run();
}

#[test]
fn ssh_to_a_stopped_vm_says_how_to_start_it() {
    CliTest::with_config(GOOD)
        .cmd(&["ssh", "alpha", "true"])
        .code(1)
        .stderr_has("not running")
        .stderr_has("qcmdr start alpha")
        .run();
}

#[test]
fn deep_state_dir_keeps_socket_paths_within_the_unix_limit() {
    let test = CliTest::with_config(GOOD);
    let deep = test.path().join("a-rather-long-folder-name/".repeat(6));
    let json = test
        .cmd(&[
            "--state-dir",
            deep.to_str().unwrap(),
            "show",
            "alpha",
            "--json",
        ])
        .code(0)
        .json();
    for key in ["qmp_socket", "monitor_socket", "serial_socket"] {
        let path = json["paths"][key].as_str().unwrap();
        assert!(path.len() < 108, "{key} is {} bytes: {path}", path.len());
    }
    assert!(json["paths"]["serial_log"]
        .as_str()
        .unwrap()
        .starts_with(deep.to_str().unwrap()));
}

#[test]
fn restart_json_is_one_document_holding_the_stop_and_the_start() {
    // A QEMU binary that does not exist: the stop finds nothing running, the start fails at
    // once, so no guest is needed to see the document's shape.
    let test = CliTest::with_config(&GOOD.replace(
        "ssh_conf_base",
        "qemu_bin_dir_fpath = \"/nonexistent-qemu\",\n  ssh_conf_base",
    ));
    let missing = "alpha: QEMU binary /nonexistent-qemu/qemu-system-x86_64 not found";
    // The failed start leaves the VM's (empty) folder behind, as any start does.
    test.cmd(&["start", "alpha"])
        .code(1)
        .stderr_has(missing)
        .run();
    let json = test
        .cmd(&["restart", "alpha", "--json"])
        .code(1)
        .stderr_has(missing)
        .json();
    assert_eq!(json["schema"], "qcmdr.restart/1", "{json}");
    assert_eq!(json["stop"]["schema"], "qcmdr.stop/1", "{json}");
    assert_eq!(json["stop"]["vms"][0]["name"], "alpha", "{json}");
    assert_eq!(json["stop"]["vms"][0]["ok"], true, "{json}");
    assert_eq!(json["stop"]["vms"][0]["was_running"], false, "{json}");
    assert_eq!(json["start"]["schema"], "qcmdr.start/1", "{json}");
    assert_eq!(json["start"]["vms"][0]["ok"], false, "{json}");
    assert!(
        json["start"]["vms"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{json}"
    );
}

#[test]
fn stopping_a_vm_never_started_here_says_not_running_and_creates_nothing() {
    let test = CliTest::with_config(GOOD);
    test.cmd(&["stop", "alpha"])
        .code(0)
        .stderr_has("alpha: not running")
        .run();
    let json = test.cmd(&["stop", "alpha", "--json"]).code(0).json();
    assert_eq!(json["vms"][0]["ok"], true, "{json}");
    assert_eq!(json["vms"][0]["was_running"], false, "{json}");
    assert!(
        !test.path().join(".qcmdr/vm/alpha").exists(),
        "a stop must not create the VM's folder"
    );
}

#[test]
fn run_refuses_bad_input_with_2_and_stops_a_bisection_with_128() {
    let test = CliTest::with_config(GOOD);
    test.cmd(&["run", "gamma", "--", "true"])
        .code(2)
        .stderr_has(r#"no VM named "gamma""#)
        .run();
    test.cmd(&["run", "--bisect", "gamma", "--", "true"])
        .code(128)
        .stderr_has(r#"no VM named "gamma""#)
        .run();
    test.cmd(&[
        "run",
        "alpha",
        "--kernel",
        "/nonexistent/bzImage",
        "--",
        "true",
    ])
    .code(2)
    .stderr_has("--kernel /nonexistent/bzImage: no such file")
    .run();
    // The command comes after `--`; --kernel and --append do not go with --from.
    test.cmd(&["run", "alpha", "true"]).code(2).run();
    test.cmd(&["run", "alpha", "--from", "s", "--append", "x", "--", "true"])
        .code(2)
        .stderr_has("cannot be used with")
        .run();
    // Nothing was made for any of them.
    assert!(!test.path().join(".qcmdr").join("run").exists());
}
