//! `qcmdr doctor` on a machine where one check fails, one test per cause, each asserting the
//! message names the fix; and `start` refusing a KVM-only VM before launch.
//!
//! The faults are real wherever they can be: qcmdr runs as a throwaway system user the test
//! creates (`useradd --system`: no home, no subordinate ids) and removes in `Drop`, through
//! `setpriv`, so the kernel, `/etc/group` and `/etc/subuid` decide. The one injection:
//! `QCMDR_KVM_DEVICE` (test-only, docs/doctor.md) points qcmdr at a KVM device node the test
//! makes with `mknod` (the real 10:232 device, so it opens and works for whoever the mode
//! lets in) with the owner, group and mode of the fault; changing `/dev/kvm` itself would
//! disturb everything else on the machine.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{processes_mentioning, CliTest, Run};

/// A user (and group) made for one test, removed with everything it ran when dropped.
struct ThrowawayUser {
    name: String,
    uid: u32,
    gid: u32,
    /// Groups made for the test (removed after the user).
    groups: Vec<String>,
    /// Files outside the test folder to remove (e.g. a planted `/tmp/qcmdr-<uid>`).
    planted: Vec<PathBuf>,
    /// The test folder: every process mentioning it is killed.
    dir: PathBuf,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn run_ok(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn id_of(flag: &str, name: &str) -> u32 {
    let out = Command::new("id").args([flag, name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl ThrowawayUser {
    /// A system user (no subordinate ids) in the extra groups `listed_in` of `/etc/group`;
    /// `dir` becomes theirs.
    fn new(dir: &Path, listed_in: &[&str]) -> ThrowawayUser {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test makes a throwaway user (useradd) and runs qcmdr as them: run it as root"
        );
        let name = unique("qdoc");
        let mut args = vec!["--system", "--no-create-home", "--user-group"];
        let groups = listed_in.join(",");
        if !listed_in.is_empty() {
            args.extend(["--groups", &groups]);
        }
        args.push(&name);
        run_ok("useradd", &args);
        let user = ThrowawayUser {
            uid: id_of("-u", &name),
            gid: id_of("-g", &name),
            name,
            groups: Vec::new(),
            planted: Vec::new(),
            dir: dir.to_path_buf(),
        };
        // The folder only: what the test put in it (a device node) keeps its owner.
        run_ok("chown", &[&user.name, dir.to_str().unwrap()]);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        user
    }

    /// `qcmdr ARGS` as this user, with only the groups `/etc/group` gives them when `login`
    /// (as a fresh login would), else none but their own (a session older than the listing).
    fn qcmdr(&self, args: &[&str], env: &[(&str, &str)], login: bool) -> Run {
        // Found on the test's PATH: the user's may not have it.
        let mut command =
            Command::new(qcmdr::runtime::executable::find_on_path("setpriv").unwrap());
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg(if login {
                "--init-groups"
            } else {
                "--clear-groups"
            })
            .arg(env!("CARGO_BIN_EXE_qcmdr"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", &self.dir)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        Run::of(command.output().unwrap())
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        for pid in processes_mentioning(&self.dir) {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        for path in &self.planted {
            let _ = std::fs::remove_dir_all(path);
        }
        let _ = Command::new("userdel").arg(&self.name).status();
        for group in &self.groups {
            let _ = Command::new("groupdel").arg(group).status();
        }
    }
}

/// A group made for one test; `ThrowawayUser` removes it (after the user, its member).
fn throwaway_group() -> String {
    let name = unique("qdocg");
    run_ok("groupadd", &["--system", &name]);
    name
}

/// A KVM device node (10:232, the real one) owned by root and `group`, with `mode`.
fn kvm_node(dir: &Path, group: &str, mode: u32) -> PathBuf {
    let node = dir.join("kvm");
    run_ok("mknod", &[node.to_str().unwrap(), "c", "10", "232"]);
    run_ok("chown", &[&format!("root:{group}"), node.to_str().unwrap()]);
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(mode)).unwrap();
    node
}

/// A config with one VM `vm` whose QEMU arguments are `machine` and `extra` (no guest needed:
/// these tests never boot it), and `top` fields.
fn config(machine: &str, extra: &str, top: &str) -> String {
    config_with(machine, extra, "", top)
}

/// [`config`] with more fields (`fields`) in the VM's table.
fn config_with(machine: &str, extra: &str, fields: &str, top: &str) -> String {
    format!(
        r#"return {{ {top}
  vms = {{ {{ name = "vm", arch = "x86_64", {fields} ssh = {{ Port = 2222, User = "root", IdentityFile = "/dev/null" }},
    args = {{ "-machine {machine}", "-m 128", "-display none", "-nodefaults", {extra} }} }} }},
}}
"#
    )
}

/// A VM on a `debian` image: a build as a regular user needs user namespaces.
fn debian_image_config() -> String {
    config_with(
        "q35,accel=tcg",
        "",
        r#"image = "deb","#,
        r#"images = { deb = { builder = "debian", suite = "bookworm", size = "2G" } },"#,
    )
}

/// A folder `bin` in `dir` holding only `tools` (links to this machine's), for a PATH
/// without the rest.
fn tool_bin(dir: &Path, tools: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in tools {
        let real = qcmdr::runtime::executable::find_on_path(tool).unwrap();
        std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
    }
    bin
}

fn assert_line(run: &Run, needle: &str) {
    assert!(
        run.stdout.contains(needle),
        "stdout lacks {needle:?}\n{run}"
    );
}

#[test]
fn doctor_kvm_not_in_the_group_names_usermod() {
    let test = CliTest::with_config(&config("q35,accel=kvm", "", ""));
    let group = throwaway_group();
    let node = kvm_node(test.path(), &group, 0o660);
    let mut user = ThrowawayUser::new(test.path(), &[]);
    user.groups.push(group.clone());
    let run = user.qcmdr(
        &["doctor", "vm"],
        &[("QCMDR_KVM_DEVICE", node.to_str().unwrap())],
        true,
    );
    assert_eq!(run.code, 1, "{run}");
    assert_line(
        &run,
        &format!(
            "FAILED  kvm vm: configured for KVM (-machine q35,accel=kvm), so it cannot start here: \
             {} belongs to group {group} (mode 0660) and {} is not in that group",
            node.display(),
            user.name
        ),
    );
    assert_line(
        &run,
        &format!("fix: add yourself: sudo usermod -aG {group} {}", user.name),
    );
}

#[test]
fn doctor_kvm_owner_only_device_says_to_let_a_group_in() {
    let test = CliTest::with_config(&config("q35,accel=kvm", "", ""));
    let node = kvm_node(test.path(), "root", 0o600);
    let user = ThrowawayUser::new(test.path(), &[]);
    let run = user.qcmdr(
        &["doctor"],
        &[("QCMDR_KVM_DEVICE", node.to_str().unwrap())],
        true,
    );
    assert_eq!(run.code, 1, "{run}");
    assert_line(&run, "only its owner may open it");
    assert_line(&run, &format!("sudo chmod 0660 {}", node.display()));
    assert_line(&run, &format!("sudo usermod -aG kvm {}", user.name));
}

#[test]
fn doctor_kvm_group_listed_but_not_in_this_process_says_log_in_again() {
    let test = CliTest::with_config(&config("q35,accel=kvm", "", ""));
    let group = throwaway_group();
    let node = kvm_node(test.path(), &group, 0o660);
    let mut user = ThrowawayUser::new(test.path(), &[&group]);
    user.groups.push(group.clone());
    let env = [("QCMDR_KVM_DEVICE", node.to_str().unwrap())];
    // A session from before `usermod -aG`: /etc/group lists the user, the process lacks it.
    let stale = user.qcmdr(&["doctor", "--json"], &env, false);
    assert_eq!(stale.code, 1, "{stale}");
    let doc = stale.json();
    assert_eq!(doc["schema"], "qcmdr.doctor/1");
    assert_eq!(doc["ok"], false);
    let kvm = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "kvm")
        .unwrap();
    assert_eq!(kvm["status"], "failure", "{kvm}");
    assert_eq!(kvm["subject"], "vm");
    assert!(
        kvm["summary"].as_str().unwrap().contains(&format!(
            "/etc/group lists {} in {group}, but this process does not have that group",
            user.name
        )),
        "{kvm}"
    );
    assert!(
        kvm["fix"]
            .as_str()
            .unwrap()
            .contains("a fresh login is needed after usermod"),
        "{kvm}"
    );
    // A fresh login has the group: the device opens and really makes a VM.
    let fresh = user.qcmdr(&["doctor"], &env, true);
    assert_line(
        &fresh,
        &format!(
            "ok      kvm: KVM works: {} opens read-write and makes a VM with a vCPU",
            node.display()
        ),
    );
}

#[test]
fn doctor_without_uidmap_says_install_it() {
    // A debian image: a build as this (regular) user needs newuidmap. PATH lacks it (and the
    // rest of /usr/bin, which only adds failures this test does not look at).
    let test = CliTest::with_config(&debian_image_config());
    let bin = tool_bin(
        test.path(),
        &["unshare", "qemu-system-x86_64", "ssh", "scp"],
    );
    let user = ThrowawayUser::new(test.path(), &[]);
    let run = user.qcmdr(&["doctor"], &[("PATH", bin.to_str().unwrap())], true);
    assert_eq!(run.code, 1, "{run}");
    assert_line(
        &run,
        "FAILED  uidmap: newuidmap/newgidmap are not on PATH, so no subordinate ids can be mapped",
    );
    assert_line(&run, "fix: sudo apt-get install uidmap");
}

#[test]
fn doctor_without_a_subuid_range_says_usermod_add_subuids() {
    let test = CliTest::with_config(&debian_image_config());
    // A system user: useradd gives it no subordinate ids.
    let user = ThrowawayUser::new(test.path(), &[]);
    let run = user.qcmdr(&["doctor"], &[], true);
    assert_eq!(run.code, 1, "{run}");
    assert_line(
        &run,
        &format!(
            "FAILED  subuid: /etc/subuid gives {} 0 subordinate ids (a rootless image build needs 65536)",
            user.name
        ),
    );
    assert_line(
        &run,
        &format!(
            "fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}",
            user.name
        ),
    );
}

#[test]
fn doctor_a_deep_state_dir_whose_short_socket_folder_is_not_ours_fails() {
    let test = CliTest::with_config(&config("q35,accel=tcg", "", ""));
    let deep = test.path().join("s".repeat(60)).join("t".repeat(60));
    let mut user = ThrowawayUser::new(test.path(), &[]);
    // Someone else (root here) made the short socket folder first.
    let short = PathBuf::from(format!("/tmp/qcmdr-{}", user.uid));
    std::fs::create_dir(&short).unwrap();
    user.planted.push(short.clone());
    let run = user.qcmdr(
        &["doctor", "vm"],
        &[("QCMDR_STATE_DIR", deep.to_str().unwrap())],
        true,
    );
    assert_eq!(run.code, 1, "{run}");
    assert_line(
        &run,
        &format!(
            "FAILED  sockets vm: the state dir {} is too deep for unix socket paths (107 bytes at most)",
            deep.display()
        ),
    );
    assert_line(
        &run,
        &format!(
            "{} is owned by uid 0, not by you (uid {})",
            short.display(),
            user.uid
        ),
    );
    assert_line(
        &run,
        &format!(
            "fix: remove {} (qcmdr makes it itself, private), or use a shorter --state-dir",
            short.display()
        ),
    );
}

#[test]
fn doctor_a_configured_socket_path_too_long_names_it() {
    let long = format!("/tmp/{}/extra.sock", "d".repeat(110));
    let test = CliTest::with_config(&config(
        "q35,accel=tcg",
        &format!(r#""-chardev socket,id=extra,path={long},server=on,wait=off""#),
        "",
    ));
    test.cmd(&["doctor", "vm"])
        .code(1)
        .stdout_has(format!(
            "FAILED  sockets vm: the socket path {long} in `socket,id=extra"
        ))
        .stdout_has("longer than a unix socket path may be (107)")
        .stdout_has(format!(
            "fix: shorten it in {}",
            test.config().canonicalize().unwrap().display()
        ))
        .run();
}

#[test]
fn doctor_a_missing_tool_names_its_package() {
    // rsync sync entries need rsync; this PATH has QEMU and ssh but no rsync.
    let test = CliTest::with_config(&config_with(
        "q35,accel=tcg",
        "",
        r#"sync = { { source = "/tmp", dest = "/src" } },"#,
        r#"sync_engine = "rsync","#,
    ));
    let bin = tool_bin(test.path(), &["qemu-system-x86_64", "ssh", "scp"]);
    test.cmd(&["doctor"])
        .env("PATH", &bin)
        .code(1)
        .stdout_has(
            "FAILED  tool rsync: rsync is not on PATH; it runs sync entries with engine rsync, \
             which this config uses",
        )
        .stdout_has("fix: sudo apt-get install rsync")
        .run();
}

#[test]
fn doctor_on_a_healthy_tcg_config_exits_0() {
    let test = CliTest::with_config(&config("q35,accel=tcg", "", ""));
    let run = test
        .cmd(&["doctor"])
        .stdout_has("ok      qemu qemu-system-x86_64: ")
        .stdout_has("ok      tool ssh: ")
        .stdout_has("\n0 failures")
        .run();
    assert!(!run.stdout.contains("FAILED"), "{run}");
}

#[test]
fn start_refuses_a_kvm_only_vm_before_launch_when_kvm_is_unusable() {
    let test = CliTest::with_config(&config("q35,accel=kvm", "", ""));
    let node = kvm_node(test.path(), "root", 0o600);
    let user = ThrowawayUser::new(test.path(), &[]);
    let run = user.qcmdr(
        &["start", "vm"],
        &[("QCMDR_KVM_DEVICE", node.to_str().unwrap())],
        true,
    );
    assert_eq!(run.code, 1, "{run}");
    for needle in [
        "the VM is configured for KVM (-machine q35,accel=kvm), so nothing was launched (or run \
         it under TCG: accel=tcg, slower; or let it fall back: accel=kvm:tcg); KVM is not usable \
         here: ",
        "only its owner may open it",
        "sudo chmod 0660",
    ] {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}\n{run}"
        );
    }
    assert!(
        !run.stderr.contains("qemu-system"),
        "QEMU's own words: {run}"
    );
    let vm_dir = test.path().join(".qcmdr/vm/vm");
    assert!(!vm_dir.join("qemu.pid").exists());
    assert!(!vm_dir.join("qemu.log").exists(), "QEMU ran");
    assert!(processes_mentioning(test.path()).is_empty());
}

#[test]
fn start_a_vm_with_a_tcg_fallback_starts_with_a_notice() {
    let test = CliTest::with_config(&config_with(
        "q35,accel=kvm:tcg",
        "",
        r#"wait_for = "none","#,
        "",
    ));
    // The real /dev/kvm, which a user outside its group cannot open: QEMU really falls back.
    let user = ThrowawayUser::new(test.path(), &[]);
    let run = user.qcmdr(&["start", "vm"], &[], true);
    let stop = user.qcmdr(&["stop", "--force", "vm"], &[], true);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr
            .contains("KVM is not usable here, so QEMU falls back to TCG (-machine q35,accel=kvm:tcg; slower)"),
        "{run}"
    );
    assert_eq!(stop.code, 0, "{stop}");
}

#[test]
fn init_as_a_user_without_kvm_explains_its_tcg_choice() {
    let test = CliTest::new();
    let node = kvm_node(test.path(), "root", 0o600);
    let user = ThrowawayUser::new(test.path(), &[]);
    let run = user.qcmdr(
        &["init", "proj"],
        &[("QCMDR_KVM_DEVICE", node.to_str().unwrap())],
        true,
    );
    assert_eq!(run.code, 0, "{run}");
    for needle in [
        "accelerator: TCG (the CPU is emulated, slower), because KVM is not usable here: ",
        "only its owner may open it",
        "to use KVM: let a group in",
        "then set accel=kvm and -cpu host in conf.lua (qcmdr doctor rechecks)",
    ] {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}\n{run}"
        );
    }
    let written = std::fs::read_to_string(test.path().join("proj/conf.lua")).unwrap();
    assert!(
        written.contains(
            "-- TCG (the CPU is emulated), because KVM was not usable when qcmdr init ran: "
        ),
        "{written}"
    );
    assert!(
        written.contains(r#""-machine q35,accel=tcg", "-cpu max""#),
        "{written}"
    );
}

#[test]
fn doctor_checks_that_a_foreign_debian_build_can_run_its_programs() {
    // An aarch64 VM on a debian image: the build runs arm64 programs through qemu-user,
    // which scripts/deps.sh registered with binfmt_misc (as Debian's qemu-user-static does
    // where systemd runs).
    let test = CliTest::with_config(
        &debian_image_config().replace(r#"arch = "x86_64""#, r#"arch = "aarch64""#),
    );
    let run = test
        .cmd(&["doctor"])
        .stdout_has(
            "ok      binfmt aarch64: aarch64 programs run here through qemu-user \
             (/proc/sys/fs/binfmt_misc/qemu-aarch64)\n",
        )
        .run();
    // An x86_64 image needs no emulation: no such check.
    let native = CliTest::with_config(&debian_image_config());
    let run_native = native.cmd(&["doctor"]).run();
    assert!(!run_native.stdout.contains("binfmt"), "{run_native}");
    assert!(!run.stdout.contains("binfmt x86_64"), "{run}");
}
