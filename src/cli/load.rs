//! From global options to a loaded project and its state dir.

use std::path::PathBuf;

use super::{Cli, Failure};
use crate::lifecycle::context::Context;
use crate::lifecycle::status::VmState;
use crate::model::Vm;
use crate::state_dir::paths::StateDir;

/// The loaded config; one that cannot be found or does not load is a config error (exit 2).
pub fn context(cli: &Cli) -> Result<Context, Failure> {
    let file = crate::config::locate(cli.config.as_deref()).map_err(config_error)?;
    let project = crate::config::load(&file).map_err(config_error)?;
    let state = match &cli.state_dir {
        Some(dir) => StateDir::new(absolute(dir)?),
        None => StateDir::beside_config(&project.config_file),
    };
    Ok(Context::new(project, state))
}

fn config_error(err: impl std::error::Error) -> Failure {
    Failure::usage(crate::error_chain::chain(&err))
}

fn absolute(dir: &std::path::Path) -> Result<PathBuf, Failure> {
    std::path::absolute(dir).map_err(|e| Failure::new(format!("state dir {}: {e}", dir.display())))
}

/// The VM called `name`, or an error listing the configured ones.
pub fn vm<'a>(ctx: &'a Context, name: &str) -> Result<&'a Vm, Failure> {
    ctx.project.vm(name).ok_or_else(|| unknown_vm(ctx, name))
}

/// A VM name the config does not have: a usage error (exit 2).
pub fn unknown_vm(ctx: &Context, name: &str) -> Failure {
    Failure::usage(format!(
        "no VM named {name:?} in {}; configured: {}",
        ctx.project.config_file.display(),
        ctx.project.vm_names().join(", ")
    ))
}

/// The VM called `name`, if it is running (or starting); otherwise an error that says how to
/// start it.
pub fn running_vm<'a>(ctx: &'a Context, name: &str) -> Result<&'a Vm, Failure> {
    let vm = vm(ctx, name)?;
    match crate::lifecycle::status::state_of(ctx, vm).0 {
        VmState::Running | VmState::Starting => Ok(vm),
        state => Err(not_running(name, state)),
    }
}

pub fn not_running(name: &str, state: VmState) -> Failure {
    Failure::new(format!(
        "VM {name:?} is not running ({}); start it with: qcmdr start {name}",
        state.as_str()
    ))
}

/// The private SSH files, written before a tool that reads them runs.
pub fn prepare_ssh(ctx: &Context) -> Result<(), Failure> {
    ctx.prepare_ssh()
        .map_err(|e| Failure::new(format!("cannot write the private SSH config: {e}")))
}

/// `names` resolved (all VMs with `all`), each at most once, in the order given.
pub fn vms<'a>(ctx: &'a Context, names: &[String], all: bool) -> Result<Vec<&'a Vm>, Failure> {
    if all || names.is_empty() {
        return Ok(ctx.project.vms.iter().collect());
    }
    let mut chosen: Vec<&Vm> = Vec::new();
    for name in names {
        let vm = vm(ctx, name)?;
        if !chosen.iter().any(|c| c.name == vm.name) {
            chosen.push(vm);
        }
    }
    Ok(chosen)
}
