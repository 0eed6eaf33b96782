//! Command-line interface: the only layer that parses arguments, prints, and knows terminals.

mod args;
mod cmd_check;
mod cmd_completions;
mod cmd_list;
mod cmd_mutagen;
mod cmd_remote;
mod cmd_show;
mod cmd_start;
mod cmd_status;
mod cmd_stop;
mod cmd_sync;
mod exit;
mod json;
mod load;
mod progress;
mod style;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
use args::Command;
pub use exit::Failure;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(failure) => {
            failure.report();
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Check => cmd_check::run(cli),
        Command::List(json) => cmd_list::run(cli, json.json),
        Command::Show { vm, json } => cmd_show::run(cli, vm, json.json),
        Command::SshConfig { vms } => cmd_show::ssh_config(cli, vms),
        Command::Start(args) => cmd_start::run(cli, args),
        Command::Stop(args) => cmd_stop::run(cli, args),
        Command::Restart(args) => cmd_start::restart(cli, args),
        Command::Status { vms, json } => cmd_status::run(cli, vms, json.json),
        Command::Ssh { argv } => cmd_remote::ssh(cli, &argv[0], &argv[1..]),
        Command::Exec { vm, command } => cmd_remote::exec(cli, vm, command),
        Command::Scp { args } => cmd_remote::scp(cli, args),
        Command::Sync(command) => cmd_sync::run(cli, command),
        Command::Mutagen { args } => cmd_mutagen::run(cli, args),
        Command::Completions { shell } => cmd_completions::run(*shell),
    }
}
