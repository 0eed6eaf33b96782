//! `qcmdr list`: one line per configured VM with its state.

use std::process::ExitCode;

use super::json::{self, Document, ListVm};
use super::{load, Cli, Failure};
use crate::lifecycle::status::state_of;

pub fn run(cli: &Cli, as_json: bool) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let rows: Vec<_> = ctx
        .project
        .vms
        .iter()
        .map(|vm| (vm, state_of(&ctx, vm)))
        .collect();
    if as_json {
        let entries = rows
            .iter()
            .map(|(vm, (state, pid, _))| ListVm::new(vm, *state, *pid))
            .collect();
        json::print(&Document::new(json::LIST_SCHEMA, entries));
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows
        .iter()
        .map(|(vm, _)| vm.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:width$}  {:8}  {:8}  {:>5}  SYNC",
        "NAME", "ARCH", "STATE", "SSH"
    );
    for (vm, (state, _, _)) in &rows {
        println!(
            "{:width$}  {:8}  {:8}  {:>5}  {}",
            vm.name,
            vm.arch,
            state.as_str(),
            vm.ssh.port,
            vm.sync.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
