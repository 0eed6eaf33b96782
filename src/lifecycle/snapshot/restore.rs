//! Starting a VM from a snapshot: the snapshot side of `start`'s saved-state interface
//! ([`Snapshots`] finds and checks one, [`Plan`] reverts the disks, adds `-incoming defer`,
//! loads the state and sets the guest clock); `start` does the rest as for a cold start.
//! [`restore_running`] does the same to a running VM, which is stopped first.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::clock;
use super::store::{self, Metadata, Store};
use super::SnapshotError;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::Observer;
use crate::lifecycle::start::{
    self, prelaunch, Boot, SavedState, SavedStateError, SavedStates, StartError, StartOptions,
    StartReport,
};
use crate::lifecycle::stop::{self, StopOptions};
use crate::model::Vm;
use crate::qemu::fingerprint;
use crate::qemu::migration::{self, Drive};
use crate::qemu::qemu_img::{self, QemuImg};
use crate::qemu::qmp::{Qmp, QmpError};
use crate::qemu::version;
use crate::runtime::cancel::Cancel;
use crate::runtime::process::{self, Identity};
use crate::ssh::master::SshTarget;
use crate::state_dir::paths::VmPaths;

/// Added to the VM's argv: QEMU waits for `migrate-incoming` instead of booting.
pub const INCOMING_ARGS: [&str; 2] = ["-incoming", "defer"];
const QMP_TIMEOUT: Duration = Duration::from_secs(30);
/// QMP connect retries while QEMU sets up its sockets (it has written its pidfile already).
const CONNECT_RETRY_FIRST: Duration = Duration::from_millis(5);
const CONNECT_RETRY_MAX: Duration = Duration::from_millis(20);

/// The snapshot store as `start` sees it: where a [`Boot::FromSnapshot`] start gets its state.
pub struct Snapshots;

impl SavedStates for Snapshots {
    fn check(
        &self,
        ctx: &Context,
        vm: &Vm,
        name: &str,
        argv: &[String],
        force: bool,
    ) -> Result<Box<dyn SavedState>, SavedStateError> {
        // Start calls this before launching anything: no QEMU holds the disks.
        let disks = Disks::Stopped(qemu_img_for(ctx, argv));
        Ok(Box::new(plan(ctx, vm, name, argv, force, &disks)?))
    }
}

/// Where the disks are asked whether they still hold a snapshot's part.
enum Disks {
    /// No QEMU holds them: `qemu-img` reads them.
    Stopped(QemuImg),
    /// A running QEMU holds them (locked: `qemu-img` would be refused, and a read past the
    /// lock could race its writes), so its own view, from QMP `query-block`.
    Running(Vec<Drive>),
}

impl Disks {
    fn have_snapshot(&self, disk: &store::Disk, name: &str) -> Result<bool, SnapshotError> {
        match self {
            Disks::Stopped(qemu_img) => Ok(qemu_img.has_snapshot(&disk.file, name)?),
            Disks::Running(drives) => Ok(drives
                .iter()
                .find(|drive| drive.device == disk.device)
                .is_some_and(|drive| drive.snapshots.iter().any(|s| s == name))),
        }
    }
}

fn qemu_img_for(ctx: &Context, argv: &[String]) -> QemuImg {
    QemuImg {
        binary: qemu_img::binary(Path::new(&argv[0])),
        cwd: ctx.qemu_cwd(),
    }
}

/// A snapshot that passed every check against the argv about to run.
#[derive(Debug)]
pub struct Plan {
    pub meta: Metadata,
    state_file: PathBuf,
    qemu_img: QemuImg,
}

/// Checks snapshot `name` of `vm` against `argv` (what will run): it exists, the machine and
/// (unless `force`) the QEMU version are the same, every disk still holds its part.
fn plan(
    ctx: &Context,
    vm: &Vm,
    name: &str,
    argv: &[String],
    force: bool,
    disks: &Disks,
) -> Result<Plan, SnapshotError> {
    store::check_name(name)?;
    let store = Store::new(&ctx.paths(vm));
    let meta = store.load(&vm.name, name)?;
    let changes = fingerprint::differences(&meta.fingerprint, &fingerprint::of_argv(argv));
    if !changes.is_empty() {
        return Err(SnapshotError::Changed {
            name: name.to_string(),
            changes,
        });
    }
    if !force {
        // Saved before qcmdr refused such saves: it loads, then the guest hangs.
        if let Some(gap) = crate::qemu::state_gaps::of(&vm.arch, &meta.qemu_version) {
            return Err(SnapshotError::StateGap {
                qemu: meta.qemu_version.clone(),
                gap,
            });
        }
        let cache = ctx.state.root().join("qemu-version.json");
        let now = version::of_binary_cached(Path::new(&argv[0]), &cache)
            .map_err(SnapshotError::QemuVersion)?;
        if now != meta.qemu_version {
            return Err(SnapshotError::Version {
                name: name.to_string(),
                saved: meta.qemu_version.clone(),
                now,
            });
        }
    }
    for disk in &meta.disks {
        if !disks.have_snapshot(disk, name)? {
            return Err(SnapshotError::DiskSnapshotMissing {
                file: disk.file.clone(),
                name: name.to_string(),
            });
        }
    }
    Ok(Plan {
        state_file: store.state_file(name),
        meta,
        qemu_img: qemu_img_for(ctx, argv),
    })
}

impl SavedState for Plan {
    fn name(&self) -> &str {
        &self.meta.name
    }

    /// Reverts every writable disk to the snapshot (QEMU must not run yet: it locks them)
    /// and makes QEMU wait for the state instead of booting.
    fn prepare_launch(&self, argv: &mut Vec<String>) -> Result<(), SavedStateError> {
        for disk in &self.meta.disks {
            self.qemu_img.apply(&disk.file, &self.meta.name)?;
        }
        argv.extend(INCOMING_ARGS.map(String::from));
        Ok(())
    }

    fn load(&self, paths: &VmPaths, deadline: Instant) -> Result<(), SavedStateError> {
        Ok(self.load_state(paths, deadline)?)
    }

    fn after_ssh(&self, target: &SshTarget) -> Result<(), SavedStateError> {
        Ok(clock::set_guest_clock(target)?)
    }
}

impl Plan {
    /// Loads the saved state into the QEMU just launched with [`INCOMING_ARGS`] and resumes
    /// it. QEMU dying meanwhile shows as a closed QMP connection.
    fn load_state(&self, paths: &VmPaths, deadline: Instant) -> Result<(), SnapshotError> {
        let mut qmp = connect(&paths.qmp_socket, deadline)
            .map_err(SnapshotError::qmp("cannot reach the new QEMU"))?;
        let file = std::fs::File::open(&self.state_file).map_err(SnapshotError::io(format!(
            "cannot open {}",
            self.state_file.display()
        )))?;
        migration::load_state(&mut qmp, &file, deadline)
            .map_err(SnapshotError::qmp("QEMU cannot load the snapshot"))
    }
}

/// Connects as soon as QEMU's QMP socket accepts, within `deadline`.
fn connect(socket: &Path, deadline: Instant) -> Result<Qmp, QmpError> {
    let mut pause = CONNECT_RETRY_FIRST;
    loop {
        match Qmp::connect(socket, QMP_TIMEOUT) {
            Err(QmpError::Connect { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) && Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(CONNECT_RETRY_MAX);
            }
            other => return other,
        }
    }
}

/// `snapshot restore`: the running `vm` back to snapshot `name`. Checked first against the
/// config and the running QEMU's disks, so a refusal leaves the VM running untouched; then
/// stopped (its state is being replaced, so at once) and started from the snapshot. The VM's
/// lock is held from before the check until the restored VM is ready (or the start failed
/// and cleaned up), so no other qcmdr can start, stop or restore it in between.
pub fn restore_running(
    ctx: &Context,
    vm: &Vm,
    name: &str,
    force: bool,
    options: &StartOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let paths = ctx.paths(vm);
    if !matches!(process::identify(&paths.pidfile), Ok(Identity::Running(_))) {
        return Err(not_running(vm));
    }
    let purpose = format!("qcmdr snapshot restore {} {name}", vm.name);
    let lock = prelaunch::lock(ctx, vm, &purpose)?;
    // Again under the lock: it may have been stopped meanwhile.
    if !matches!(process::identify(&paths.pidfile), Ok(Identity::Running(_))) {
        return Err(not_running(vm));
    }
    let argv = crate::qemu::argv::build(&ctx.project, vm, &paths);
    let drives = running_drives(&paths)?;
    plan(ctx, vm, name, &argv, force, &Disks::Running(drives))?;
    let forced = StopOptions {
        timeout: None,
        force: true,
    };
    stop::stop_holding(ctx, vm, &forced, observer, &lock).map_err(SnapshotError::Stop)?;
    let options = StartOptions {
        boot: Boot::FromSnapshot {
            name: name.to_string(),
            force,
        },
        ..options.clone()
    };
    start::start_holding(ctx, vm, lock, &options, &Snapshots, observer, cancel)
}

/// The running QEMU's writable disks and their internal snapshots.
fn running_drives(paths: &VmPaths) -> Result<Vec<Drive>, SnapshotError> {
    let mut qmp = Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT)
        .map_err(SnapshotError::qmp("cannot reach the running QEMU"))?;
    migration::writable_drives(&mut qmp).map_err(SnapshotError::qmp("query-block"))
}

fn not_running(vm: &Vm) -> StartError {
    SnapshotError::NotRunning {
        vm: vm.name.clone(),
    }
    .into()
}
