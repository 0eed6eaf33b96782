//! Validation of the returned table: every problem, named by VM and key path.

use std::time::Duration;

use super::Fixture;
use crate::model::{HostForward, Protocol, SshOption, SyncEngine, WaitFor};

fn opt(name: &str, value: &str) -> SshOption {
    SshOption {
        name: name.into(),
        value: value.into(),
    }
}

#[test]
fn minimal_vm_gets_the_defaults() {
    let fx = Fixture::new();
    let project = fx.ok("return { vms = { vm() } }");
    assert_eq!(project.config_file, fx.root.join("conf.lua"));
    assert_eq!(project.qemu_bin_dir, None);
    assert_eq!(project.ssh_base, []);
    assert_eq!(project.sync_engine, SyncEngine::Mutagen);
    let vm = &project.vms[0];
    assert_eq!(vm.name, "demo");
    assert_eq!(vm.arch, "x86_64");
    assert_eq!(vm.login_timeout, Duration::from_secs(120));
    assert_eq!(vm.login_pattern, "login:");
    assert_eq!(vm.ssh_timeout, Duration::from_secs(60));
    assert_eq!(vm.stop_timeout, Duration::from_secs(30));
    assert_eq!(vm.wait_for, WaitFor::LoginAndSsh);
    assert_eq!(vm.ssh.host_name, "localhost");
    assert_eq!(vm.ssh.port, 10022);
    assert_eq!(vm.ssh.user, "root");
    assert_eq!(vm.ssh.identity_file, "~/.ssh/id");
    assert_eq!(vm.ssh.options, []);
    assert_eq!(vm.sync, []);
    assert_eq!(vm.args, ["-m", "256"]);
    assert_eq!(vm.host_forwards, []);
}

#[test]
fn every_field_is_read() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.root.join("src")).unwrap();
    std::fs::create_dir_all(fx.root.join("home/code")).unwrap();
    let project = fx.ok(
        r#"
        return {
          qemu_bin_dir_fpath = "~/qemu/bin",
          sync_engine = "rsync",
          ssh_conf_base = { StrictHostKeyChecking = false, ServerAliveInterval = 5, compression = "yes" },
          vms = { vm {
            login_timeout = 2.5, login_pattern = "demo login:", ssh_timeout = 10,
            stop_timeout = 4096/2, wait_for = "ssh",
            ssh = { Port = 2222, User = "me", IdentityFile = "k", HostName = "127.0.0.1",
                    ForwardAgent = true, ConnectTimeout = 3, addKeysToAgent = "no" },
            sync = {
              { source = "src", dest = "/srv/src" },
              { source = "~/code", dest = "~/code", ignore_vcs = true,
                ignore = { "*.o, *.a", "build dir" }, engine = "mutagen", mode = "two-way-safe" },
            },
          } },
        }
        "#,
    );
    assert_eq!(project.qemu_bin_dir, Some(fx.root.join("home/qemu/bin")));
    assert_eq!(project.sync_engine, SyncEngine::Rsync);
    assert_eq!(
        project.ssh_base,
        [
            opt("compression", "yes"),
            opt("ServerAliveInterval", "5"),
            opt("StrictHostKeyChecking", "no"),
        ]
    );
    let vm = &project.vms[0];
    assert_eq!(vm.login_timeout, Duration::from_millis(2500));
    assert_eq!(vm.login_pattern, "demo login:");
    assert_eq!(vm.ssh_timeout, Duration::from_secs(10));
    assert_eq!(vm.stop_timeout, Duration::from_secs(2048));
    assert_eq!(vm.wait_for, WaitFor::Ssh);
    assert_eq!(vm.ssh.host_name, "127.0.0.1");
    assert_eq!(vm.ssh.port, 2222);
    assert_eq!(
        vm.ssh.options,
        [
            opt("addKeysToAgent", "no"),
            opt("ConnectTimeout", "3"),
            opt("ForwardAgent", "yes"),
        ]
    );
    assert_eq!(vm.sync.len(), 2);
    assert_eq!(vm.sync[0].source, fx.root.join("src"));
    assert_eq!(vm.sync[0].dest, "/srv/src");
    assert!(!vm.sync[0].ignore_vcs);
    assert_eq!(vm.sync[0].ignore, Vec::<String>::new());
    assert_eq!(vm.sync[0].mode, "one-way-replica");
    // Entries without an engine take the top-level default.
    assert_eq!(vm.sync[0].engine, SyncEngine::Rsync);
    assert_eq!(vm.sync[1].source, fx.root.join("home/code"));
    assert!(vm.sync[1].ignore_vcs);
    assert_eq!(vm.sync[1].ignore, ["*.o, *.a", "build dir"]);
    assert_eq!(vm.sync[1].mode, "two-way-safe");
    assert_eq!(vm.sync[1].engine, SyncEngine::Mutagen);
}

#[test]
fn absolute_qemu_bin_dir_is_kept() {
    let fx = Fixture::new();
    let project = fx.ok(r#"return { qemu_bin_dir_fpath = "/opt/qemu/bin", vms = { vm() } }"#);
    assert_eq!(project.qemu_bin_dir, Some("/opt/qemu/bin".into()));
    let project = fx.ok(r#"return { qemu_bin_dir_fpath = "qemu/bin", vms = { vm() } }"#);
    assert_eq!(project.qemu_bin_dir, Some(fx.root.join("qemu/bin")));
}

#[test]
fn non_table_result_explains_the_shape() {
    let fx = Fixture::new();
    assert_eq!(
        fx.problems("return 42"),
        [
            r#"the file must return a table like { vms = { { name = "demo", ... } } }, but it returned number 42"#
        ]
    );
    assert_eq!(
        fx.problems("local x = 1"),
        [
            r#"the file must return a table like { vms = { { name = "demo", ... } } }, but it returned nil"#
        ]
    );
}

#[test]
fn missing_vms_explains_the_shape() {
    let fx = Fixture::new();
    assert_eq!(
        fx.problems("return { vm() }"),
        [
            "unexpected key [1] (keys here are names)",
            r#"vms: missing; the file must return a table like { vms = { { name = "demo", ... } } }"#
        ]
    );
}

#[test]
fn wrong_type_names_vm_and_key_path() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { vms = { vm(), vm { name = "livemig", ssh = { Port = "20x9", User = "u", IdentityFile = "k" } } } }"#,
    );
    assert_eq!(
        problems,
        [r#"vms[2] "livemig": ssh.Port: expected a number, got string "20x9""#]
    );
}

#[test]
fn missing_or_invalid_name_uses_the_index_only() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"
        local a = vm { ssh = { Port = 1, User = "u", IdentityFile = "k" } }
        a.name = nil
        return { vms = { a, vm { name = "my vm", ssh = { Port = 2, User = "u", IdentityFile = "k" } }, vm { name = 7 } } }
        "#,
    );
    assert_eq!(
        problems,
        [
            "vms[1]: name: missing (expected a string)",
            r#"vms[2]: name: "my vm" is not a valid name (letters, digits, _ and -, not starting with a digit or -)"#,
            "vms[3]: name: expected a string, got number 7",
        ]
    );
}

#[test]
fn missing_required_keys() {
    let fx = Fixture::new();
    let problems =
        fx.problems(r#"return { vms = { { name = "demo", ssh = { User = "root" } } } }"#);
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": arch: missing (expected a string like "x86_64")"#,
            r#"vms[1] "demo": ssh.Port: missing (expected a number)"#,
            r#"vms[1] "demo": ssh.IdentityFile: missing (expected a string)"#,
        ]
    );
    let problems = fx.problems(r#"return { vms = { { name = "demo", arch = "x86_64" } } }"#);
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": ssh: missing (expected a table like { Port = 10022, User = "root", IdentityFile = "..." })"#
        ]
    );
}

#[test]
fn unknown_key_suggests_the_nearest() {
    let fx = Fixture::new();
    let problems =
        fx.problems(r#"return { vm = 1, vms = { vm { login_timout = 10, memory = 512 } } }"#);
    assert_eq!(
        problems,
        [
            r#"unknown key "vm" (did you mean "vms"?)"#,
            r#"vms[1] "demo": unknown key "login_timout" (did you mean "login_timeout"?)"#,
            r#"vms[1] "demo": unknown key "memory""#,
        ]
    );
}

#[test]
fn unknown_key_in_sync_entry_has_its_path() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.root.join("src")).unwrap();
    let problems = fx.problems(
        r#"return { vms = { vm { sync = { { source = "src", dest = "/x", ignor = {} } } } } }"#,
    );
    assert_eq!(
        problems,
        [r#"vms[1] "demo": sync[1]: unknown key "ignor" (did you mean "ignore"?)"#]
    );
}

#[test]
fn integral_floats_pass_and_fractions_do_not() {
    let fx = Fixture::new();
    let project = fx.ok(
        r#"return { vms = { vm { ssh = { Port = 20044/2, User = "u", IdentityFile = "k" }, args = { "-m", 4096/2 } } } }"#,
    );
    assert_eq!(project.vms[0].ssh.port, 10022);
    assert_eq!(project.vms[0].args, ["-m", "2048"]);
    let problems = fx.problems(
        r#"return { vms = { vm { ssh = { Port = 2.5, User = "u", IdentityFile = "k" } } } }"#,
    );
    assert_eq!(
        problems,
        [r#"vms[1] "demo": ssh.Port: expected a port number (1-65535), got number 2.5"#]
    );
    let problems = fx.problems(
        r#"return { vms = { vm { ssh = { Port = 70000, User = "u", IdentityFile = "k" } } } }"#,
    );
    assert_eq!(
        problems,
        [r#"vms[1] "demo": ssh.Port: expected a port number (1-65535), got number 70000"#]
    );
}

#[test]
fn seconds_must_be_positive_numbers() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { vms = { vm { login_timeout = 0, ssh_timeout = "60", stop_timeout = -1 } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": login_timeout: expected a number of seconds greater than 0, got number 0"#,
            r#"vms[1] "demo": ssh_timeout: expected a number of seconds, got string "60""#,
            r#"vms[1] "demo": stop_timeout: expected a number of seconds greater than 0, got number -1"#,
        ]
    );
}

#[test]
fn enumerations_list_their_choices() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { sync_engine = "rsycn", vms = { vm { wait_for = "logins", login_pattern = "" } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"sync_engine: expected one of "mutagen", "rsync", got "rsycn" (did you mean "rsync"?)"#,
            r#"vms[1] "demo": login_pattern: must not be empty"#,
            r#"vms[1] "demo": wait_for: expected one of "login+ssh", "login-then-ssh", "login", "ssh", "none", got "logins" (did you mean "login"?)"#,
        ]
    );
}

#[test]
fn wait_for_values() {
    let fx = Fixture::new();
    for (text, expected) in [
        ("login+ssh", WaitFor::LoginAndSsh),
        ("login-then-ssh", WaitFor::LoginThenSsh),
        ("login", WaitFor::Login),
        ("ssh", WaitFor::Ssh),
        ("none", WaitFor::Nothing),
    ] {
        let project = fx.ok(&format!(
            r#"return {{ vms = {{ vm {{ wait_for = "{text}" }} }} }}"#
        ));
        assert_eq!(project.vms[0].wait_for, expected);
    }
}

#[test]
fn arch_must_be_one_qemu_emulates() {
    let fx = Fixture::new();
    let problems = fx.problems(r#"return { vms = { vm { arch = "x86 64" } } }"#);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            r#"vms[1] "demo": arch: "x86 64" is not an architecture QEMU emulates (did you mean "x86_64"?); valid: aarch64, alpha, arm,"#
        ),
        "{problems:?}"
    );
    // Every emulator the ancestor could start is still accepted.
    for arch in ["i386", "ppc64", "s390x", "riscv32"] {
        fx.ok(&format!(
            r#"return {{ vms = {{ vm {{ arch = "{arch}" }} }} }}"#
        ));
    }
}

#[test]
fn ssh_options_are_checked() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return {
          ssh_conf_base = { ["Bad-Name"] = "x", ProxyCommand = 'sh -c "nc %h %p"', Host = "*" },
          vms = { vm { ssh = { Port = 1, User = "u", IdentityFile = "k", LocalCommand = "a\nb",
                               SendEnv = {}, port = 2 } } },
        }"#,
    );
    assert_eq!(
        problems,
        [
            "ssh_conf_base.Bad-Name: is not an ssh option name (letters and digits, e.g. ServerAliveInterval)",
            "ssh_conf_base.Host: cannot be set here: qcmdr writes the Host lines of the ssh config itself",
            "ssh_conf_base.ProxyCommand: contains a double quote, which ssh_config cannot express",
            r#"vms[1] "demo": ssh.port: given twice (ssh option names are case-insensitive)"#,
            r#"vms[1] "demo": ssh.LocalCommand: contains a line break, which ssh_config cannot express"#,
            r#"vms[1] "demo": ssh.SendEnv: expected a string, number or boolean, got a table"#,
        ]
    );
}

#[test]
fn ssh_keys_are_case_insensitive() {
    let fx = Fixture::new();
    let project = fx.ok(
        r#"return { vms = { vm { ssh = { port = 2200, user = "u", identityfile = "k", hostname = "h" } } } }"#,
    );
    let ssh = &project.vms[0].ssh;
    assert_eq!(
        (ssh.port, ssh.user.as_str(), ssh.host_name.as_str()),
        (2200, "u", "h")
    );
    assert_eq!(ssh.options, []);
}

#[test]
fn sync_entries_are_checked() {
    let fx = Fixture::new();
    std::fs::write(fx.root.join("file.txt"), "").unwrap();
    std::fs::create_dir_all(fx.root.join("src")).unwrap();
    let problems = fx.problems(
        r#"return { vms = { vm { sync = {
          { source = "missing", dest = "/x" },
          { source = "file.txt", dest = "" },
          { source = "$NOPE/src", dest = "/x", ignore = { "ok", "" }, ignore_vcs = "yes" },
          { source = "src", dest = "/x", engine = "rsync", mode = "two-way-safe" },
          { dest = "/x", mode = "mirror" },
        } } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": sync[2].dest: must not be empty"#.to_string(),
            r#"vms[1] "demo": sync[3].source: $NOPE is not set (set it in the environment, or write $$ for a literal dollar)"#.to_string(),
            r#"vms[1] "demo": sync[3].ignore_vcs: expected a boolean (true or false), got string "yes""#.to_string(),
            r#"vms[1] "demo": sync[3].ignore[2]: must not be empty"#.to_string(),
            r#"vms[1] "demo": sync[4].mode: the rsync engine only supports "one-way-replica", got "two-way-safe" (use engine = "mutagen" for it)"#.to_string(),
            r#"vms[1] "demo": sync[5].source: missing (expected a host folder)"#.to_string(),
            r#"vms[1] "demo": sync[5].mode: expected one of "one-way-replica", "one-way-safe", "two-way-safe", "two-way-resolved", got "mirror""#.to_string(),
        ]
    );
}

#[test]
fn a_missing_sync_source_is_no_load_error() {
    // A config shared across machines: the folder exists on another one.
    let fx = Fixture::new();
    let project = fx.ok(r#"return { vms = {
          vm { name = "a", sync = { { source = "not/here", dest = "/x" } } },
          vm { name = "b", ssh = { Port = 2, User = "u", IdentityFile = "k" } },
        } }"#);
    assert_eq!(project.vms[0].sync[0].source, fx.root.join("not/here"));
    assert_eq!(project.vms[1].name, "b");
}

#[test]
fn a_vm_name_with_underscores_may_use_mutagen() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.root.join("src")).unwrap();
    let project = fx.ok(
        r#"return { vms = {
          vm { name = "nvme_lab", sync = { { source = "src", dest = "/x" } } },
          vm { name = "_r", ssh = { Port = 2, User = "u", IdentityFile = "k" }, sync = { { source = "src", dest = "/x" } } },
        } }"#,
    );
    assert_eq!(project.vm_names(), ["nvme_lab", "_r"]);
}

#[test]
fn vm_names_are_bounded() {
    let fx = Fixture::new();
    let long = "v".repeat(64);
    fx.ok(&format!(
        r#"return {{ vms = {{ vm {{ name = "{}" }} }} }}"#,
        "v".repeat(63)
    ));
    let problems = fx.problems(&format!(
        r#"return {{ vms = {{ vm {{ name = "{long}" }} }} }}"#
    ));
    assert_eq!(
        problems,
        [format!(
            r#"vms[1]: name: "{long}" is 64 characters long; at most 63 are allowed"#
        )]
    );
}

#[test]
fn ssh_values_ssh_config_cannot_hold_are_refused() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { vms = { vm { ssh = { Port = 1, User = "ro\not", IdentityFile = "k\0",
                                   HostName = 'local"host', ServerAliveInterval = "5\r" } } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": ssh.User: contains a line break, which ssh_config cannot express"#,
            r#"vms[1] "demo": ssh.IdentityFile: contains a control character (e.g. NUL or a tab), which ssh_config cannot express"#,
            r#"vms[1] "demo": ssh.HostName: contains a double quote, which ssh_config cannot express"#,
            r#"vms[1] "demo": ssh.ServerAliveInterval: contains a line break, which ssh_config cannot express"#,
        ]
    );
}

#[test]
fn a_forward_onto_another_vms_ssh_port_is_refused() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"
        return { vms = {
          -- "a" is reached over a tap device, so it forwards nothing itself.
          vm { name = "a", ssh = { Port = 10022, User = "u", IdentityFile = "k" }, args = {} },
          vm { name = "b", ssh = { Port = 10023, User = "u", IdentityFile = "k" },
               args = { "-nic", "user,hostfwd=tcp::10023-:22,hostfwd=tcp:127.0.0.1:10022-:80" } },
          vm { name = "c", ssh = { Port = 10030, User = "u", IdentityFile = "k" },
               args = { "-nic", "user,hostfwd=tcp::10031-:22" } },
          vm { name = "d", ssh = { Port = 10031, User = "u", IdentityFile = "k" }, args = {} },
          vm { name = "e", ssh = { Port = 10032, User = "u", IdentityFile = "k", HostName = "far" }, args = {} },
          vm { name = "f", ssh = { Port = 10040, User = "u", IdentityFile = "k" },
               args = { "-nic", "user,hostfwd=tcp::10040-:22,hostfwd=tcp::10032-:80" } },
        } }
        "#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[2] "b": args: hostfwd host port 10022 (tcp) is the SSH Port of vms[1] "a""#,
            r#"vms[4] "d": ssh.Port: 10031 is a hostfwd host port of vms[3] "c", so ssh would reach that VM"#,
        ]
    );
}

#[test]
fn sync_source_expands_variables() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.root.join("images/x")).unwrap();
    let project =
        fx.ok(r#"return { vms = { vm { sync = { { source = "${IMAGES}/x", dest = "/x" } } } } }"#);
    assert_eq!(project.vms[0].sync[0].source, fx.root.join("images/x"));
}

#[test]
fn args_flatten_depth_first_and_split_into_words() {
    let fx = Fixture::new();
    let project = fx.ok(r#"
        local function machine_base() return { "-machine q35", { "-cpu", "max" } } end
        return { vms = { vm { args = {
          machine_base(),
          "-m", 2048,
          "-display", '"none"',
          '-append', '"console=ttyS0 root=/dev/vda"',
          "-drive file=$IMAGES/disk.img,if=virtio",
          "-kernel ~/vmlinuz",
          "-fw_cfg name=opt/x,string='a b'",
        } } } }
        "#);
    let images = fx.root.join("images").display().to_string();
    let home = fx.root.join("home").display().to_string();
    assert_eq!(
        project.vms[0].args,
        [
            "-machine".to_string(),
            "q35".into(),
            "-cpu".into(),
            "max".into(),
            "-m".into(),
            "2048".into(),
            "-display".into(),
            "none".into(),
            "-append".into(),
            "console=ttyS0 root=/dev/vda".into(),
            "-drive".into(),
            format!("file={images}/disk.img,if=virtio"),
            "-kernel".into(),
            format!("{home}/vmlinuz"),
            "-fw_cfg".into(),
            "name=opt/x,string=a b".into(),
        ]
    );
}

#[test]
fn args_problems_name_the_arg() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { vms = { vm { args = {
          "-m 256", "-cpu max", "-smp 2", "-machine q35", "-display none", "-name demo",
          "-kernel $KERN/bzImage",
          { "-append", "'unterminated" },
          "-device $(id -u)",
          "-device `id -u`",
          true,
          { x = 1 },
        } } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": args[11]: expected a string, a number or a list, got boolean true"#,
            r#"vms[1] "demo": args[12]: expected a list, but the table also has the key "x""#,
            r#"vms[1] "demo": args[7] "-kernel $KERN/bzImage": $KERN is not set (set it in the environment, or write \$ for a literal dollar)"#,
            r#"vms[1] "demo": args[8][2] "'unterminated": unterminated single quote"#,
            r#"vms[1] "demo": args[9] "-device $(id -u)": command substitution $(...) is not supported: qcmdr runs no shell (compute the value in Lua, or write \$ for a literal dollar)"#,
            r#"vms[1] "demo": args[10] "-device `id -u`": command substitution with backticks is not supported: qcmdr runs no shell (compute the value in Lua, or write \` for a literal backtick)"#,
        ]
    );
}

#[test]
fn args_must_be_a_list() {
    let fx = Fixture::new();
    assert_eq!(
        fx.problems(r#"return { vms = { vm { args = "-m 256" } } }"#),
        [r#"vms[1] "demo": args: expected a list, got string "-m 256""#]
    );
    assert_eq!(
        fx.problems(r#"return { vms = { vm { args = { "-m 256", memory = 1 } } } }"#),
        [r#"vms[1] "demo": args: expected a list, but the table also has the key "memory""#]
    );
}

#[test]
fn reserved_options_are_refused() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"return { vms = { vm { args = {
          "-pidfile /tmp/x.pid", "--daemonize", "-nographic", "-chardev socket,id=qcmdr-serial,path=/x",
        } } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": args: -pidfile is managed by qcmdr (it writes the pidfile itself to track the VM); remove it"#,
            r#"vms[1] "demo": args: --daemonize is managed by qcmdr (it runs QEMU detached itself and needs its exit code); remove it"#,
            r#"vms[1] "demo": args: -nographic is managed by qcmdr (it would take the serial port and monitor to stdio, which qcmdr connects itself); use -display none instead"#,
            r#"vms[1] "demo": args: -chardev id=qcmdr-serial: the id "qcmdr-serial" is reserved by qcmdr for the serial console; choose another id"#,
        ]
    );
}

#[test]
fn host_forwards_are_collected() {
    let fx = Fixture::new();
    let project = fx.ok(r#"return { vms = { vm { args = {
          "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=udp::5353-:53",
          "-device virtio-net-pci,netdev=n0",
        } } } }"#);
    assert_eq!(
        project.vms[0].host_forwards,
        [
            HostForward {
                protocol: Protocol::Tcp,
                host_addr: "127.0.0.1".into(),
                host_port: 10022,
                guest_port: 22
            },
            HostForward {
                protocol: Protocol::Udp,
                host_addr: String::new(),
                host_port: 5353,
                guest_port: 53
            },
        ]
    );
}

#[test]
fn malformed_hostfwd_is_reported() {
    let fx = Fixture::new();
    assert_eq!(
        fx.problems(r#"return { vms = { vm { args = { "-nic user,hostfwd=tcp::99999-:22" } } } }"#),
        [
            r#"vms[1] "demo": args: hostfwd=tcp::99999-:22: host port "99999" is not a port number (1-65535)"#
        ]
    );
}

#[test]
fn duplicate_names_ports_and_forwards() {
    let fx = Fixture::new();
    let problems = fx.problems(
        r#"
        local function net(port) return { "-nic", "user,hostfwd=tcp::" .. port .. "-:22" } end
        return { vms = {
          vm { name = "a", ssh = { Port = 10022, User = "u", IdentityFile = "k" }, args = net(10022) },
          vm { name = "b", ssh = { Port = 10022, User = "u", IdentityFile = "k" }, args = net(10023) },
          vm { name = "a", ssh = { Port = 10024, User = "u", IdentityFile = "k" }, args = net(10022) },
          vm { name = "c", ssh = { Port = 10022, User = "u", IdentityFile = "k", HostName = "other" } },
          vm { name = "d", ssh = { Port = 10025, User = "u", IdentityFile = "k" },
               args = { "-nic", "user,hostfwd=tcp::10026-:22,hostfwd=tcp:127.0.0.1:10026-:80" } },
        } }
        "#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[5] "d": args: hostfwd host port 10026 (tcp) is forwarded twice (to guest ports 22 and 80)"#,
            r#"vms[2] "b": ssh.Port: 10022 on localhost is already used by vms[1] "a""#,
            r#"vms[3] "a": name: "a" is already used by vms[1]"#,
            r#"vms[3] "a": args: hostfwd host port 10022 (tcp) is the SSH Port of vms[2] "b""#,
            r#"vms[3] "a": args: hostfwd host port 10022 (tcp) is already forwarded by vms[1] "a""#,
        ]
    );
}

#[test]
fn all_problems_are_reported_together() {
    let fx = Fixture::new();
    let err = fx
        .load(
            r#"return { sync_engine = 1, vms = {
              vm { arch = 64, login_timout = 1 },
              vm { name = "web", ssh = { Port = "x", User = "u", IdentityFile = "k" }, args = { "-serial stdio" } },
            } }"#,
        )
        .unwrap_err();
    let path = fx.root.join("conf.lua");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: 5 problem(s):\n{}",
            path.display(),
            [
                r#"  sync_engine: expected a string, got number 1"#,
                r#"  vms[1] "demo": arch: expected a string, got number 64"#,
                r#"  vms[1] "demo": unknown key "login_timout" (did you mean "login_timeout"?)"#,
                r#"  vms[2] "web": ssh.Port: expected a number, got string "x""#,
                r#"  vms[2] "web": args: -serial is managed by qcmdr (it connects the serial port to its console socket and log, where it watches for the login prompt); remove it"#,
            ]
            .join("\n")
        )
    );
}

#[test]
fn vm_entry_must_be_a_table() {
    let fx = Fixture::new();
    assert_eq!(
        fx.problems(r#"return { vms = { "demo" } }"#),
        [
            r#"vms[1]: expected a table like { name = "demo", arch = "x86_64", ... }, got string "demo""#
        ]
    );
    assert_eq!(
        fx.problems(r#"return { vms = { vm(), extra = vm() } }"#),
        [r#"vms: expected a list, but the table also has the key "extra""#]
    );
}

#[test]
fn mounts_are_validated_like_sync_entries() {
    let fx = Fixture::new();
    let project = fx.ok(
        r#"return { vms = { vm { mounts = { { source = "~/linux", dest = "/src/linux/" },
            { source = "data", dest = "/data", readonly = true } } } } }"#,
    );
    let vm = &project.vms[0];
    assert_eq!(vm.mounts.len(), 2);
    assert_eq!(vm.mounts[0].source, fx.root.join("home/linux"));
    assert_eq!(vm.mounts[0].dest, "/src/linux");
    assert_eq!(vm.mounts[0].tag, "qcmdr1");
    assert!(!vm.mounts[0].readonly);
    assert_eq!(vm.mounts[1].source, fx.root.join("data"));
    assert!(vm.mounts[1].readonly);
    assert_eq!(vm.memory_mib, 256);

    let problems = fx.problems(
        r#"return { vms = { vm { mounts = { { source = "a", dest = "rel" },
            { source = "b", dest = "/x y" }, { source = "c", dest = "/d", readonly = true, redonly = 1 },
            { source = "e", dest = "/d" }, { dest = "/f" } } } } }"#,
    );
    assert_eq!(
        problems,
        [
            r#"vms[1] "demo": mounts[1].dest: "rel" is not an absolute guest path (write it like "/src/linux")"#,
            r#"vms[1] "demo": mounts[2].dest: "/x y" contains ' '; a mount's dest has no spaces, colons or commas"#,
            r#"vms[1] "demo": mounts[3]: unknown key "redonly" (did you mean "readonly"?)"#,
            r#"vms[1] "demo": mounts[4].dest: "/d" is already the dest of mounts[3]; one folder per guest path"#,
            r#"vms[1] "demo": mounts[5].source: missing (expected a host folder)"#,
        ]
    );
}
