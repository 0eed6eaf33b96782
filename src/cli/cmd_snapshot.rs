//! `qcmdr snapshot save|list|delete|restore`: one line per action, a table or JSON for list
//! (a damaged snapshot listed with what is wrong and the command that deletes it).

use std::process::ExitCode;

use super::args::{JsonFlag, SnapshotCommand};
use super::json::{self, SnapshotEntry, Snapshots};
use super::progress::Progress;
use super::{cmd_start, load, Cli, Failure};
use crate::error_chain::chain;
use crate::lifecycle::snapshot::store::{Entry, Metadata, Store};
use crate::lifecycle::snapshot::{delete, delete_command, save};

pub fn run(cli: &Cli, command: &SnapshotCommand) -> Result<ExitCode, Failure> {
    match command {
        SnapshotCommand::Save { vm, name, stop } => run_save(cli, vm, name, *stop),
        SnapshotCommand::List { vm, json } => run_list(cli, vm.as_deref(), *json),
        SnapshotCommand::Delete { vm, name } => {
            let ctx = load::context(cli)?;
            let vm = load::vm(&ctx, vm)?;
            delete::delete(&ctx, vm, name)
                .map_err(|e| Failure::new(format!("{}: {}", vm.name, chain(&e))))?;
            if !cli.quiet {
                println!("{}: deleted snapshot {name:?}", vm.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotCommand::Restore {
            vm,
            name,
            force,
            ready,
            json,
        } => cmd_start::restore_running(cli, vm, name, *force, ready, *json),
    }
}

fn run_save(cli: &Cli, vm: &str, name: &str, stop: bool) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::vm(&ctx, vm)?;
    if stop || vm.wait_for.ssh() {
        load::prepare_ssh(&ctx)?;
    }
    let progress = Progress::new(cli.quiet);
    let result = save::save(&ctx, vm, name, stop, &progress);
    let line = match &result {
        Ok(report) => format!(
            "{}: saved snapshot {name:?} in {:.1} s ({}){}",
            vm.name,
            report.took.as_secs_f64(),
            human_size(report.meta.size_bytes),
            if report.stopped {
                "; the VM is stopped"
            } else {
                ""
            }
        ),
        Err(_) => String::new(),
    };
    progress.finish(&vm.name, &line);
    result.map_err(|e| Failure::new(format!("{}: {}", vm.name, chain(&e))))?;
    Ok(ExitCode::SUCCESS)
}

fn run_list(cli: &Cli, vm: Option<&str>, as_json: JsonFlag) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = match vm {
        Some(name) => vec![load::vm(&ctx, name)?],
        None => ctx.project.vms.iter().collect(),
    };
    let mut found: Vec<(&str, Entry)> = Vec::new();
    for vm in vms {
        let store = Store::new(&ctx.paths(vm));
        found.extend(
            store
                .list()
                .into_iter()
                .map(|entry| (vm.name.as_str(), entry)),
        );
    }
    if as_json.json {
        json::print(&Snapshots::new(
            found
                .iter()
                .map(|(vm, entry)| SnapshotEntry::new(vm, entry))
                .collect(),
        ));
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        if !cli.quiet {
            eprintln!("no snapshots; save one with: qcmdr snapshot save VM NAME");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let width = |f: &dyn Fn(&str, &Entry) -> usize, title: &str| {
        found
            .iter()
            .map(|(vm, entry)| f(vm, entry))
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let vm_w = width(&|vm, _| vm.len(), "VM");
    let name_w = width(&|_, entry| entry.name.len(), "NAME");
    println!(
        "{:vm_w$}  {:name_w$}  {:23}  {:>9}  {:>6}  QEMU",
        "VM", "NAME", "CREATED", "SIZE", "DISKS"
    );
    for (vm, entry) in &found {
        let known = |f: &dyn Fn(&Metadata) -> String| entry.meta.as_ref().map_or("?".into(), f);
        println!(
            "{:vm_w$}  {:name_w$}  {:23}  {:>9}  {:>6}  {}",
            vm,
            entry.name,
            known(&|m| utc_text(m.created_at)),
            known(&|m| human_size(m.size_bytes)),
            known(&|m| m.disks.len().to_string()),
            known(&|m| m.qemu_version.clone()),
        );
        if let Some(damage) = &entry.damage {
            println!(
                "{:vm_w$}  damaged: {damage}; delete it: {}",
                "",
                delete_command(vm, &entry.name)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= 1024.0 * MIB {
        format!("{:.1} GiB", bytes as f64 / MIB / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

/// `2026-11-28 06:50:12 UTC` from Unix seconds (the civil calendar, without a date crate).
fn utc_text(unix: f64) -> String {
    let secs = unix.max(0.0) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_matches_the_calendar() {
        assert_eq!(utc_text(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(1_700_000_000.9), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_text(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn sizes_read_as_mib_or_gib() {
        assert_eq!(human_size(111_012_628), "105.9 MiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
