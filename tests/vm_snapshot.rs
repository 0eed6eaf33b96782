//! Snapshots on real QEMU with the real guest: save, start --from, restore, list, delete, the
//! refusals (changed machine, raw disk, migration blocker, missing snapshot), qcow2 disks
//! reverted with the RAM, a save while rsync runs, a restore under one lock that a racing
//! start cannot slip into, a delete a disk refuses, and damaged snapshots (garbage metadata,
//! a state file cut short, changed or missing) listed as such, refused before launch, deleted.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{processes_mentioning, wait_until, KillOnDrop, Project, VmSpec};
use crate::vm_sync::{rsync_project, write_tree};

fn guest_has(project: &Project, path: &str) -> bool {
    project.run(&["exec", "demo", "test", "-e", path]).code == 0
}

/// Guest clock minus host clock, in seconds (busybox `date` has whole seconds only).
fn clock_skew(project: &Project) -> f64 {
    let before = host_now();
    let guest: f64 = project
        .ok(&["exec", "demo", "date", "+%s"])
        .stdout
        .trim()
        .parse()
        .unwrap();
    let after = host_now();
    guest + 0.5 - (before + after) / 2.0
}

fn host_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn snapshot_names(project: &Project) -> Vec<String> {
    let list = project.ok(&["snapshot", "list", "--json"]).json();
    assert_eq!(list["schema"], "qcmdr.snapshots/1", "{list}");
    list["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn qemu_img_snapshots(image: &Path) -> String {
    let out = Command::new("qemu-img")
        .args(["snapshot", "-U", "-l"])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new empty 16 MiB qcow2 `image` and the `-drive` option attaching it as `id`.
fn qcow2_drive(image: &Path, id: &str) -> String {
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(image)
        .arg("16M")
        .status()
        .unwrap();
    assert!(made.success());
    format!(
        "-drive file={},if=virtio,format=qcow2,id={id}",
        image.display()
    )
}

/// The demo VM with a new 16 MiB qcow2 data disk (`/dev/vda`, drive `data`) in its `args`,
/// as the ancestor's configs give disks; its blocks written and read from inside the guest.
struct WithDisk {
    project: Project,
    image: PathBuf,
}

impl WithDisk {
    fn new() -> Self {
        let mut project = Project::new(vec![VmSpec::new("demo")]);
        let image = project.path().join("data.qcow2");
        project.vms[0] = project.vms[0]
            .clone()
            .qemu_arg(&qcow2_drive(&image, "data"));
        project.write_config("");
        WithDisk { project, image }
    }

    fn write(&self, block: u32, text: &str) {
        let script = format!(
            "printf {text} | dd of=/dev/vda bs=512 seek={block} conv=fsync 2>/dev/null && sync"
        );
        self.project.ok(&["exec", "demo", "sh", "-c", &script]);
    }

    fn read(&self, block: u32) -> String {
        let script =
            format!("dd if=/dev/vda bs=512 skip={block} count=1 2>/dev/null | tr -d '\\0'");
        self.project
            .ok(&["exec", "demo", "sh", "-c", &script])
            .stdout
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn vm_snapshot_diskless_save_start_from_restore_and_delete() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let refused = project.run(&["snapshot", "save", "demo", "base"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("demo: not running; start it first"),
        "{refused}"
    );

    project.ok(&["start", "demo"]);
    project.ok(&["exec", "demo", "sh", "-c", "echo kept > /tmp/before"]);
    let save = project.ok(&["snapshot", "save", "demo", "base"]);
    assert!(
        save.stderr.contains("demo: saved snapshot \"base\" in "),
        "{save}"
    );
    assert!(save.stderr.contains(" MiB)"), "{save}");
    // It keeps running, with its clock set again after the pause.
    project.ok(&["exec", "demo", "sh", "-c", "echo lost > /tmp/after"]);
    assert!(clock_skew(&project).abs() <= 2.0);
    let again = project.run(&["snapshot", "save", "demo", "base"]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stderr.contains("exists already"), "{again}");

    let list = project.ok(&["snapshot", "list", "--json"]).json();
    let entry = &list["snapshots"][0];
    assert_eq!(
        (entry["vm"].as_str(), entry["name"].as_str()),
        (Some("demo"), Some("base"))
    );
    assert!(entry["size_bytes"].as_u64().unwrap() > 1_000_000, "{list}");
    assert!(entry["qemu_version"]
        .as_str()
        .unwrap()
        .starts_with(char::is_numeric));
    let folder = project.vm_dir("demo").join("snapshots");
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&folder.join("base")), 0o700);
    let table = project.ok(&["snapshot", "list", "demo"]);
    assert!(table.stdout.contains("demo  base"), "{table}");

    project.ok(&["stop", "demo"]);
    // A missing snapshot: refused, naming the ones that exist; nothing launched.
    let missing = project.run(&["start", "demo", "--from", "nope"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing
            .stderr
            .contains("demo: no snapshot \"nope\"; its snapshots: base"),
        "{missing}"
    );
    assert_eq!(project.pid("demo"), None);

    // A changed machine: refused with the option and both values; nothing launched.
    let config = fs::read_to_string(project.config()).unwrap();
    fs::write(project.config(), config.replace("-m 256", "-m 384")).unwrap();
    let changed = project.run(&["start", "demo", "--from", "base"]);
    assert_eq!(changed.code, 1, "{changed}");
    assert!(changed.stderr.contains("-m: 256 -> 384"), "{changed}");
    assert_eq!(changed.stderr.trim().lines().count(), 1, "{changed}");
    assert_eq!(project.pid("demo"), None);
    assert!(processes_mentioning(project.path()).is_empty());
    fs::write(project.config(), &config).unwrap();

    let from = project
        .ok(&["start", "demo", "--from", "base", "--json"])
        .json();
    let vm = &from["vms"][0];
    assert_eq!(vm["from_snapshot"], "base", "{from}");
    let stages: Vec<&str> = vm["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["launch", "restore", "ssh", "clock"], "{from}");
    assert!(guest_has(&project, "/tmp/before"));
    assert!(!guest_has(&project, "/tmp/after"));
    let skew = clock_skew(&project);
    assert!(skew.abs() <= 2.0, "guest clock off by {skew:.1} s");
    let status = project.ok(&["status", "--json"]).json();
    assert_eq!(status["vms"][0]["from_snapshot"], "base", "{status}");
    assert_eq!(status["vms"][0]["ssh"], "ok", "{status}");

    // Restore on the running VM: back to the saved state, a new QEMU.
    let pid = project.pid("demo").unwrap();
    project.ok(&["exec", "demo", "sh", "-c", "echo lost > /tmp/later"]);
    let restore = project.ok(&["snapshot", "restore", "demo", "base"]);
    assert!(
        restore
            .stderr
            .contains("demo: ready from snapshot \"base\""),
        "{restore}"
    );
    assert_ne!(project.pid("demo"), Some(pid));
    assert!(guest_has(&project, "/tmp/before"));
    assert!(!guest_has(&project, "/tmp/later"));

    // Deleting the snapshot the VM came from leaves it running; a cold start afterwards works.
    let delete = project.ok(&["snapshot", "delete", "demo", "base"]);
    assert!(
        delete.stdout.contains("deleted snapshot \"base\""),
        "{delete}"
    );
    assert!(snapshot_names(&project).is_empty());
    assert_eq!(fs::read_dir(&folder).unwrap().count(), 0);
    project.ok(&["exec", "demo", "true"]);
    project.ok(&["stop", "demo"]);
    let cold = project.ok(&["start", "demo", "--json"]).json();
    assert_eq!(cold["vms"][0]["from_snapshot"], serde_json::Value::Null);
    assert!(!guest_has(&project, "/tmp/before"));
    let gone = project.run(&["snapshot", "restore", "demo", "base"]);
    assert_eq!(gone.code, 1, "{gone}");
    assert!(
        gone.stderr
            .contains("demo: no snapshot \"base\" (there are none"),
        "{gone}"
    );
    project.ok(&["exec", "demo", "true"]);
}

#[test]
fn vm_snapshot_reverts_a_qcow2_disk_with_the_ram() {
    let disk = WithDisk::new();
    let (project, image) = (&disk.project, &disk.image);
    let write = |block: u32, text: &str| disk.write(block, text);
    let read = |block: u32| disk.read(block);

    project.ok(&["start", "demo"]);
    write(0, "before");
    project.ok(&["snapshot", "save", "demo", "disk1"]);
    assert!(qemu_img_snapshots(image).contains("disk1"));
    write(1, "after");
    project.ok(&["stop", "demo"]);

    project.ok(&["start", "demo", "--from", "disk1"]);
    assert_eq!(read(0), "before");
    assert_eq!(read(1), "");
    // A cold start after the restore reads the reverted disk, not the guest's cache.
    project.ok(&["stop", "demo"]);
    project.ok(&["start", "demo"]);
    assert_eq!(read(0), "before");
    assert_eq!(read(1), "");

    // Saved with --stop: the VM ends; deleting while it runs goes through QEMU, else qemu-img.
    project.ok(&["snapshot", "save", "demo", "disk2", "--stop"]);
    assert_eq!(project.pid("demo"), None);
    assert!(processes_mentioning(project.path()).is_empty());
    let list = project.ok(&["snapshot", "list", "--json"]).json();
    assert_eq!(list["snapshots"][1]["disks"][0]["device"], "data", "{list}");
    project.ok(&["start", "demo", "--from", "disk2"]);
    project.ok(&["snapshot", "delete", "demo", "disk2"]);
    assert!(!qemu_img_snapshots(image).contains("disk2"));
    assert_eq!(read(0), "before");
    project.ok(&["stop", "demo"]);
    project.ok(&["snapshot", "delete", "demo", "disk1"]);
    assert!(!qemu_img_snapshots(image).contains("disk1"));
}

#[test]
fn vm_snapshot_restore_of_a_running_vm_with_a_qcow2_disk_in_args_reverts_it() {
    // The ancestor's style: the disk is a `-drive` in `args`, locked by the running QEMU, so
    // the check before the stop must ask QEMU, not qemu-img.
    let disk = WithDisk::new();
    let (project, image) = (&disk.project, &disk.image);
    let write0 = |text: &str| disk.write(0, text);
    project.ok(&["start", "demo"]);
    write0("saved");
    project.ok(&["snapshot", "save", "demo", "s1"]);
    write0("later");
    let qemu = project.pid("demo").unwrap();
    let restored = project.ok(&["snapshot", "restore", "demo", "s1"]);
    assert!(
        restored.stderr.contains("demo: ready from snapshot \"s1\""),
        "{restored}"
    );
    assert_ne!(
        project.pid("demo"),
        Some(qemu),
        "a new QEMU runs the snapshot"
    );
    assert_eq!(disk.read(0), "saved");

    // A snapshot the disk no longer holds is refused before the VM is touched.
    let running = project.pid("demo").unwrap();
    let listed = Command::new("qemu-img")
        .args(["snapshot", "-U", "-l"])
        .arg(image)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("s1"));
    project.ok(&[
        "qmp",
        "demo",
        "blockdev-snapshot-delete-internal-sync",
        r#"{"device": "data", "name": "s1"}"#,
    ]);
    let refused = project.run(&["snapshot", "restore", "demo", "s1"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("has no internal snapshot \"s1\""),
        "{refused}"
    );
    assert_eq!(project.pid("demo"), Some(running), "the VM kept running");
    project.ok(&["stop", "demo"]);
}

#[test]
fn vm_snapshot_refuses_a_raw_disk_and_a_migration_blocker_leaving_the_vm_running() {
    let mut project = Project::new(vec![VmSpec::new("demo")]);
    let raw = project.path().join("scratch.img");
    fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
    let base = project.vms[0].clone();
    project.vms[0] = base.clone().qemu_arg(&format!(
        "-drive file={},if=virtio,format=raw,id=scratch",
        raw.display()
    ));
    project.write_config("");
    project.ok(&["start", "demo"]);
    let refused = project.run(&["snapshot", "save", "demo", "s"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("drive \"scratch\"") && refused.stderr.contains("qcow2"),
        "{refused}"
    );
    assert!(snapshot_names(&project).is_empty());
    let status = project.ok(&["qmp", "demo", "query-status"]).json();
    assert_eq!(status["status"], "running", "{status}");
    project.ok(&["stop", "demo"]);

    // ivshmem in peer mode is a migration blocker: QEMU's own reason, the VM running on.
    let shm = format!("/dev/shm/qcmdr-test-{}", std::process::id());
    project.vms[0] = base
        .qemu_arg(&format!(
            "-object memory-backend-file,id=hm,share=on,mem-path={shm},size=1M"
        ))
        .qemu_arg("-device ivshmem-plain,memdev=hm");
    project.write_config("");
    project.ok(&["start", "demo"]);
    let blocked = project.run(&["snapshot", "save", "demo", "s"]);
    let _ = fs::remove_file(&shm);
    assert_eq!(blocked.code, 1, "{blocked}");
    assert!(
        blocked
            .stderr
            .contains("Migration is disabled when using feature 'peer mode'"),
        "{blocked}"
    );
    assert!(snapshot_names(&project).is_empty());
    assert_eq!(
        fs::read_dir(project.vm_dir("demo").join("snapshots"))
            .unwrap()
            .count(),
        0
    );
    let status = project.ok(&["qmp", "demo", "query-status"]).json();
    assert_eq!(status["status"], "running", "{status}");
    project.ok(&["exec", "demo", "true"]);
}

#[test]
fn vm_snapshot_save_while_rsync_runs_is_safe() {
    let (project, source) = rsync_project("");
    project.ok(&["start", "demo"]);
    // Enough data that the flush is still running when the save pauses the VM.
    let blob: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for n in 0..6 {
        fs::write(source.join(format!("blob{n}")), &blob).unwrap();
    }
    write_tree(&source, &[("small.txt", "synced")]);
    let flush = KillOnDrop(
        project
            .command(&["sync", "flush", "demo"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rsync_running = wait_until(Duration::from_secs(30), || {
        processes_mentioning(&source).iter().any(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "rsync")
        })
    });
    assert!(rsync_running, "the flush never ran rsync");
    let save = project.ok(&["snapshot", "save", "demo", "mid-sync"]);
    assert!(save.stderr.contains("saved snapshot"), "{save}");
    let mut flush = flush;
    let done = flush.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(flush.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(done.success(), "sync flush failed across the save: {err}");
    let sums = project.ok(&[
        "exec",
        "demo",
        "sh",
        "-c",
        "cd ~/'dst dir' && cat blob* | md5sum && cat small.txt",
    ]);
    let local = Command::new("sh")
        .arg("-c")
        .arg(format!("cd '{}' && cat blob* | md5sum", source.display()))
        .output()
        .unwrap();
    assert_eq!(
        sums.stdout.split_whitespace().next(),
        String::from_utf8_lossy(&local.stdout)
            .split_whitespace()
            .next()
    );
    assert!(sums.stdout.ends_with("synced"), "{sums}");

    // The snapshot taken mid-transfer starts and syncs like any start.
    project.ok(&["stop", "demo"]);
    let from = project.ok(&["start", "demo", "--from", "mid-sync"]);
    assert!(from.stderr.contains("sync"), "{from}");
    let small = project.ok(&["exec", "demo", "cat", "dst dir/small.txt"]);
    assert_eq!(small.stdout, "synced");
}

#[test]
fn vm_snapshot_restore_holds_the_lock_until_the_vm_is_ready() {
    let (project, source) = rsync_project("");
    project.ok(&["start", "demo"]);
    project.ok(&["snapshot", "save", "demo", "base"]);
    // Files the restored guest lacks: its sync stage copies them, so the restore lasts
    // seconds after the stop, plenty for the races below.
    let blob: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for n in 0..6 {
        fs::write(source.join(format!("blob{n}")), &blob).unwrap();
    }
    let mut restore = KillOnDrop(
        project
            .command(&["snapshot", "restore", "demo", "base"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let holder = format!("pid {}: qcmdr snapshot restore demo base", restore.0.id());
    let lock = project.vm_dir("demo").join("lock");
    assert!(
        wait_until(Duration::from_secs(30), || fs::read_to_string(&lock)
            .is_ok_and(|text| text.contains(&holder))),
        "the restore never took the VM's lock under its own name"
    );
    // From here the old QEMU is stopped and the new one started, all under that one lock.
    let status = project.ok(&["status", "demo", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "starting", "{status}");
    assert!(
        status["vms"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&holder)),
        "{status}"
    );
    let racer = project.run(&["start", "demo"]);
    assert_eq!(racer.code, 1, "{racer}");
    assert!(
        racer.stderr.contains("another qcmdr is changing this VM")
            && racer.stderr.contains(&holder),
        "{racer}"
    );

    let done = restore.0.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(restore.0.stderr.as_mut().unwrap(), &mut said).unwrap();
    assert!(done.success(), "{said}");
    assert!(
        said.contains("demo: ready from snapshot \"base\""),
        "{said}"
    );
    let status = project.ok(&["status", "demo", "--json"]).json();
    assert_eq!(status["vms"][0]["state"], "running", "{status}");
    assert_eq!(status["vms"][0]["from_snapshot"], "base", "{status}");
    assert!(guest_has(&project, "dst dir/blob5"));
}

#[test]
fn vm_snapshot_delete_refused_by_qemu_keeps_the_snapshot() {
    let mut project = Project::new(vec![VmSpec::new("demo")]);
    let base = project.vms[0].clone();
    let drive = |disk: &str| qcow2_drive(&project.path().join(format!("{disk}.qcow2")), disk);
    let (drive_one, drive_two) = (drive("one"), drive("two"));
    project.vms[0] = base.clone().qemu_arg(&drive_one).qemu_arg(&drive_two);
    project.write_config("");
    project.ok(&["start", "demo"]);
    project.ok(&["snapshot", "save", "demo", "s"]);
    let list = project.ok(&["snapshot", "list", "--json"]).json();
    let disks = &list["snapshots"][0]["disks"];
    let (first, second) = (
        disks[0]["device"].as_str().unwrap().to_string(),
        disks[1]["device"].as_str().unwrap().to_string(),
    );
    let second_file = project.path().join(format!("{second}.qcow2"));

    // A mirror job holds the second drive: QEMU refuses to delete an internal snapshot on it.
    let mirror = project.path().join("mirror.qcow2");
    let args = serde_json::json!({
        "device": second,
        "target": mirror,
        "format": "qcow2",
        "sync": "full",
        "job-id": "hold",
    });
    project.ok(&["qmp", "demo", "drive-mirror", &args.to_string()]);
    let refused = project.run(&["snapshot", "delete", "demo", "s"]);
    assert_eq!(refused.code, 1, "{refused}");
    let expected = format!(
        "demo: snapshot \"s\" is not deleted: drive {second:?} ({}) refused: Need a root block node; \
         drive {first:?} no longer holds its part",
        second_file.display()
    );
    assert!(refused.stderr.contains(&expected), "{refused}");
    assert!(
        refused
            .stderr
            .contains("once the cause is gone: qcmdr snapshot delete demo s"),
        "{refused}"
    );
    assert!(!refused.stdout.contains("deleted snapshot"), "{refused}");
    // Nothing more is gone than the message says.
    assert_eq!(snapshot_names(&project), ["s"]);
    assert!(project.vm_dir("demo").join("snapshots/s/state").is_file());
    assert!(qemu_img_snapshots(&second_file).contains(" s "));
    assert!(!qemu_img_snapshots(&project.path().join(format!("{first}.qcow2"))).contains(" s "));

    // Once the job is gone, the same delete finishes the job.
    project.ok(&["qmp", "demo", "block-job-cancel", r#"{"device": "hold"}"#]);
    assert!(wait_until(Duration::from_secs(30), || project
        .ok(&["qmp", "demo", "query-block-jobs"])
        .json()
        .as_array()
        .is_some_and(|jobs| jobs.is_empty())));
    let delete = project.ok(&["snapshot", "delete", "demo", "s"]);
    assert!(delete.stdout.contains("deleted snapshot \"s\""), "{delete}");
    assert!(snapshot_names(&project).is_empty());
    assert!(!qemu_img_snapshots(&second_file).contains(" s "));
    project.ok(&["exec", "demo", "true"]);

    // A drive the running VM no longer has (the config changed): deleted from its image.
    project.ok(&["snapshot", "save", "demo", "t", "--stop"]);
    project.vms[0] = base.qemu_arg(&drive_one);
    project.write_config("");
    project.ok(&["start", "demo"]);
    let two = project.path().join("two.qcow2");
    assert!(qemu_img_snapshots(&two).contains(" t "));
    project.ok(&["snapshot", "delete", "demo", "t"]);
    assert!(!qemu_img_snapshots(&two).contains(" t "));
    assert!(snapshot_names(&project).is_empty());
}

/// The size and modification time of `path`, to show nothing wrote it.
fn untouched_mark(path: &Path) -> (u64, SystemTime) {
    let meta = fs::metadata(path).unwrap();
    (meta.len(), meta.modified().unwrap())
}

#[test]
fn vm_snapshot_damaged_ones_are_listed_refused_before_launch_and_deleted() {
    let disk = WithDisk::new();
    let (project, image) = (&disk.project, &disk.image);
    project.ok(&["start", "demo"]);
    let names = ["base", "old", "garbled", "cut", "gone", "flipped"];
    for name in names {
        project.ok(&["snapshot", "save", "demo", name]);
    }
    project.ok(&["stop", "demo"]);
    let folder = project.vm_dir("demo").join("snapshots");
    let state_of = |name: &str| folder.join(name).join("state");
    let saved_size = fs::metadata(state_of("cut")).unwrap().len();

    // What a careless user or a full disk does to them.
    fs::write(folder.join("garbled/metadata.json"), "{ not json").unwrap();
    let open = |name: &str| {
        fs::OpenOptions::new()
            .write(true)
            .open(state_of(name))
            .unwrap()
    };
    open("cut").set_len(1 << 20).unwrap();
    fs::remove_file(state_of("gone")).unwrap();
    // Same size, one byte of the device state at its end changed.
    let mut last = [0u8];
    let flipped = fs::File::open(state_of("flipped")).unwrap();
    let end = flipped.metadata().unwrap().len() - 1;
    flipped.read_exact_at(&mut last, end).unwrap();
    open("flipped")
        .write_all_at(&[last[0] ^ 0xff], end)
        .unwrap();
    // As an older qcmdr wrote it: no state mark.
    let old_meta = folder.join("old/metadata.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&old_meta).unwrap()).unwrap();
    assert!(meta["state_mark"].is_string(), "{meta}");
    meta.as_object_mut().unwrap().remove("state_mark");
    fs::write(&old_meta, meta.to_string()).unwrap();

    // Listed, marked damaged with the reason and the delete command (a listing checks sizes
    // only: the changed byte shows when starting from it).
    let table = project.ok(&["snapshot", "list", "demo"]).stdout;
    for name in names {
        assert!(table.contains(&format!("demo  {name}")), "{table}");
    }
    assert!(qemu_img_snapshots(image).contains(" garbled "));
    for line in [
        "      damaged: metadata.json is damaged (".to_string(),
        format!(
            "      damaged: the state file has 1048576 bytes where the save wrote {saved_size}: \
             it was cut short; delete it: qcmdr snapshot delete demo cut"
        ),
        "      damaged: the state file is missing; delete it: qcmdr snapshot delete demo gone"
            .to_string(),
    ] {
        assert!(table.contains(&line), "{line:?} not in:\n{table}");
    }
    assert!(
        table.contains("delete it: qcmdr snapshot delete demo garbled\n"),
        "{table}"
    );
    assert_eq!(table.matches("damaged: ").count(), 3, "{table}");

    let list = project.ok(&["snapshot", "list", "--json"]).json();
    let entry = |name: &str| {
        list["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
            .clone()
    };
    let garbled = entry("garbled");
    assert!(
        garbled["damaged"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("metadata.json is damaged ("),
        "{garbled}"
    );
    assert_eq!(
        garbled["damaged"]["delete"], "qcmdr snapshot delete demo garbled",
        "{garbled}"
    );
    assert_eq!(garbled["created_at"], serde_json::Value::Null, "{garbled}");
    assert_eq!(garbled["vm"], "demo", "{garbled}");
    assert!(garbled["path"]
        .as_str()
        .unwrap()
        .ends_with("snapshots/garbled"));
    let cut = entry("cut");
    assert_eq!(cut["size_bytes"], saved_size, "{cut}");
    assert!(
        cut["damaged"]["reason"]
            .as_str()
            .unwrap()
            .ends_with("it was cut short"),
        "{cut}"
    );
    assert_eq!(
        entry("gone")["damaged"]["reason"],
        "the state file is missing"
    );
    for sound in ["base", "old", "flipped"] {
        assert_eq!(entry(sound)["damaged"], serde_json::Value::Null, "{list}");
    }

    // Refused before launch: no QEMU, its log not even rotated.
    let qemu_log = project.vm_dir("demo").join("qemu.log");
    let log_before = untouched_mark(&qemu_log);
    for (name, why) in [
        ("garbled", "metadata.json is damaged ("),
        ("cut", "it was cut short"),
        ("gone", "the state file is missing"),
        (
            "flipped",
            "the state file's first or last MiB is not what the save wrote: it was changed since",
        ),
    ] {
        let refused = project.run(&["start", "demo", "--from", name]);
        assert_eq!(refused.code, 1, "{refused}");
        assert!(
            refused
                .stderr
                .contains(&format!("demo: snapshot {name:?} is damaged: ")),
            "{refused}"
        );
        assert!(refused.stderr.contains(why), "{refused}");
        assert!(
            refused
                .stderr
                .contains(&format!("; delete it: qcmdr snapshot delete demo {name}")),
            "{refused}"
        );
        assert_eq!(project.pid("demo"), None, "{name}");
        assert!(processes_mentioning(project.path()).is_empty(), "{name}");
        assert_eq!(untouched_mark(&qemu_log), log_before, "{name}");
    }

    // The sound one starts (its mark checked against the real file); a restore from a damaged
    // one leaves the running VM alone; the one without a mark starts on its size alone.
    project.ok(&["start", "demo", "--from", "base"]);
    let pid = project.pid("demo").unwrap();
    let refused = project.run(&["snapshot", "restore", "demo", "cut"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("it was cut short"), "{refused}");
    assert_eq!(project.pid("demo"), Some(pid));
    project.ok(&["exec", "demo", "true"]);
    project.ok(&["stop", "demo"]);
    let from_old = project.ok(&["start", "demo", "--from", "old"]);
    assert!(
        from_old
            .stderr
            .contains("demo: ready from snapshot \"old\""),
        "{from_old}"
    );
    project.ok(&["exec", "demo", "true"]);

    // Each damaged one deletes like any other (the VM running: through QEMU), with its part
    // of the disk when its metadata still names the disk; lost with the metadata, that part
    // stays in the image.
    for name in ["garbled", "cut", "gone", "flipped"] {
        let delete = project.ok(&["snapshot", "delete", "demo", name]);
        assert!(
            delete
                .stdout
                .contains(&format!("deleted snapshot {name:?}")),
            "{delete}"
        );
        assert!(!folder.join(name).exists());
    }
    assert_eq!(snapshot_names(project), ["base", "old"]);
    let parts = qemu_img_snapshots(image);
    for name in ["cut", "gone", "flipped"] {
        assert!(!parts.contains(&format!(" {name} ")), "{name}: {parts}");
    }
    assert!(parts.contains(" garbled "), "{parts}");
}
