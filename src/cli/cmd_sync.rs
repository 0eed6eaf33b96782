//! `qcmdr sync status|flush|watch`: how each VM's file sync is doing, sync now, and keep
//! rsync entries syncing on every local change.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use super::args::SyncCommand;
use super::json::{self, Document, SyncStatusVm};
use super::{exit, interrupt, load, style, Cli, Failure};
use crate::lifecycle::context::Context;
use crate::lifecycle::status::state_of;
use crate::model::Vm;
use crate::runtime::process::{self, Identity, ProcessHandle};
use crate::sync::status::EntryStatus;
use crate::sync::watch::{Watch, WatchEnd, WatchEvent};

pub fn run(cli: &Cli, command: &SyncCommand) -> Result<ExitCode, Failure> {
    match command {
        SyncCommand::Status { vms, json } => status(cli, vms, json.json),
        SyncCommand::Flush { vm } => flush(cli, vm),
        SyncCommand::Watch { vm } => watch(cli, vm),
    }
}

/// The VM's QEMU, if it runs.
fn qemu_of(ctx: &Context, vm: &Vm) -> Option<ProcessHandle> {
    match process::identify(&ctx.paths(vm).pidfile) {
        Ok(Identity::Running(qemu)) => Some(qemu),
        _ => None,
    }
}

fn running_qemu(ctx: &Context, vm: &Vm) -> Result<ProcessHandle, Failure> {
    qemu_of(ctx, vm).ok_or_else(|| load::not_running(&vm.name, state_of(ctx, vm).0))
}

fn with_entries<'a>(ctx: &'a Context, name: &str) -> Result<&'a Vm, Failure> {
    let vm = load::vm(ctx, name)?;
    if vm.sync.is_empty() {
        return Err(Failure::new(format!(
            "VM {name:?} has no sync entries in {}",
            ctx.project.config_file.display()
        )));
    }
    Ok(vm)
}

fn status(cli: &Cli, names: &[String], as_json: bool) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, names, false)?;
    let mut documents = Vec::new();
    for vm in vms {
        let started =
            qemu_of(&ctx, vm).map(|qemu| SystemTime::now() - qemu.uptime().unwrap_or_default());
        let entries = crate::sync::status::of_vm(&ctx.project, &ctx.state, vm, started);
        if as_json {
            documents.push(SyncStatusVm::new(vm, started.is_some(), &entries));
        } else {
            print_vm(vm, started.is_some(), &entries);
        }
    }
    if as_json {
        json::print(&Document::new(json::SYNC_STATUS_SCHEMA, documents));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_vm(vm: &Vm, running: bool, entries: &[EntryStatus]) {
    let state = if running { "running" } else { "stopped" };
    if entries.is_empty() {
        println!("{} ({state}): no sync entries", vm.name);
        return;
    }
    println!("{} ({state})", vm.name);
    for entry in entries {
        let detail = match (&entry.session, &entry.last_run) {
            (Some(session), _) => {
                format!("{}, {} cycles", session.status, session.successful_cycles)
            }
            (None, Some(run)) => format!(
                "{} {} ago (took {:.1} s)",
                entry.state,
                ago(run.ended_at()),
                run.took_s
            ),
            (None, None) => entry.state.clone(),
        };
        println!(
            "  sync[{}]  {:7}  {} → {}:{}  {detail}",
            entry.index + 1,
            entry.engine.as_str(),
            entry.source.display(),
            vm.name,
            entry.dest
        );
        for problem in &entry.problems {
            anstream::println!("    {} {problem}", style::bad("problem:"));
        }
    }
}

fn ago(at: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(at)
        .unwrap_or_default()
        .as_secs();
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

fn flush(cli: &Cli, name: &str) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = with_entries(&ctx, name)?;
    running_qemu(&ctx, vm)?;
    let started = std::time::Instant::now();
    crate::sync::flush(&ctx.project, &ctx.state, vm)?;
    if !cli.quiet {
        eprintln!(
            "{}: synced in {:.1} s",
            vm.name,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn watch(cli: &Cli, name: &str) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = with_entries(&ctx, name)?;
    let qemu = running_qemu(&ctx, vm)?;
    load::prepare_ssh(&ctx)?;
    let watch = Watch::new(&ctx.state, vm, qemu, interrupt::cancel_on_signal()?)?;
    let say = |line: String| {
        if !cli.quiet {
            eprintln!("{}: {line}", vm.name);
        }
    };
    say("watching for changes (Ctrl-C to stop)".into());
    let end = watch.run(&mut |event| match event {
        WatchEvent::Synced { entry, took } => say(format!("synced {entry} in {}", secs(took))),
        WatchEvent::Failed(error) => style::error_line(&format!("{}: {error}", vm.name)),
    })?;
    match end {
        WatchEnd::Interrupted => {
            say("watch ended".into());
            Ok(ExitCode::from(exit::INTERRUPTED))
        }
        WatchEnd::VmStopped => {
            say("the VM stopped; watch ended".into());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
