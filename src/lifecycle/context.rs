//! Everything a lifecycle operation needs to know about where it runs.

use std::path::PathBuf;

use crate::model::{Project, Vm};
use crate::ssh::master::SshTarget;
use crate::state_dir::paths::{StateDir, VmPaths};

#[derive(Debug, Clone)]
pub struct Context {
    pub project: Project,
    pub state: StateDir,
}

impl Context {
    pub fn new(project: Project, state: StateDir) -> Self {
        Context { project, state }
    }

    pub fn paths(&self, vm: &Vm) -> VmPaths {
        self.state.vm(&vm.name)
    }

    pub fn ssh_target(&self, vm: &Vm) -> SshTarget {
        SshTarget::new(self.state.ssh_config(), vm.name.clone())
    }

    /// Folder QEMU runs in, so relative paths in `args` mean the same as in the config file.
    pub fn qemu_cwd(&self) -> PathBuf {
        self.project
            .config_file
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    /// Writes the private ssh_config and wrappers; every SSH use goes through them.
    pub fn prepare_ssh(&self) -> std::io::Result<()> {
        crate::ssh::prepare(&self.project, &self.state)
    }
}
