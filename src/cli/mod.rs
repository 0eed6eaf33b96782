//! Command-line interface: the only layer that parses arguments, prints, and knows terminals.

mod args;
mod attach;
mod broken_pipe;
mod cmd_check;
mod cmd_completions;
mod cmd_console;
mod cmd_doctor;
mod cmd_gdb;
mod cmd_image;
mod cmd_init;
mod cmd_list;
mod cmd_logs;
mod cmd_monitor;
mod cmd_mutagen;
mod cmd_qmp;
mod cmd_run;
mod cmd_show;
mod cmd_snapshot;
mod cmd_ssh;
mod cmd_ssh_config;
mod cmd_start;
mod cmd_status;
mod cmd_stop;
mod cmd_sync;
mod complete;
mod exit;
mod interrupt;
mod json;
mod load;
mod per_vm;
mod progress;
mod qmp_session;
mod raw_terminal;
mod seconds_arg;
mod style;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use args::Cli;
use args::Command;
pub use exit::Failure;

pub fn main() -> ExitCode {
    // `COMPLETE=<shell> qcmdr ...` answers a completion request and exits.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    broken_pipe::exit_quietly_on_broken_stdout();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(failure) => {
            failure.report();
            failure.exit_code()
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Check => cmd_check::run(cli),
        Command::List(json) => cmd_list::run(cli, json.json),
        Command::Show { vm, json } => cmd_show::run(cli, vm, json.json),
        Command::SshConfig { vms } => cmd_ssh_config::run(cli, vms),
        Command::Start(args) => cmd_start::run(cli, args),
        Command::Stop(args) => cmd_stop::run(cli, args),
        Command::Restart(args) => cmd_start::restart(cli, args),
        Command::Status { vms, json } => cmd_status::run(cli, vms, json.json),
        Command::Run(args) => cmd_run::run(cli, args),
        Command::Ssh { argv } => cmd_ssh::ssh(cli, &argv[0], &argv[1..]),
        Command::Exec { vm, command } => cmd_ssh::exec(cli, vm, command),
        Command::Scp { args } => cmd_ssh::scp(cli, args),
        Command::Console { vm } => cmd_console::run(cli, vm),
        Command::Serial(args) => cmd_logs::run(cli, args, cmd_logs::Log::Serial),
        Command::Logs(args) => cmd_logs::run(cli, args, cmd_logs::Log::Qemu),
        Command::Monitor {
            vm,
            timeout,
            command,
        } => cmd_monitor::run(cli, vm, command, *timeout),
        Command::Qmp(args) => cmd_qmp::run(cli, args),
        Command::Gdb { vm, gdb_args } => cmd_gdb::run(cli, vm, gdb_args),
        Command::Sync(command) => cmd_sync::run(cli, command),
        Command::Snapshot(command) => cmd_snapshot::run(cli, command),
        Command::Mutagen { args } => cmd_mutagen::run(cli, args),
        Command::Image(command) => cmd_image::run(cli, command),
        Command::Doctor { vms, json } => cmd_doctor::run(cli, vms, json.json),
        Command::Init { dir, arch } => cmd_init::run(dir.as_deref(), arch),
        Command::Completions { shell } => cmd_completions::run(*shell),
    }
}
