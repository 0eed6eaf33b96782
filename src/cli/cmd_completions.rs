//! `qcmdr completions SHELL`: a completion script for bash, zsh, fish, elvish or PowerShell.

use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, Failure};

pub fn run(shell: clap_complete::Shell) -> Result<ExitCode, Failure> {
    clap_complete::generate(shell, &mut Cli::command(), "qcmdr", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
