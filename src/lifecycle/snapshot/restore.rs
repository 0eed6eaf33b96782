//! Starting a VM from a snapshot: checks that refuse before anything changes ([`plan`]),
//! the disks reverted, QEMU launched with `-incoming defer` and the saved state loaded
//! ([`Plan::load`]); `start` does the rest (SSH, clock, sync) as for a cold start.
//! [`restore_running`] does the same to a running VM, which is stopped first.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::fingerprint;
use super::qemu_img::{self, QemuImg};
use super::store::{self, Metadata, Store};
use super::SnapshotError;
use crate::error_chain::chain;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::Observer;
use crate::lifecycle::start::{self, prelaunch, StartError, StartOptions, StartReport};
use crate::lifecycle::stop::{self, StopOptions};
use crate::model::Vm;
use crate::qemu::migration;
use crate::qemu::qmp::{Qmp, QmpError};
use crate::qemu::version;
use crate::runtime::cancel::Cancel;
use crate::runtime::paths::VmPaths;
use crate::runtime::process::{self, Identity};

/// Added to the VM's argv: QEMU waits for `migrate-incoming` instead of booting.
pub const INCOMING_ARGS: [&str; 2] = ["-incoming", "defer"];
const QMP_TIMEOUT: Duration = Duration::from_secs(30);
/// QMP connect retries while QEMU sets up its sockets (it has written its pidfile already).
const CONNECT_RETRY_FIRST: Duration = Duration::from_millis(5);
const CONNECT_RETRY_MAX: Duration = Duration::from_millis(20);

/// A snapshot that passed every check against the argv about to run.
#[derive(Debug)]
pub struct Plan {
    pub meta: Metadata,
    state_file: PathBuf,
    qemu_img: QemuImg,
}

/// Checks snapshot `name` of `vm` against `argv` (what will run): it exists, the machine and
/// (unless `force`) the QEMU version are the same, every disk still holds its part.
pub fn plan(
    ctx: &Context,
    vm: &Vm,
    name: &str,
    argv: &[String],
    force: bool,
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
    let qemu_img = QemuImg {
        binary: qemu_img::binary(Path::new(&argv[0])),
        cwd: ctx.qemu_cwd(),
    };
    for disk in &meta.disks {
        if !qemu_img.has_snapshot(&disk.file, name)? {
            return Err(SnapshotError::DiskSnapshotMissing {
                file: disk.file.clone(),
                name: name.to_string(),
            });
        }
    }
    Ok(Plan {
        state_file: store.state_file(name),
        meta,
        qemu_img,
    })
}

impl Plan {
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Reverts every writable disk to the snapshot (QEMU must not run yet: it locks them).
    pub fn revert_disks(&self) -> Result<(), SnapshotError> {
        for disk in &self.meta.disks {
            self.qemu_img.apply(&disk.file, &self.meta.name)?;
        }
        Ok(())
    }

    /// Loads the saved state into the QEMU just launched with [`INCOMING_ARGS`] and resumes
    /// it. QEMU dying meanwhile shows as a closed QMP connection.
    pub fn load(&self, paths: &VmPaths, deadline: Instant) -> Result<(), SnapshotError> {
        let mut qmp = connect(&paths.qmp_socket, deadline)
            .map_err(SnapshotError::qmp("cannot reach the new QEMU"))?;
        let file = std::fs::File::open(&self.state_file).map_err(SnapshotError::io(format!(
            "cannot open {}",
            self.state_file.display()
        )))?;
        migration::load_state(&mut qmp, &file, deadline)
            .map_err(SnapshotError::qmp("QEMU cannot load the snapshot"))
    }

    pub fn record_origin(&self, paths: &VmPaths, pid: i32) -> io::Result<()> {
        Store::new(paths).record_origin(&self.meta.name, pid)
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

/// `snapshot restore`: the running `vm` back to snapshot `options.from`. Checked first
/// against the config, so a refusal leaves the VM running untouched; then stopped (its
/// state is being replaced, so at once) and started from the snapshot. The VM's lock is held
/// from before the check until the restored VM is ready (or the start failed and cleaned up),
/// so no other qcmdr can start, stop or restore it in between.
pub fn restore_running(
    ctx: &Context,
    vm: &Vm,
    options: &StartOptions,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<StartReport, StartError> {
    let name = options.from.as_deref().unwrap_or_default();
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
    plan(ctx, vm, name, &argv, options.force)?;
    let forced = StopOptions {
        timeout: None,
        force: true,
    };
    stop::stop_holding(ctx, vm, &forced, observer, &lock)
        .map_err(|err| SnapshotError::Stop(format!("cannot stop the VM: {}", chain(&err))))?;
    start::start_holding(ctx, vm, lock, options, observer, cancel)
}

fn not_running(vm: &Vm) -> StartError {
    SnapshotError::NotRunning {
        vm: vm.name.clone(),
    }
    .into()
}
