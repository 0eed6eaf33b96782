//! `qcmdr stop`: VMs in parallel through the shutdown chain, one summary line each.

use std::process::ExitCode;
use std::time::Duration;

use super::args::StopArgs;
use super::progress::Progress;
use super::{json as json_out, load, style, Cli, Failure};
use crate::lifecycle::context::Context;
use crate::lifecycle::stop::{self, StopOptions, StopReport};
use crate::model::Vm;
use crate::runtime::parallel;

pub fn run(cli: &Cli, args: &StopArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, &args.vms, args.all)?;
    let options = StopOptions {
        timeout: args.timeout.map(Duration::from_secs_f64),
        force: args.force,
    };
    stop_all(cli, &ctx, &vms, &options, args.json.json)
}

pub fn stop_all(
    cli: &Cli,
    ctx: &Context,
    vms: &[&Vm],
    options: &StopOptions,
    as_json: bool,
) -> Result<ExitCode, Failure> {
    let progress = Progress::new(cli.quiet || as_json);
    let results = parallel::each(vms, |vm| {
        let result = stop::stop(ctx, vm, options, &progress);
        let line = result.as_ref().map(summary).unwrap_or_default();
        progress.finish(&vm.name, &line);
        (*vm, result)
    });
    let mut failed = false;
    let mut documents = Vec::new();
    for (vm, result) in results {
        match result {
            Ok(report) => documents.push(json_out::stop_ok(&report)),
            Err(err) => {
                failed = true;
                let failure = Failure::from(err);
                style::error_line(&format!("{}: {failure}", vm.name));
                documents.push(json_out::stop_err(&vm.name, &failure.to_string()));
            }
        }
    }
    if as_json {
        println!("{}", json_out::document(json_out::STOP_SCHEMA, documents));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
