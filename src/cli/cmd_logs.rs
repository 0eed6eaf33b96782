//! `qcmdr serial VM` and `qcmdr logs VM`: the last lines of the serial console log or of
//! QEMU's own output, escape sequences stripped; `-f` follows the log, also across restarts.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::args::LogArgs;
use super::{exit, interrupt, load, Cli, Failure};
use crate::logs::clean_stream::CleanStream;
use crate::logs::follow::{Chunk, Follow};
use crate::logs::log_tail;

/// Which of a VM's logs.
#[derive(Debug, Clone, Copy)]
pub enum Log {
    Serial,
    Qemu,
}

pub fn run(cli: &Cli, args: &LogArgs, log: Log) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::vm(&ctx, &args.vm)?;
    let paths = ctx.paths(vm);
    let path = match log {
        Log::Serial => &paths.serial_log,
        Log::Qemu => &paths.qemu_log,
    };
    if !args.follow && !path.exists() {
        return Err(Failure::new(format!(
            "no log yet at {}: VM {:?} has never been started here",
            path.display(),
            vm.name
        )));
    }
    let tail = log_tail::tail(path, args.lines);
    if tail.end == 0 {
        // Say so on stderr: an empty answer alone looks like a broken command.
        let waiting = if args.follow {
            "; waiting for output"
        } else {
            ""
        };
        eprintln!("{} is empty{waiting}", path.display());
    }
    let mut out = std::io::stdout().lock();
    for line in &tail.lines {
        if writeln!(out, "{line}").is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    drop(out);
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    // Following a VM that was never started waits for its first log.
    crate::state_dir::private_dir::ensure(&ctx.state, &paths.dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", paths.dir.display())))?;
    follow(path, tail.end, &vm.name)
}

/// Until Ctrl-C (exit 130, as for every interrupted command) or a closed stdout (e.g.
/// `| head`: a normal end).
fn follow(path: &Path, offset: u64, vm: &str) -> Result<ExitCode, Failure> {
    let stop = interrupt::cancel_on_signal()?;
    let mut follow = Follow::new(path.to_path_buf(), offset)
        .map_err(|e| Failure::new(format!("cannot follow {}: {e}", path.display())))?;
    let mut text = CleanStream::default();
    let mut out = std::io::stdout();
    while let Some(chunk) = follow
        .next(stop.fd())
        .map_err(|e| Failure::new(format!("cannot follow {}: {e}", path.display())))?
    {
        let written = match chunk {
            Chunk::Data(bytes) => out
                .write_all(text.push(&bytes).as_bytes())
                .and_then(|()| out.flush()),
            Chunk::Rotated => {
                eprintln!(
                    "--- {vm} was restarted: following the new {} ---",
                    path.display()
                );
                Ok(())
            }
        };
        if written.is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    Ok(match stop.is_cancelled() {
        true => ExitCode::from(exit::INTERRUPTED),
        false => ExitCode::SUCCESS,
    })
}
