//! `qcmdr.list/1`: one entry per configured VM of `list --json`.

use serde::Serialize;

use crate::lifecycle::status::VmState;
use crate::model::Vm;

#[derive(Debug, Serialize)]
pub struct ListVm {
    pub name: String,
    pub arch: String,
    pub ssh_port: u16,
    pub sync_entries: usize,
    pub state: &'static str,
    pub pid: Option<i32>,
}

impl ListVm {
    pub fn new(vm: &Vm, state: VmState, pid: Option<i32>) -> Self {
        ListVm {
            name: vm.name.clone(),
            arch: vm.arch.clone(),
            ssh_port: vm.ssh.port,
            sync_entries: vm.sync.len(),
            state: state.as_str(),
            pid,
        }
    }
}
