//! `qcmdr monitor VM [COMMAND...]`: one HMP command through QMP (`human-monitor-command`), or,
//! without a command, the terminal attached to the HMP monitor socket, where QEMU's own
//! readline gives line editing, history and completion.

use std::process::ExitCode;
use std::time::Duration;

use super::{attach, load, qmp_session, Cli, Failure};
use crate::qemu::hmp::human_monitor_command;

pub fn run(cli: &Cli, name: &str, command: &[String], timeout: f64) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::running_vm(&ctx, name)?;
    let paths = ctx.paths(vm);
    if command.is_empty() {
        return attach::attach(
            &paths.monitor_socket,
            &format!("{}'s QEMU monitor", vm.name),
        );
    }
    let mut qmp = qmp_session::open(&paths, Duration::from_secs_f64(timeout))?;
    let output = human_monitor_command(&mut qmp, &command.join(" "))?;
    print!("{}", output.replace("\r\n", "\n"));
    Ok(ExitCode::SUCCESS)
}
