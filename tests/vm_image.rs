//! Guest images, for real: `debian` images built with mmdebstrap (cached across test runs in
//! the fixed test cache, see `support::test_cache_home`), booted under TCG to SSH, checked from
//! inside (and the same recipe built for aarch64 through qemu-user); the `cloud` path
//! offline; a custom kernel; a failed build; `qcmdr run` of an image-backed VM over its own
//! disk.
//!
//! A systemd guest under TCG takes 15-40 s to boot on a loaded machine: the timeouts are
//! generous on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{free_port, Project, Run};

/// The test image: a package, a file and a `run` command to find inside.
const BOX: &str = r#"box = { builder = "debian", suite = "bookworm", size = "2G",
      packages = { "hello" },
      files = { ["/etc/qcmdr-test"] = "made by a recipe\n" },
      run = { "useradd -m dev" } },"#;

/// `box` with one more file: another recipe, so another build.
const BOX_CHANGED: &str = r#"box = { builder = "debian", suite = "bookworm", size = "2G",
      packages = { "hello" },
      files = { ["/etc/qcmdr-test"] = "made by a recipe\n", ["/etc/changed"] = "yes\n" },
      run = { "useradd -m dev" } },"#;

/// A Debian image with cloud-init, to stand in for a cloud image offline.
const CINIT: &str = r#"cinit = { builder = "debian", suite = "bookworm", size = "2G",
      packages = { "cloud-init" } },"#;

/// One image-backed VM `name` on `image` (more Lua fields in `extra`).
fn vm_lua(name: &str, image: &str, port: u16, extra: &str) -> String {
    format!(
        r#"    {{
      name = "{name}", arch = "x86_64", image = "{image}",
      login_timeout = 300, ssh_timeout = 120, stop_timeout = 60,
      {extra}
      ssh = {{ Port = {port} }},
      args = {{
        "-machine q35,accel=tcg", "-cpu max", "-smp 2", "-m 1024", "-display none",
        "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device virtio-net-pci,netdev=net0",
      }},
    }},
"#
    )
}

/// A project whose `conf.lua` holds `images` and `vms` as given.
fn project(images: &str, vms: &str) -> Project {
    let project = Project::new(vec![]);
    write_config(&project, images, vms);
    project
}

fn write_config(project: &Project, images: &str, vms: &str) {
    fs::write(
        project.config(),
        format!("return {{\n  images = {{\n    {images}\n  }},\n  vms = {{\n{vms}  }},\n}}\n"),
    )
    .unwrap();
}

/// The `image list --json` entry of `name`.
fn listed(project: &Project, name: &str) -> serde_json::Value {
    let list = project.ok(&["image", "list", "--json"]).json();
    assert_eq!(list["schema"], "qcmdr.images/1");
    list["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
        .clone()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn exec(project: &Project, vm: &str, script: &str) -> Run {
    project.ok(&["exec", vm, "sh", "-c", script])
}

#[test]
fn vm_image_debian_boots_to_ssh_with_its_recipe_and_never_changes_the_image() {
    let port = free_port();
    let project = project(BOX, &vm_lua("dev", "box", port, ""));

    // `start` builds the image first when it is missing (cached from earlier runs otherwise).
    let started = project.ok(&["start", "dev"]);
    assert!(started.stderr.contains("dev: ready in"), "{started}");
    let image = listed(&project, "box");
    assert_eq!(image["built"], true, "{image}");
    assert_eq!(image["builder"], "debian");
    assert!(image["packages"]["hello"].is_string(), "{image}");
    assert!(image["packages"]["openssh-server"].is_string(), "{image}");
    assert!(image["size_bytes"].as_u64().unwrap() > 0);
    assert!(image["built_at"].as_f64().unwrap() > 0.0);
    let disk = PathBuf::from(image["disk"].as_str().unwrap());
    let kernel = PathBuf::from(image["kernel"].as_str().unwrap());
    assert!(kernel.is_file() && Path::new(image["initrd"].as_str().unwrap()).is_file());
    let image_sum = sha256(&disk);

    // The package, the file and the `run` result, seen from inside; logged in as root with the
    // image's own key (the config names neither).
    let inside = exec(
        &project,
        "dev",
        "hello; cat /etc/qcmdr-test; id -u dev; id -un; findmnt -no SOURCE /",
    );
    let lines: Vec<&str> = inside.stdout.lines().collect();
    assert_eq!(lines[0], "Hello, world!", "{inside}");
    assert_eq!(lines[1], "made by a recipe", "{inside}");
    assert!(lines[2].parse::<u32>().is_ok(), "{inside}");
    assert_eq!(lines[3], "root", "{inside}");
    assert_eq!(lines[4], "/dev/vda", "{inside}");

    // The VM writes to its disk: the write lands in its overlay, never in the image.
    exec(&project, "dev", "echo kept > /root/written && sync");
    project.ok(&["stop", "dev"]);
    assert_eq!(sha256(&disk), image_sum, "running the VM changed the image");
    let overlay = project.vm_dir("dev").join("disk.qcow2");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(&overlay)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["backing-filename"], disk.to_str().unwrap(), "{info}");

    // The disk survives a restart; --reset-disk starts from the image again.
    project.ok(&["start", "dev"]);
    assert_eq!(exec(&project, "dev", "cat /root/written").stdout, "kept\n");
    project.ok(&["stop", "dev"]);
    let reset = project.ok(&["start", "--reset-disk", "dev"]);
    assert!(
        reset.stderr.contains("fresh disk over image box"),
        "{reset}"
    );
    let gone = exec(
        &project,
        "dev",
        "test -e /root/written && echo there || echo gone",
    );
    assert_eq!(gone.stdout, "gone\n");

    // `snapshot restore` of the running VM: its overlay (held by QEMU) is asked over QMP
    // whether it holds the snapshot, then reverted with the RAM.
    exec(&project, "dev", "echo saved > /root/state && sync");
    project.ok(&["snapshot", "save", "dev", "s1"]);
    exec(&project, "dev", "echo later > /root/state && sync");
    let restored = project.ok(&["snapshot", "restore", "dev", "s1"]);
    assert!(
        restored.stderr.contains("dev: ready from snapshot \"s1\""),
        "{restored}"
    );
    assert_eq!(exec(&project, "dev", "cat /root/state").stdout, "saved\n");
    project.ok(&["stop", "dev"]);
    assert_eq!(sha256(&disk), image_sum);
}

#[test]
fn vm_image_debian_aarch64_from_the_same_recipe_boots_to_ssh_and_runs() {
    // The recipe of the x86_64 test, booted by an aarch64 VM too: the config makes one build
    // per arch, and the aarch64 one (arm64 packages set up through qemu-user) is the VM's.
    let arm_port = free_port();
    let arm = format!(
        r#"    {{
      name = "arm", arch = "aarch64", image = "box",
      login_timeout = 600, ssh_timeout = 120, stop_timeout = 60,
      ssh = {{ Port = {arm_port} }},
      args = {{ "-smp 2", "-m 1024", "-display none" }},
    }},
"#
    );
    let project = project(BOX, &(vm_lua("dev", "box", free_port(), "") + &arm));
    let list = project.ok(&["image", "list", "--json"]).json();
    let builds: Vec<&serde_json::Value> = list["images"].as_array().unwrap().iter().collect();
    let arches: Vec<&str> = builds.iter().map(|b| b["arch"].as_str().unwrap()).collect();
    assert_eq!(arches, ["aarch64", "x86_64"], "{list}");
    assert_ne!(builds[0]["key"], builds[1]["key"], "{list}");

    // `start arm` builds (or finds cached) the aarch64 build only, and boots its kernel.
    let started = project.ok(&["start", "arm"]);
    assert!(started.stderr.contains("arm: ready in"), "{started}");
    let list = project.ok(&["image", "list", "--json"]).json();
    let arm_build = &list["images"][0];
    assert_eq!(arm_build["built"], true, "{list}");
    assert!(arm_build["packages"]["hello"].is_string(), "{list}");
    assert!(
        arm_build["packages"]["linux-image-cloud-arm64"].is_string(),
        "{list}"
    );

    // The recipe's package, file and `run`, seen from inside an arm64 system.
    let inside = exec(
        &project,
        "arm",
        "uname -m; dpkg --print-architecture; hello; cat /etc/qcmdr-test; id -u dev; id -un",
    );
    let lines: Vec<&str> = inside.stdout.lines().collect();
    assert_eq!(
        lines[..4],
        ["aarch64", "arm64", "Hello, world!", "made by a recipe"],
        "{inside}"
    );
    assert!(lines[4].parse::<u32>().is_ok(), "{inside}");
    assert_eq!(lines[5], "root", "{inside}");
    project.ok(&["stop", "arm"]);
    assert_eq!(project.pid("arm"), None);

    // `run` boots a throwaway instance of it and hands back the command's exit code.
    let run = project.run(&["run", "arm", "--", "sh", "-c", "uname -m; exit 3"]);
    assert_eq!((run.code, run.stdout.trim()), (3, "aarch64"), "{run}");
    assert_eq!(project.pid("arm"), None);
}

/// Owner, group and permission bits of `path` inside the ext4 file system `raw`, read with
/// debugfs (no mount needed, so this works for any user).
fn owner_and_mode(raw: &Path, path: &str) -> (u32, u32, u32) {
    // debugfs is in /usr/sbin, which a regular user's PATH lacks on Debian.
    let debugfs = ["/usr/sbin/debugfs", "/sbin/debugfs"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("debugfs is not installed (Debian: apt-get install e2fsprogs)");
    let out = Command::new(debugfs)
        .args(["-R", &format!("stat {path}")])
        .arg(raw)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u32 {
        let after = text
            .split_once(name)
            .unwrap_or_else(|| panic!("no {name} for {path} in: {text}"))
            .1;
        let word = after.split_whitespace().next().unwrap();
        if name == "Mode:" {
            u32::from_str_radix(word, 8).unwrap()
        } else {
            word.parse().unwrap()
        }
    };
    (field("User:"), field("Group:"), field("Mode:"))
}

/// The image's files have the owners the guest needs whoever built it: root, or (in CI's
/// run as a regular user) a user namespace over the builder's subordinate ids.
#[test]
fn vm_image_debian_files_have_the_guests_owners_whoever_built_it() {
    let project = project(BOX, &vm_lua("dev", "box", free_port(), ""));
    project.ok(&["image", "build", "box"]);
    let disk = PathBuf::from(
        listed(&project, "box")["disk"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let raw = project.path().join("disk.raw");
    let convert = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .args([&disk, &raw])
        .output()
        .unwrap();
    assert!(convert.status.success(), "{convert:?}");

    assert_eq!(owner_and_mode(&raw, "/etc"), (0, 0, 0o755));
    assert_eq!(owner_and_mode(&raw, "/etc/qcmdr-test"), (0, 0, 0o644));
    assert_eq!(owner_and_mode(&raw, "/usr/bin/passwd"), (0, 0, 0o4755));
    assert_eq!(owner_and_mode(&raw, "/root/.ssh"), (0, 0, 0o700));
    assert_eq!(
        owner_and_mode(&raw, "/root/.ssh/authorized_keys"),
        (0, 0, 0o600)
    );
    // Other users keep their own ids: shadow's group, the recipe's `useradd -m dev`.
    let shadow_gid = owner_and_mode(&raw, "/etc/shadow").1;
    assert_ne!(shadow_gid, 0);
    assert_eq!(owner_and_mode(&raw, "/etc/shadow"), (0, shadow_gid, 0o640));
    let (dev_uid, dev_gid, _) = owner_and_mode(&raw, "/home/dev");
    assert!(dev_uid >= 1000 && dev_gid >= 1000, "{dev_uid}:{dev_gid}");
    // The built image on the host belongs to whoever built it, private to them.
    let owner = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&disk).unwrap());
    assert_eq!(
        owner,
        rustix::process::getuid().as_raw(),
        "{}",
        disk.display()
    );
    let folder = fs::metadata(disk.parent().unwrap()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&folder.permissions()) & 0o777,
        0o700
    );
}

/// A Ctrl-C during a build whose root filesystem already holds files of the guest's other
/// users (a fake mmdebstrap makes `home/dev`, uid 100, 0700, then waits) leaves nothing: as a
/// regular user those files belong to a subordinate id, which only the namespace can remove.
#[test]
fn vm_image_interrupted_build_leaves_no_files_of_the_guests_users() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use crate::support::{alive, signal_and_collect, wait_until, KillOnDrop};
    use rustix::process::{kill_process, Pid, Signal};

    let project = project(
        r#"fake = { builder = "debian", packages = { "interrupted-before-apt" } },"#,
        "",
    );
    let (bin, started) = (project.path().join("bin"), project.path().join("started"));
    fs::create_dir(&bin).unwrap();
    // The target is mmdebstrap's last argument but one (the mirror is the last).
    let script = format!(
        "#!/bin/sh
for a; do root=$last; last=$a; done
         mkdir -p \"$root/home/dev\" && touch \"$root/home/dev/file\"
         chown -R 100:100 \"$root/home/dev\" && chmod 700 \"$root/home/dev\"
         sleep 3600 &
echo \"$$ $!\" > {0}.tmp && mv {0}.tmp {0}
wait
",
        started.display()
    );
    fs::write(bin.join("mmdebstrap"), script).unwrap();
    fs::set_permissions(bin.join("mmdebstrap"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut qcmdr = KillOnDrop(
        project
            .command(&["image", "build", "fake"])
            .env("PATH", path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let fake_pids = || -> Vec<i32> {
        fs::read_to_string(&started)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    };
    struct KillFake<F: Fn() -> Vec<i32>>(F);
    impl<F: Fn() -> Vec<i32>> Drop for KillFake<F> {
        fn drop(&mut self) {
            for pid in (self.0)().into_iter().filter(|pid| alive(*pid)) {
                let _ = kill_process(Pid::from_raw(pid).unwrap(), Signal::KILL);
            }
        }
    }
    let _fake = KillFake(fake_pids);
    assert!(
        wait_until(Duration::from_secs(120), || started.exists()),
        "the fake mmdebstrap never ran"
    );
    let images = crate::support::test_cache_home().join("qcmdr/images");
    let build_dirs = || -> Vec<PathBuf> {
        fs::read_dir(&images)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(".build-fake-") && name.ends_with(&format!(".{}", qcmdr.id()))
            })
            .collect()
    };
    let building = build_dirs();
    assert_eq!(building.len(), 1, "{building:?}");
    // Someone else's: uid 100 as root, the subordinate id the namespace maps 100 to otherwise.
    let dev = fs::metadata(building[0].join("rootfs/home/dev")).unwrap();
    let me = rustix::process::getuid().as_raw();
    assert_ne!(std::os::unix::fs::MetadataExt::uid(&dev), me);

    let (code, stderr) = signal_and_collect(&mut qcmdr, Signal::INT, "qcmdr image build");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains(r#"error: image "fake": build interrupted; nothing was kept"#),
        "{stderr}"
    );
    assert!(
        !building[0].exists(),
        "{} is left\n{stderr}",
        building[0].display()
    );
}

#[test]
fn vm_image_unchanged_recipe_is_not_rebuilt_and_a_changed_one_is() {
    let project = project(BOX, "");
    project.ok(&["image", "build", "box"]);
    let before = listed(&project, "box");
    let manifest = Path::new(before["disk"].as_str().unwrap()).with_file_name("manifest.json");
    let built_at = fs::metadata(&manifest).unwrap().modified().unwrap();

    let again = project.ok(&["image", "build", "box"]);
    assert!(again.stderr.contains("image box: up to date"), "{again}");
    assert_eq!(
        fs::metadata(&manifest).unwrap().modified().unwrap(),
        built_at
    );
    assert_eq!(listed(&project, "box")["key"], before["key"]);

    write_config(&project, BOX_CHANGED, "");
    let changed = listed(&project, "box");
    assert_ne!(
        changed["key"], before["key"],
        "a changed recipe has a new key"
    );
    let build = project.ok(&["image", "build", "box"]);
    assert!(
        build.stderr.contains("image box: built in") || build.stderr.contains("up to date"),
        "{build}"
    );
    let changed = listed(&project, "box");
    assert_eq!(changed["built"], true);
    assert_ne!(changed["disk"], before["disk"]);
    // The old build stays until gc (the config now names only the changed recipe).
    assert!(manifest.is_file(), "the old build is kept until gc");
}

#[test]
fn vm_image_failed_build_names_the_package_and_leaves_nothing() {
    let project = project(
        r#"broken = { builder = "debian", packages = { "no-such-package-qcmdr" } },"#,
        "",
    );
    // Its own cache: a failed build must never be cached, and nothing else must be in the way.
    let cache = tempfile::tempdir().unwrap();
    let run = Run::of(
        project
            .command(&["image", "build", "broken"])
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("no package named \"no-such-package-qcmdr\""),
        "{run}"
    );
    assert!(run.stderr.contains("last lines of the build log"), "{run}");
    let images = cache.path().join("qcmdr/images");
    let left: Vec<String> = fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert_eq!(
        left,
        ["broken.failed.log"],
        "only the failed build's log is kept"
    );
}

#[test]
fn vm_image_cloud_seed_installs_the_key_and_runs_user_data_offline() {
    let port = free_port();
    let project = project(CINIT, "");
    project.ok(&["image", "build", "cinit"]);
    let cinit = listed(&project, "cinit");
    let disk = cinit["disk"].as_str().unwrap();
    let sum = sha256(Path::new(disk));
    // The cloud image has no boot loader (a bare root filesystem): it boots the kernel of the
    // image it was made from, through the VM's own kernel/initrd keys.
    let cloud = format!(
        r#"{CINIT}
    cloudy = {{ builder = "cloud", file = "{disk}", sha256 = "{sum}", size = "3G",
      user_data = [[#cloud-config
hostname: cloudy-host
write_files:
  - path: /var/tmp/from-user-data
    content: "written by user_data\n"
]] }},"#
    );
    let boot = format!(
        r#"kernel = "{}", initrd = "{}","#,
        cinit["kernel"].as_str().unwrap(),
        cinit["initrd"].as_str().unwrap()
    );
    write_config(&project, &cloud, &vm_lua("cvm", "cloudy", port, &boot));
    let show = project.ok(&["show", "cvm", "--json"]).json();
    let added: Vec<String> = serde_json::from_value(show["image"]["added_args"].clone()).unwrap();
    assert!(added.iter().any(|a| a.contains("seed.iso")), "{added:?}");

    // `start` builds a missing image first, with the build's progress (a cached build from an
    // earlier run is removed first: a cloud build is only a copy and a seed).
    project.ok(&["image", "rm", "cloudy"]);
    let started = project.ok(&["start", "cvm"]);
    for line in [
        "image cloudy: checking the SHA-256",
        "image cloudy: making the cloud-init seed",
        "image cloudy: built in",
        "cvm: ready in",
    ] {
        assert!(
            started.stderr.contains(line),
            "{line:?} missing:\n{started}"
        );
    }
    // The login worked with the cloud image's own key: cloud-init installed it from the seed.
    let inside = exec(
        &project,
        "cvm",
        "hostname; cat /var/tmp/from-user-data; blkid -L cidata",
    );
    let lines: Vec<&str> = inside.stdout.lines().collect();
    assert_eq!(lines[0], "cloudy-host", "{inside}");
    assert_eq!(lines[1], "written by user_data", "{inside}");
    assert!(lines[2].starts_with("/dev/vd"), "{inside}");
    project.ok(&["stop", "cvm"]);
}

#[test]
fn vm_image_kernel_key_boots_a_kernel_from_elsewhere_against_the_image() {
    let port = free_port();
    let project = project(BOX, "");
    project.ok(&["image", "build", "box"]);
    let image = listed(&project, "box");
    // A kernel developer's fresh build, standing in: the image's own kernel, copied.
    fs::copy(
        image["kernel"].as_str().unwrap(),
        project.path().join("bzImage"),
    )
    .unwrap();
    fs::copy(
        image["initrd"].as_str().unwrap(),
        project.path().join("initrd.cpio"),
    )
    .unwrap();
    let boot = r#"kernel = "bzImage", initrd = "initrd.cpio",
      append = "root=/dev/vda rw console=ttyS0 qcmdr.mark=1","#;
    write_config(&project, BOX, &vm_lua("kdev", "box", port, boot));

    let show = project.ok(&["show", "kdev"]).stdout;
    let own = project.path().join("bzImage");
    assert!(
        show.contains(&format!("-kernel {}", own.display())),
        "{show}"
    );

    project.ok(&["start", "kdev"]);
    let cmdline = exec(&project, "kdev", "cat /proc/cmdline").stdout;
    assert!(cmdline.contains("qcmdr.mark=1"), "{cmdline}");
    project.ok(&["stop", "kdev"]);
}

/// `qcmdr run` of an image-backed VM (docs/run.md): the instance boots the VM's own disk as
/// its last start left it, writes only to QEMU's throwaway overlay, and leaves the disk as it
/// was; from a snapshot, it runs on a copy of the disk.
#[test]
fn vm_image_run_boots_the_vm_s_own_disk_and_never_writes_it() {
    let port = free_port();
    let project = project(BOX, &vm_lua("dev", "box", port, ""));
    project.ok(&["start", "dev"]);
    exec(&project, "dev", "echo mine > /root/own && sync");
    project.ok(&["snapshot", "save", "dev", "s1", "--stop"]);
    let overlay = project.vm_dir("dev").join("disk.qcow2");
    let before = sha256(&overlay);

    let run = project.run(&[
        "run",
        "dev",
        "--",
        "sh",
        "-c",
        "cat /root/own && echo lost > /root/own && sync && cat /root/own",
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout, "mine\nlost\n", "{run}");
    assert_eq!(sha256(&overlay), before, "the run wrote the VM's disk");
    // From the snapshot: the instance runs on a copy of the disk, reverted to it.
    let restored = project.run(&[
        "run",
        "--from",
        "s1",
        "dev",
        "--",
        "sh",
        "-c",
        "cat /root/own && rm /root/own && sync",
    ]);
    assert_eq!(
        (restored.code, restored.stdout.as_str()),
        (0, "mine\n"),
        "{restored}"
    );
    assert_eq!(sha256(&overlay), before, "the run wrote the VM's disk");
    let runs = project.state().join("run");
    assert_eq!(fs::read_dir(&runs).unwrap().count(), 0);
    assert!(crate::support::processes_mentioning(&runs).is_empty());
}
