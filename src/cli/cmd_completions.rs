//! `qcmdr completions SHELL`: a completion script for bash, zsh, fish, elvish or PowerShell.
//!
//! The script calls back into qcmdr (`COMPLETE=<shell> qcmdr -- <words>`) when TAB is pressed,
//! so VM names come from the config as it is then. Same as `source <(COMPLETE=bash qcmdr)`.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use clap_complete::Shell;

use super::{Cli, Failure};

pub fn run(shell: Shell) -> Result<ExitCode, Failure> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Elvish => &Elvish,
        Shell::PowerShell => &Powershell,
        // A shell added to clap_complete later: its static script, without VM names.
        other => {
            clap_complete::generate(other, &mut Cli::command(), "qcmdr", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
    };
    // This very binary answers the completion requests, wherever it is installed.
    let program = std::env::current_exe()
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "qcmdr".to_string());
    completer.write_registration(
        "COMPLETE",
        "qcmdr",
        "qcmdr",
        &program,
        &mut std::io::stdout(),
    )?;
    Ok(ExitCode::SUCCESS)
}
