//! One run's throwaway instance of a VM: a private folder `<state>/run/<pid>/` that is the
//! state dir of a project holding only the instance's definition (free host ports, its own
//! pidfile, sockets, logs, SSH config and master), so that `status`, `stop` and `list` of
//! the named VM never see it and a `start`ed VM of the same name is never touched.
//!
//! The VM's disks are only read: a cold boot writes through QEMU's temporary overlays
//! (`definition`), an image-backed VM's disk is reached through a link to the VM's own; a
//! start from a snapshot gets its own copy of it (`snapshot_copy`).
//!
//! This is the only place that calls `lifecycle::start`; [`Instance::destroy`] (also run on
//! drop) kills the instance's QEMU through its verified pidfd, ends its SSH master and
//! removes the folder and any short socket folders it used.

use std::fs;
use std::path::{Path, PathBuf};

use super::definition::{self, Overrides};
use super::snapshot_copy;
use super::RunError;
use crate::images::overlay;
use crate::lifecycle::context::Context;
use crate::lifecycle::events::{Observer, Silent};
use crate::lifecycle::snapshot::restore::Snapshots;
use crate::lifecycle::snapshot::store::Store;
use crate::lifecycle::start::{self, Boot, StartError, StartOptions, StartReport};
use crate::lifecycle::stop::{self, StopOptions};
use crate::model::{Project, Vm};
use crate::runtime::cancel::Cancel;
use crate::runtime::process::{self, Identity};
use crate::state_dir::paths::{short_root, StateDir, VmPaths};
use crate::state_dir::private_dir;

/// Where every instance of a state dir lives.
pub fn runs_dir(state: &StateDir) -> PathBuf {
    state.root().join("run")
}

/// QEMU's version, cached by the snapshot checks in the state dir's root.
const VERSION_CACHE: &str = "qemu-version.json";

#[derive(Debug)]
pub struct Instance {
    /// The instance's own project (only its VM) and state dir.
    pub ctx: Context,
    pub vm: Vm,
    /// Keep the folder (logs, overlays) after the run, moved to `kept_dir`.
    keep: bool,
    kept_dir: PathBuf,
    destroyed: bool,
}

impl Instance {
    /// Makes the folder and the definition; with `from`, brings the snapshot's files in.
    pub fn create(
        ctx: &Context,
        vm: &Vm,
        overrides: &Overrides,
        from: Option<&str>,
        keep: bool,
    ) -> Result<Instance, RunError> {
        let runs = runs_dir(&ctx.state);
        private_dir::ensure(&ctx.state, &runs).map_err(RunError::io(&runs))?;
        clear_leftovers(&runs);
        let root = runs.join(std::process::id().to_string());
        let state = StateDir::new(&root);
        let vm_dir = state.vm(&vm.name).dir;
        let snapshot = match from {
            Some(name) => Some(snapshot_copy::plan(ctx, vm, name, &vm_dir)?),
            None => None,
        };
        let mut instance_vm = definition::instance_vm(vm, overrides)?;
        if let Some((_, copies)) = &snapshot {
            instance_vm.args = snapshot_copy::retarget_args(&instance_vm.args, copies)?;
        }
        private_dir::ensure(&ctx.state, &root).map_err(RunError::io(&root))?;
        // From here on, whatever fails, dropping the instance removes what was made.
        let project = Project {
            vms: vec![instance_vm.clone()],
            ..ctx.project.clone()
        };
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let kept_dir = runs.join(format!(
            "kept-{}-{}",
            std::process::id(),
            since_epoch.as_secs()
        ));
        let instance = Instance {
            ctx: Context::new(project, state),
            vm: instance_vm,
            keep,
            kept_dir,
            destroyed: false,
        };
        let paths = instance.paths();
        for dir in [&paths.dir, &paths.socket_dir] {
            private_dir::ensure(&instance.ctx.state, dir).map_err(RunError::io(dir))?;
        }
        link_if_there(
            &ctx.state.root().join(VERSION_CACHE),
            &root.join(VERSION_CACHE),
        );
        match &snapshot {
            None if vm.image.is_some() => {
                overlay::share(&ctx.paths(vm), &paths).map_err(RunError::io(&paths.image_disk))?;
            }
            None => {}
            Some((meta, copies)) => {
                let store = Store::new(&paths);
                let target = store.dir(&meta.name);
                private_dir::ensure(&instance.ctx.state, &target).map_err(RunError::io(&target))?;
                snapshot_copy::bring(ctx, vm, meta, copies, &store, &paths.dir)?;
            }
        }
        Ok(instance)
    }

    pub fn paths(&self) -> VmPaths {
        self.ctx.paths(&self.vm)
    }

    /// The instance's folder (its state dir).
    pub fn root(&self) -> &Path {
        self.ctx.state.root()
    }

    /// Boots the instance (or restores it from the snapshot brought in) and waits until it
    /// is ready and synced.
    pub fn start(
        &self,
        from: Option<&str>,
        force: bool,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<StartReport, StartError> {
        let boot = match from {
            Some(name) => Boot::FromSnapshot {
                name: name.to_string(),
                force,
            },
            None => Boot::default(),
        };
        let options = StartOptions {
            boot,
            // Set in front of the command instead (`command`).
            defer_clock: from.is_some(),
            ..StartOptions::default()
        };
        start::start(&self.ctx, &self.vm, &options, &Snapshots, observer, cancel)
    }

    /// Kills the instance's QEMU and SSH master and removes its folder (unless kept) and its
    /// short socket folders. Idempotent; also done on drop.
    pub fn destroy(&mut self) {
        if self.destroyed {
            return;
        }
        self.destroyed = true;
        let forced = StopOptions {
            timeout: None,
            force: true,
        };
        let _ = stop::stop(&self.ctx, &self.vm, &forced, &Silent);
        remove_short_folders(&self.ctx.state, &self.paths());
        let kept = self.keep && fs::rename(self.root(), &self.kept_dir).is_ok();
        if !kept {
            let _ = fs::remove_dir_all(self.root());
        }
    }

    /// Where the folder goes when kept (`--keep`): a name the leftover sweep of later runs
    /// skips.
    pub fn kept_dir(&self) -> &Path {
        &self.kept_dir
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// The socket folders under `/tmp/qcmdr-<uid>` that stand in for the instance's deep ones.
fn remove_short_folders(state: &StateDir, paths: &VmPaths) {
    let short = short_root();
    for dir in [
        paths.socket_dir.clone(),
        state.control_dir(),
        state.mutagen_data_dir(),
    ] {
        if dir.starts_with(&short) {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Instances whose qcmdr is gone (killed with SIGKILL, or the machine lost power): their
/// QEMU, verified through its pidfile, is killed and their folder removed.
fn clear_leftovers(runs: &Path) {
    let Ok(entries) = fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let ours = pid == std::process::id();
        if !ours && Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let root = entry.path();
        if let Ok(vms) = fs::read_dir(root.join("vm")) {
            for vm in vms.flatten() {
                let paths = VmPaths::new(vm.path());
                if let Ok(Identity::Running(qemu)) = process::identify(&paths.pidfile) {
                    qemu.terminate(|| {});
                }
                if paths.uses_short_socket_dir() {
                    let _ = fs::remove_dir_all(&paths.socket_dir);
                }
            }
        }
        let state = StateDir::new(&root);
        for dir in [state.control_dir(), state.mutagen_data_dir()] {
            if dir.starts_with(short_root()) {
                let _ = fs::remove_dir_all(dir);
            }
        }
        let _ = fs::remove_dir_all(&root);
    }
}

/// A hard link of `from` at `to` if `from` exists (a cache: failing is fine).
fn link_if_there(from: &Path, to: &Path) {
    if from.is_file() {
        let _ = fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::snapshot::SnapshotError;
    use crate::model::{fixtures, HostForward, Protocol};
    use std::os::unix::fs::PermissionsExt;

    fn context(dir: &Path) -> (Context, Vm) {
        let mut vm = fixtures::vm("demo", 10022);
        vm.args = vec![
            "-netdev".into(),
            "user,id=n,hostfwd=tcp:127.0.0.1:10022-:22".into(),
        ];
        vm.host_forwards = vec![HostForward {
            protocol: Protocol::Tcp,
            host_addr: "127.0.0.1".into(),
            host_port: 10022,
            guest_port: 22,
        }];
        let config = dir.join("conf.lua");
        let project = fixtures::project(config.to_str().unwrap(), vec![vm.clone()]);
        (Context::new(project, StateDir::new(dir.join(".qcmdr"))), vm)
    }

    #[test]
    fn an_instance_has_a_private_folder_of_its_own_and_leaves_none() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, vm) = context(tmp.path());
        let mut instance = Instance::create(&ctx, &vm, &Overrides::default(), None, false).unwrap();
        let root = instance.root().to_path_buf();
        assert_eq!(
            root,
            runs_dir(&ctx.state).join(std::process::id().to_string())
        );
        let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(instance.ctx.project.vms, vec![instance.vm.clone()]);
        assert_ne!(instance.vm.ssh.port, vm.ssh.port);
        assert!(instance.paths().dir.starts_with(&root));
        // The named VM's own folder is not made.
        assert!(!ctx.paths(&vm).dir.exists());
        instance.destroy();
        assert!(!root.exists());
    }

    #[test]
    fn a_refused_snapshot_leaves_no_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, vm) = context(tmp.path());
        let refused = Instance::create(&ctx, &vm, &Overrides::default(), Some("nope"), false);
        assert!(matches!(
            refused,
            Err(RunError::Snapshot(SnapshotError::NotFound { .. }))
        ));
        let left: Vec<_> = fs::read_dir(runs_dir(&ctx.state)).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
