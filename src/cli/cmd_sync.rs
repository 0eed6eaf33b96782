//! `qcmdr sync status|flush|watch`: how each VM's file sync is doing, sync now, and keep
//! rsync entries syncing on every local change.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::args::SyncCommand;
use super::{interrupt, json as json_out, load, style, Cli, Failure};
use crate::lifecycle::context::Context;
use crate::lifecycle::status::state_of;
use crate::model::Vm;
use crate::runtime::process::{self, Identity, ProcessHandle};
use crate::sync::status::EntryStatus;
use crate::sync::watch::{Watch, WatchEnd, WatchEvent};

pub const SYNC_STATUS_SCHEMA: &str = "qcmdr.sync-status/1";

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
            documents.push(json!({
                "name": vm.name,
                "running": started.is_some(),
                "entries": entries.iter().map(|e| entry_json(vm, e)).collect::<Vec<_>>(),
            }));
        } else {
            print_vm(vm, started.is_some(), &entries);
        }
    }
    if as_json {
        println!("{}", json_out::document(SYNC_STATUS_SCHEMA, documents));
    }
    Ok(ExitCode::SUCCESS)
}

fn entry_json(vm: &Vm, entry: &EntryStatus) -> Value {
    json!({
        "entry": format!("sync[{}]", entry.index + 1),
        "engine": entry.engine.as_str(),
        "source": entry.source,
        "dest": entry.dest,
        "remote": format!("{}:{}", vm.name, entry.dest),
        "state": entry.state,
        "session": entry.session.as_ref().map(|s| json!({
            "name": s.name,
            "identifier": s.identifier,
            "status": s.status,
            "paused": s.paused,
            "last_error": s.last_error,
            "successful_cycles": s.successful_cycles,
            "alpha_connected": s.alpha_connected,
            "beta_connected": s.beta_connected,
        })),
        "last_run": entry.last_run.as_ref().map(|r| json!({
            "at": r.at,
            "ok": r.ok,
            "took_s": r.took_s,
            "error": r.error,
        })),
        "problems": entry.problems,
    })
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
    say(match end {
        WatchEnd::Interrupted => "watch ended".into(),
        WatchEnd::VmStopped => "the VM stopped; watch ended".into(),
    });
    Ok(ExitCode::SUCCESS)
}

fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
