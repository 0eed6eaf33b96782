//! `qcmdr check`: load and validate the config, reporting every problem at once.

use std::process::ExitCode;

use super::{load, Cli, Failure};

pub fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    if !cli.quiet {
        let names = ctx.project.vm_names();
        println!(
            "{}: OK, {} VM{}: {}",
            ctx.project.config_file.display(),
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
