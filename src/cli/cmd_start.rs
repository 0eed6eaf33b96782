//! `qcmdr start` and `qcmdr restart`: VMs in parallel, one progress line each, one summary
//! line each at the end; Ctrl-C stops what was half started.

use std::process::ExitCode;
use std::time::Duration;

use super::args::{JsonFlag, ReadyArgs, StartArgs};
use super::json::{self, Document, Restart, StartVm};
use super::per_vm::{self, Outcome, Rendering};
use super::{cmd_image, cmd_stop, interrupt, load, style, Cli, Failure};
use crate::lifecycle::context::Context;
use crate::lifecycle::snapshot::restore::{self, Snapshots};
use crate::lifecycle::start::{self, Boot, StartError, StartOptions, StartReport};
use crate::model::Vm;

pub fn run(cli: &Cli, args: &StartArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, &args.vms, args.all)?;
    let replaced = with_kernel(&vms, args)?;
    let vms = replaced.as_ref().map_or(vms, |own| own.iter().collect());
    let todo = Todo::Start(boot_of(args));
    report(
        start_vms(cli, &ctx, &vms, &args.ready, args.json, &todo)?,
        args.json,
    )
}

/// `snapshot restore`: like `start --from`, but of a running VM, which is stopped first.
pub fn restore_running(
    cli: &Cli,
    vm: &str,
    name: &str,
    force: bool,
    ready: &ReadyArgs,
    json: JsonFlag,
) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::vm(&ctx, vm)?;
    let todo = Todo::Restore { name, force };
    report(start_vms(cli, &ctx, &[vm], ready, json, &todo)?, json)
}

fn report(outcome: Outcome<StartVm>, json: JsonFlag) -> Result<ExitCode, Failure> {
    let code = outcome.exit_code();
    if json.json {
        json::print(&Document::new(json::START_SCHEMA, outcome.entries));
    }
    Ok(code)
}

/// `--kernel`: each VM booting that kernel (relative to the current folder); `None` without.
fn with_kernel(vms: &[&Vm], args: &StartArgs) -> Result<Option<Vec<Vm>>, Failure> {
    let Some(kernel) = &args.kernel else {
        return Ok(None);
    };
    let kernel = std::path::absolute(kernel)
        .map_err(|e| Failure::usage(format!("--kernel {}: {e}", kernel.display())))?;
    vms.iter()
        .map(|vm| {
            vm.with_kernel(&kernel).ok_or_else(|| {
                Failure::usage(format!(
                    "VM {:?} boots the kernel of its args (or its image's own boot loader), so --kernel cannot replace it; give the VM a kernel key instead of -kernel in args",
                    vm.name
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn boot_of(args: &StartArgs) -> Boot {
    match &args.from {
        Some(name) => Boot::FromSnapshot {
            name: name.clone(),
            force: args.force,
        },
        None => Boot::Cold {
            reset_disk: args.reset_disk,
        },
    }
}

/// What each VM is to get: a start (cold or from a snapshot), or its running QEMU replaced
/// by a snapshot's state.
enum Todo<'a> {
    Start(Boot),
    Restore { name: &'a str, force: bool },
}

/// `stop`, then `start` (only if every stop succeeded); under `--json` one
/// `qcmdr.restart/1` document holding both.
pub fn restart(cli: &Cli, args: &StartArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, &args.vms, args.all)?;
    let replaced = with_kernel(&vms, args)?;
    let vms = replaced.as_ref().map_or(vms, |own| own.iter().collect());
    let as_json = args.json.json;
    let stopped = cmd_stop::stop_vms(cli, &ctx, &vms, &Default::default(), as_json);
    let (code, started) = if stopped.failed {
        (stopped.exit_code(), None)
    } else {
        let todo = Todo::Start(boot_of(args));
        let started = start_vms(cli, &ctx, &vms, &args.ready, args.json, &todo)?;
        (started.exit_code(), Some(started))
    };
    if as_json {
        json::print(&Restart::new(
            Document::new(json::STOP_SCHEMA, stopped.entries),
            started.map(|s| Document::new(json::START_SCHEMA, s.entries)),
        ));
    }
    Ok(code)
}

fn start_vms(
    cli: &Cli,
    ctx: &Context,
    vms: &[&Vm],
    ready: &ReadyArgs,
    json: JsonFlag,
    todo: &Todo<'_>,
) -> Result<Outcome<StartVm>, Failure> {
    let options = StartOptions {
        timeout: ready.timeout.map(Duration::from_secs_f64),
        keep_running: ready.keep_running,
        no_sync: ready.no_sync,
        boot: match todo {
            Todo::Start(boot) => boot.clone(),
            Todo::Restore { .. } => Boot::default(),
        },
        defer_clock: false,
    };
    let quiet = cli.quiet || json.json;
    // Without this, Ctrl-C would kill qcmdr and orphan the QEMU (or the image build) it was
    // starting.
    let cancel = interrupt::cancel_on_signal()?;
    // Images first, one at a time: VMs share them and each build is heavy.
    let failed_builds =
        cmd_image::build_for(ctx, vms, &super::progress::Progress::new(quiet), &cancel)?;
    let mut outcome = per_vm::run(
        vms,
        quiet,
        |vm, progress| {
            let image = vm.image.as_ref().map(|b| b.name.as_str());
            if let Some(failed) = failed_builds
                .iter()
                .find(|f| Some(f.image.as_str()) == image)
            {
                return Err(StartError::Image(failed.clone()));
            }
            match todo {
                Todo::Restore { name, force } => {
                    restore::restore_running(ctx, vm, name, *force, &options, progress, &cancel)
                }
                Todo::Start(_) => start::start(ctx, vm, &options, &Snapshots, progress, &cancel),
            }
        },
        Rendering {
            summary,
            report: report_failure,
            entry: |vm, result| StartVm::new(&vm.name, result),
        },
    );
    outcome.interrupted = cancel.is_cancelled();
    Ok(outcome)
}

/// `demo: ready in 5.8 s (launch 0.1 s, login 5.2 s, ssh 5.6 s)`: each stage's own time, from
/// when it began (login and ssh run side by side).
fn summary(report: &StartReport) -> String {
    if report.already_running {
        return format!("{}: already running (pid {})", report.vm, report.pid);
    }
    let stages: Vec<String> = report
        .stages
        .iter()
        .map(|m| format!("{} {:.1} s", m.stage.as_str(), m.took.as_secs_f64()))
        .collect();
    let from = match &report.from_snapshot {
        Some(name) => format!(" from snapshot {name:?}"),
        None => String::new(),
    };
    format!(
        "{}: {}{from} in {:.1} s ({})",
        report.vm,
        style::good("ready"),
        report.total.as_secs_f64(),
        stages.join(", ")
    )
}

fn report_failure(vm: &Vm, err: &StartError) {
    if let StartError::Image(build) = err {
        style::error_line(&format!("{}: {}", vm.name, cmd_image::failure_text(build)));
        return;
    }
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
