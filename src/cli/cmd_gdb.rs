//! `qcmdr gdb VM [-- GDB-ARGS...]`: QEMU for this VM in the foreground under gdb, with exactly
//! the argv `start` would use (`gdb GDB-ARGS --args <argv>`), holding the VM's lock meanwhile.

use std::process::{Command, ExitCode};

use super::{interrupt, load, Cli, Failure};
use crate::lifecycle::debug_launch::{self, Finished};

pub fn run(cli: &Cli, name: &str, gdb_args: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::vm(&ctx, name)?;
    let prepared = debug_launch::prepare(&ctx, vm, &format!("qcmdr gdb {}", vm.name))?;
    // Ctrl-C in this terminal is gdb's (it interrupts QEMU); qcmdr must outlive gdb to clean up.
    interrupt::ignore_signals()?;
    let status = Command::new("gdb")
        .args(gdb_args)
        .arg("--args")
        .args(&prepared.argv)
        .current_dir(&prepared.cwd)
        .status();
    let finished = prepared.finish();
    let status = status
        .map_err(|e| Failure::new(format!("cannot run gdb: {e} (Debian: apt-get install gdb)")))?;
    if let Finished::StillRunning { pid } = finished {
        eprintln!(
            "QEMU (pid {pid}) still runs after gdb ended; stop it with: qcmdr stop {}",
            vm.name
        );
    }
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}
