//! `qcmdr start` and `qcmdr restart`: VMs in parallel, one progress line each, one summary
//! line each at the end; Ctrl-C stops what was half started.

use std::process::ExitCode;
use std::time::Duration;

use super::args::StartArgs;
use super::progress::Progress;
use super::{cmd_stop, json as json_out, load, style, Cli, Failure};
use crate::lifecycle::cancel::Cancel;
use crate::lifecycle::context::Context;
use crate::lifecycle::parallel;
use crate::lifecycle::start::{self, StartError, StartOptions, StartReport};
use crate::model::Vm;

pub fn run(cli: &Cli, args: &StartArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, &args.vms, args.all)?;
    start_all(cli, &ctx, &vms, args)
}

pub fn restart(cli: &Cli, args: &StartArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, &args.vms, args.all)?;
    let stopped = cmd_stop::stop_all(cli, &ctx, &vms, &Default::default(), args.json.json)?;
    if stopped != ExitCode::SUCCESS {
        return Ok(stopped);
    }
    start_all(cli, &ctx, &vms, args)
}

fn start_all(cli: &Cli, ctx: &Context, vms: &[&Vm], args: &StartArgs) -> Result<ExitCode, Failure> {
    let options = StartOptions {
        timeout: args.timeout.map(Duration::from_secs_f64),
        keep_running: args.keep_running,
        no_sync: args.no_sync,
        reset_disk: args.reset_disk,
    };
    let cancel = Cancel::new()?;
    let on_signal = cancel.clone();
    // Without this, Ctrl-C would kill qcmdr and orphan the QEMU it was starting.
    ctrlc::set_handler(move || on_signal.trigger())
        .map_err(|e| Failure::new(format!("cannot handle Ctrl-C: {e}")))?;
    let progress = Progress::new(cli.quiet || args.json.json);
    // Images first, one at a time: they are shared between VMs and each build is heavy.
    super::cmd_image::build_for(ctx, vms, &progress)?;
    let results: Vec<(&Vm, Result<StartReport, StartError>)> = parallel::each(vms, |vm| {
        let result = start::start(ctx, vm, &options, &progress, &cancel);
        let line = result.as_ref().map(summary).unwrap_or_default();
        progress.finish(&vm.name, &line);
        (*vm, result)
    });

    let mut failed = false;
    let mut documents = Vec::new();
    for (vm, result) in &results {
        match result {
            Ok(report) => documents.push(json_out::start_ok(report)),
            Err(err) => {
                failed = true;
                report_failure(vm, err);
                documents.push(match err {
                    StartError::NotReady(f) => json_out::start_err(
                        &vm.name,
                        &f.reason,
                        &f.serial_tail,
                        &f.qemu_tail,
                        f.kept_running,
                    ),
                    other => json_out::start_err(
                        &vm.name,
                        &Failure::from(other).to_string(),
                        &[],
                        &[],
                        None,
                    ),
                });
            }
        }
    }
    if args.json.json {
        println!("{}", json_out::document(json_out::START_SCHEMA, documents));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `demo: ready in 5.8 s (launch 0.1 s, login 5.2 s, ssh 0.5 s)`
fn summary(report: &StartReport) -> String {
    if report.already_running {
        return format!("{}: already running (pid {})", report.vm, report.pid);
    }
    let stages: Vec<String> = report
        .stages
        .iter()
        .map(|m| format!("{} {:.1} s", m.stage.as_str(), m.took.as_secs_f64()))
        .collect();
    format!(
        "{}: {} in {:.1} s ({})",
        report.vm,
        style::good("ready"),
        report.total.as_secs_f64(),
        stages.join(", ")
    )
}

fn report_failure(vm: &Vm, err: &StartError) {
    let StartError::NotReady(failure) = err else {
        style::error_line(&format!("{}: {}", vm.name, Failure::from(err)));
        return;
    };
    let mut text = format!("{}: {}", vm.name, failure.reason);
    match failure.kept_running {
        Some(pid) => text.push_str(&format!(
            "\n  QEMU left running (pid {pid}, --keep-running); stop it with: qcmdr stop {}",
            vm.name
        )),
        None => text.push_str("\n  the VM was stopped"),
    }
    for (name, path, lines) in [
        ("serial log", &failure.serial_log, &failure.serial_tail),
        ("QEMU log", &failure.qemu_log, &failure.qemu_tail),
    ] {
        if lines.is_empty() {
            text.push_str(&format!("\n  {name} ({}) is empty", path.display()));
        } else {
            text.push_str(&format!(
                "\n  last lines of the {name} ({}):",
                path.display()
            ));
            for line in lines {
                text.push_str(&format!("\n    | {line}"));
            }
        }
    }
    style::error_line(&text);
}
