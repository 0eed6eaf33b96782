//! `qcmdr stop`: VMs in parallel through the shutdown chain, one summary line each.

use std::process::ExitCode;
use std::time::Duration;

use super::args::StopArgs;
use super::json::{self, Document, StopVm};
use super::per_vm::{self, Outcome, Rendering};
use super::{load, style, Cli, Failure};
use crate::lifecycle::context::Context;
use crate::lifecycle::stop::{self, StopOptions, StopReport};
use crate::model::Vm;

pub fn run(cli: &Cli, args: &StopArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, &args.vms, args.all)?;
    let options = StopOptions {
        timeout: args.timeout.map(Duration::from_secs_f64),
        force: args.force,
    };
    let outcome = stop_vms(cli, &ctx, &vms, &options, args.json.json);
    let code = outcome.exit_code();
    if args.json.json {
        json::print(&Document::new(json::STOP_SCHEMA, outcome.entries));
    }
    Ok(code)
}

/// Stops `vms` in parallel, reporting failures on stderr.
pub fn stop_vms(
    cli: &Cli,
    ctx: &Context,
    vms: &[&Vm],
    options: &StopOptions,
    as_json: bool,
) -> Outcome<StopVm> {
    per_vm::run(
        vms,
        cli.quiet || as_json,
        |vm, progress| stop::stop(ctx, vm, options, progress),
        Rendering {
            summary,
            report: |vm, err| {
                style::error_line(&format!("{}: {}", vm.name, Failure::from(err)));
            },
            entry: |vm, result| StopVm::new(&vm.name, result),
        },
    )
}

fn summary(report: &StopReport) -> String {
    match report.ended_by {
        Some(step) => format!(
            "{}: stopped in {:.1} s (by {})",
            report.vm,
            report.took.as_secs_f64(),
            step.as_str()
        ),
        None => format!("{}: not running", report.vm),
    }
}
