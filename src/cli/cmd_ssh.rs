//! `qcmdr ssh`, `exec` and `scp`: the real OpenSSH tools on the private config, replacing
//! qcmdr's process so that terminals, signals and exit codes behave exactly as with ssh.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use super::{load, Cli, Failure};
use crate::lifecycle::context::Context;
use crate::model::Vm;

pub fn ssh(cli: &Cli, name: &str, args: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = running_vm(&ctx, name)?;
    let mut command = ctx.ssh_target(vm).command();
    command.arg(&vm.name).args(args);
    Err(replace_with(command))
}

pub fn exec(cli: &Cli, name: &str, argv: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = running_vm(&ctx, name)?;
    // ssh joins its remote arguments with spaces for the guest's shell to re-parse: quote each
    // one so that the guest sees exactly this argv.
    let remote = shlex::try_join(argv.iter().map(String::as_str)).map_err(|e| {
        Failure::new(format!(
            "cannot quote the command for the guest's shell: {e}"
        ))
    })?;
    let mut command = ctx.ssh_target(vm).command();
    command.arg(&vm.name).arg("--").arg(remote);
    Err(replace_with(command))
}

pub fn scp(cli: &Cli, args: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    for arg in args {
        if let Some(name) = remote_vm_name(&ctx, arg) {
            running_vm(&ctx, name)?;
        }
    }
    let mut command = Command::new("scp");
    command.arg("-F").arg(ctx.state.ssh_config()).args(args);
    Err(replace_with(command))
}

/// The VM named by `[user@]VM:path`, if `arg` has that shape and VM is configured.
fn remote_vm_name<'a>(ctx: &Context, arg: &'a str) -> Option<&'a str> {
    if arg.starts_with('-') || arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (host, _) = arg.split_once(':')?;
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    ctx.project.vm(host).map(|_| host)
}

/// The running VM `name`, with the private SSH files written for the tool about to use them.
fn running_vm<'a>(ctx: &'a Context, name: &str) -> Result<&'a Vm, Failure> {
    let vm = load::running_vm(ctx, name)?;
    load::prepare_ssh(ctx)?;
    Ok(vm)
}

/// Only returns if the program could not be started.
fn replace_with(mut command: Command) -> Failure {
    let program = command.get_program().to_string_lossy().into_owned();
    let err = command.exec();
    Failure::new(format!("cannot run {program}: {err}"))
}
