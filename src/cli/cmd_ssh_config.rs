//! `qcmdr ssh-config [VM...]`: the VMs' SSH settings, for a user's own `~/.ssh/config`.

use std::process::ExitCode;

use super::{load, Cli, Failure};

pub fn run(cli: &Cli, names: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let chosen = load::vms(&ctx, names, false)?;
    // The private file (used by the wrappers and by `ssh -F`) always matches what is printed.
    load::prepare_ssh(&ctx)?;
    let mut project = ctx.project.clone();
    project
        .vms
        .retain(|vm| chosen.iter().any(|c| c.name == vm.name));
    print!(
        "{}",
        crate::ssh::config_file::render_export(&project, &ctx.state)
    );
    Ok(ExitCode::SUCCESS)
}
