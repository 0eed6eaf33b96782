//! `qcmdr check`: load and validate the config, reporting every problem at once; then let
//! ssh judge the SSH config it renders, and warn about what this machine lacks.

use std::process::ExitCode;

use super::{load, style, Cli, Failure};
use crate::lifecycle::start::preflight;

pub fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let file = ctx.project.config_file.display().to_string();
    let ssh_problems = preflight::ssh_config_problems(&ctx);
    if !ssh_problems.is_empty() {
        // The config's own `ssh` options are what ssh refuses: a config error.
        return Err(Failure::usage(format!(
            "{file}: {} problem(s) in the SSH config it renders:\n{}",
            ssh_problems.len(),
            ssh_problems
                .iter()
                .map(|p| format!("  {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    for warning in preflight::machine_warnings(&ctx) {
        style::warning_line(&format!("{file}: {warning}"));
    }
    if !cli.quiet {
        let names = ctx.project.vm_names();
        println!(
            "{file}: OK, {} VM{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
