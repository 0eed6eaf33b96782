//! `snapshot save`: the running VM paused, its disks snapshotted, RAM and devices written to a
//! file, then resumed (or quit). Every refusal comes before the VM is touched; a failure
//! after the pause takes back the disk snapshots and resumes the VM.

use std::fs;
use std::time::{Duration, Instant, SystemTime};

use super::clock;
use super::store::{self, Disk, Metadata, Store};
use super::SnapshotError;
use crate::error_chain::chain;
use crate::lifecycle::cleanup;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::{Event, Observer};
use crate::model::Vm;
use crate::qemu::fingerprint;
use crate::qemu::migration::{self, Drive};
use crate::qemu::qmp::{Qmp, QmpError};
use crate::qemu::version;
use crate::runtime::process::{self, Identity, ProcessHandle};
use crate::state_dir::{lock, private_dir};

/// Bound of each QMP step but the migration itself.
const QMP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound of writing the state; RAM goes out at disk speed (about 1 s for 256 MiB here).
const SAVE_TIMEOUT: Duration = Duration::from_secs(300);
const QUIT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SaveReport {
    pub meta: Metadata,
    /// From the pause to the resume (or the quit): what the guest lost.
    pub took: Duration,
    pub stopped: bool,
}

pub fn save(
    ctx: &Context,
    vm: &Vm,
    name: &str,
    stop_after: bool,
    observer: &dyn Observer,
) -> Result<SaveReport, SnapshotError> {
    store::check_name(name)?;
    let paths = ctx.paths(vm);
    let store = Store::new(&paths);
    private_dir::ensure(&ctx.state, &paths.dir)
        .map_err(SnapshotError::io("cannot use the VM folder"))?;
    let _lock = lock::acquire(
        &paths.lock,
        &format!("qcmdr snapshot save {} {name}", vm.name),
    )?;
    let qemu = match process::identify(&paths.pidfile)
        .map_err(SnapshotError::io("cannot read the pidfile"))?
    {
        Identity::Running(qemu) => qemu,
        _ => {
            return Err(SnapshotError::NotRunning {
                vm: vm.name.clone(),
            })
        }
    };
    if store.exists(name) {
        return Err(SnapshotError::Exists {
            vm: vm.name.clone(),
            name: name.to_string(),
        });
    }
    // What runs, not what the config says now: the config may have changed since the start.
    let argv = full_cmdline(qemu.pid())?;
    if uses_temporary_disks(&argv) {
        return Err(SnapshotError::TemporaryDisks);
    }
    // QEMU 7.2 refuses to migrate vhost-user-fs ("migration is blocked") only after the
    // guest was paused; refused here, nothing is touched.
    if let Some(tag) = mount_tag(&argv) {
        let source_dir = vm.mounts.iter().find(|m| m.tag == tag).map_or_else(
            || "a mount no longer in the config".to_string(),
            |m| m.source.display().to_string(),
        );
        return Err(SnapshotError::Mounted { tag, source_dir });
    }
    let mut qmp = Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT)
        .map_err(SnapshotError::qmp("cannot reach QEMU"))?;
    let qemu_version =
        version::of_running(&mut qmp).map_err(SnapshotError::qmp("query-version"))?;
    if let Some(gap) = crate::qemu::state_gaps::of(&vm.arch, &qemu_version) {
        return Err(SnapshotError::StateGap {
            qemu: qemu_version,
            gap,
        });
    }
    let drives = migration::writable_drives(&mut qmp).map_err(SnapshotError::qmp("query-block"))?;
    if let Some(bad) = drives.iter().find(|d| d.format != "qcow2") {
        return Err(SnapshotError::UnsupportedDisk {
            device: bad.device.clone(),
            file: bad.file.clone(),
            format: bad.format.clone(),
        });
    }
    let pending = store.begin(&ctx.state, name)?;

    let created_at = SystemTime::now();
    let paused = Instant::now();
    qmp.execute("stop", None)
        .map_err(SnapshotError::qmp("cannot pause the VM"))?;
    let mut taken: Vec<&Drive> = Vec::new();
    let saved = (|| {
        for drive in &drives {
            migration::snapshot_drive(&mut qmp, &drive.device, name).map_err(
                SnapshotError::qmp(format!("cannot snapshot drive {:?}", drive.device)),
            )?;
            taken.push(drive);
        }
        let file = pending.create_state_file()?;
        migration::save_state(&mut qmp, &file, Instant::now() + SAVE_TIMEOUT)
            .map_err(SnapshotError::qmp("QEMU cannot save this VM"))?;
        let size_bytes = file
            .metadata()
            .map_err(SnapshotError::io("the state file"))?
            .len();
        let meta = Metadata {
            format: store::METADATA_FORMAT,
            vm: vm.name.clone(),
            name: name.to_string(),
            created_at: unix_seconds(created_at),
            took_s: paused.elapsed().as_secs_f64(),
            size_bytes,
            // Read from the file by the commit, once the guest runs again.
            state_mark: None,
            qemu_version,
            qemu_binary: argv[0].clone(),
            fingerprint: fingerprint::of_argv(&argv),
            disks: drives
                .iter()
                .map(|d| Disk {
                    device: d.device.clone(),
                    file: d.file.clone(),
                })
                .collect(),
        };
        Ok(meta)
    })();
    // The files reach the disk (fsync) once the guest runs again, so the pause is no longer
    // than the save itself; a failure there, like any before it, takes the disk snapshots back.
    let resumed = (saved.is_ok() && !stop_after).then(|| resume(&mut qmp));
    let meta = match saved.and_then(|meta| pending.commit(meta)) {
        Ok(meta) => meta,
        Err(err) => {
            for drive in taken {
                let _ = migration::delete_drive_snapshot(&mut qmp, &drive.device, name);
            }
            if resumed.is_none() {
                let _ = resume(&mut qmp);
            }
            return Err(err);
        }
    };

    if stop_after {
        quit(ctx, vm, qmp, &qemu, observer);
    } else {
        resumed
            .unwrap_or(Ok(()))
            .map_err(SnapshotError::qmp("saved, but cannot resume the VM"))?;
        drop(qmp);
        // The guest's clock stood still while paused.
        if vm.wait_for.ssh() {
            if let Err(why) = clock::set_guest_clock(&ctx.ssh_target(vm)) {
                observer.event(
                    &vm.name,
                    Event::Notice(format!(
                        "guest clock not set: {}",
                        crate::error_chain::chain(&why)
                    )),
                );
            }
        }
    }
    Ok(SaveReport {
        took: paused.elapsed(),
        meta,
        stopped: stop_after,
    })
}

/// `cont`, once QEMU lets it: right after a migration completes it still finalizes (its
/// disks are handed back) and refuses `cont` for a few milliseconds, with no event to wait for.
fn resume(qmp: &mut Qmp) -> Result<(), QmpError> {
    let deadline = Instant::now() + QMP_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match qmp.execute("cont", None) {
            Err(QmpError::Command { desc, .. })
                if desc.contains("not finalized") && Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other.map(drop),
        }
    }
}

/// Ends the paused QEMU and cleans up as `stop` does (its state is saved; nothing to lose).
fn quit(ctx: &Context, vm: &Vm, mut qmp: Qmp, qemu: &ProcessHandle, observer: &dyn Observer) {
    let notice = |text: String| observer.event(&vm.name, Event::Notice(text));
    if let Err(err) = crate::sync::before_stop(&ctx.project, &ctx.state, vm) {
        notice(format!("sync: {}", chain(&err)));
    }
    let _ = qmp.execute("quit", None);
    drop(qmp);
    if !qemu.wait_exit(QUIT_GRACE) {
        let _ = qemu.signal(rustix::process::Signal::KILL);
        qemu.wait_exit(QUIT_GRACE);
    }
    ctx.ssh_target(vm).close_master();
    cleanup::remove_runtime_files(&ctx.paths(vm));
    if let Err(err) = crate::sync::after_stop(&ctx.project, &ctx.state) {
        notice(format!("sync: {}", chain(&err)));
    }
}

/// `/proc/PID/cmdline` with empty arguments kept (`-append ""` must stay two words).
fn full_cmdline(pid: i32) -> Result<Vec<String>, SnapshotError> {
    let raw = fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(SnapshotError::io("cannot read QEMU's command line"))?;
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    Ok(raw
        .split(|b| *b == 0)
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect())
}

fn uses_temporary_disks(argv: &[String]) -> bool {
    argv.iter().any(|w| {
        w == "-snapshot" || w == "--snapshot" || w.split(',').any(|item| item == "snapshot=on")
    })
}

fn unix_seconds(at: SystemTime) -> f64 {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_micros() as f64 / 1e6
}

/// The tag of the first virtiofs device in a QEMU argv.
fn mount_tag(argv: &[String]) -> Option<String> {
    argv.windows(2)
        .filter(|w| w[0] == "-device" || w[0] == "--device")
        .find(|w| w[1].starts_with("vhost-user-fs"))
        .and_then(|w| {
            w[1].split(',')
                .find_map(|part| part.strip_prefix("tag="))
                .map(str::to_string)
        })
}
