//! `qcmdr console VM`: the terminal attached to the VM's serial console.

use std::process::ExitCode;

use super::{attach, load, Cli, Failure};

pub fn run(cli: &Cli, name: &str) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::running_vm(&ctx, name)?;
    // QEMU's chardev logfile keeps recording everything to serial.log meanwhile.
    attach::attach(
        &ctx.paths(vm).serial_socket,
        &format!("{}'s serial console", vm.name),
    )
}
