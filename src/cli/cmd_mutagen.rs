//! `qcmdr mutagen ARGS...`: the real mutagen on qcmdr's private data directory and SSH
//! wrappers, replacing qcmdr's process so that its output, prompts and exit code are
//! exactly mutagen's.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use super::{load, Cli, Failure};
use crate::sync::mutagen::Mutagen;

pub fn run(cli: &Cli, args: &[String]) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let mutagen = Mutagen::prepare(&ctx.project, &ctx.state)?;
    let err = mutagen
        .command(args)
        .stdin(std::process::Stdio::inherit())
        .exec();
    Err(Failure::new(format!("cannot run mutagen: {err}")))
}
