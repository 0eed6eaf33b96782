//! `qcmdr image build|list|rm|gc`, and the builds `start` runs for images not built yet.

use std::process::ExitCode;

use super::args::ImageCommand;
use super::progress::Progress;
use super::{interrupt, load, style, Cli, Failure};
use crate::images::{self, BuildError, BuildOutcome};
use crate::lifecycle::context::Context;
use crate::lifecycle::status::VmState;
use crate::model::{Image, Vm};
use crate::runtime::cancel::Cancel;

pub fn run(cli: &Cli, command: &ImageCommand) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    match command {
        ImageCommand::Build { names } => {
            let chosen = chosen(&ctx, names)?;
            // Without this, Ctrl-C would leave the build folder and mmdebstrap running.
            let cancel = interrupt::cancel_on_signal()?;
            let progress = Progress::new(cli.quiet);
            for image in chosen {
                build_one(image, &progress, true, &cancel).map_err(|err| {
                    match err.interrupted() {
                        true => Failure::interrupted(crate::error_chain::chain(&err)),
                        false => Failure::new(failure_text(&err)),
                    }
                })?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::List(json) => list(&ctx, json.json),
        ImageCommand::Rm { name } => rm(cli, &ctx, name),
        ImageCommand::Gc => gc(cli, &ctx),
    }
}

/// Builds the images of `vms` that are not built yet, each once. The failed builds are
/// returned (the VMs on them fail, the others start); an interrupted one ends the command.
pub fn build_for(
    ctx: &Context,
    vms: &[&Vm],
    progress: &Progress,
    cancel: &Cancel,
) -> Result<Vec<BuildError>, Failure> {
    let mut failed = Vec::new();
    for image in images::unbuilt_for(&ctx.project, vms) {
        match build_one(image, progress, false, cancel) {
            Ok(()) => {}
            Err(err) if err.interrupted() => {
                return Err(Failure::interrupted(crate::error_chain::chain(&err)))
            }
            Err(err) => failed.push(err),
        }
    }
    Ok(failed)
}

fn chosen<'a>(ctx: &'a Context, names: &'a [String]) -> Result<Vec<&'a Image>, Failure> {
    if names.is_empty() {
        return Ok(ctx.project.images.iter().collect());
    }
    let mut chosen = Vec::new();
    for name in names {
        let before = chosen.len();
        chosen.extend(ctx.project.images_named(name));
        if chosen.len() == before {
            return Err(unknown(ctx, name));
        }
    }
    Ok(chosen)
}

fn unknown(ctx: &Context, name: &str) -> Failure {
    let mut names: Vec<&str> = ctx.project.images.iter().map(|i| i.name.as_str()).collect();
    names.dedup();
    Failure::new(format!(
        "no image named {name:?} in {}; configured: {}",
        ctx.project.config_file.display(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ))
}

/// One build with its progress line; the line ends in the outcome, or in nothing on failure
/// (the caller reports it).
fn build_one(
    image: &Image,
    progress: &Progress,
    say_up_to_date: bool,
    cancel: &Cancel,
) -> Result<(), BuildError> {
    // The same words as the build's stage lines, so a finished line replaces them.
    let label = format!("image {}", image.label());
    let line = match images::build(image, progress, cancel) {
        Ok(BuildOutcome::UpToDate) if say_up_to_date => {
            format!("{label}: up to date ({})", image.key)
        }
        Ok(BuildOutcome::UpToDate) => String::new(),
        Ok(BuildOutcome::Built { seconds }) => format!(
            "{label}: {} in {seconds:.1} s ({})",
            style::good("built"),
            image.dir.display()
        ),
        Err(err) => {
            progress.finish(&label, "");
            return Err(err);
        }
    };
    progress.finish(&label, &line);
    Ok(())
}

/// A failed build as a user reads it: why, that nothing was kept, the log's last lines.
pub fn failure_text(err: &BuildError) -> String {
    let mut text = format!(
        "{}\n  nothing was kept of the build",
        crate::error_chain::chain(err)
    );
    if let Some(log) = &err.log {
        text.push_str(&format!(
            "\n  last lines of the build log ({}):",
            log.display()
        ));
        for line in &err.tail {
            text.push_str(&format!("\n    | {line}"));
        }
    }
    text
}

fn list(ctx: &Context, as_json: bool) -> Result<ExitCode, Failure> {
    let builds = images::builds(&ctx.project);
    if as_json {
        super::json::print(&super::json::Images::new(&builds));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:<8} {:<8} {:<17} {:<10} {:>9}  DIR",
        "NAME", "BUILDER", "ARCH", "KEY", "STATE", "SIZE"
    );
    for b in &builds {
        let state = if b.manifest.is_some() {
            "built"
        } else {
            "not built"
        };
        let size = if b.manifest.is_some() {
            mib(b.size_bytes)
        } else {
            "-".into()
        };
        println!(
            "{:<16} {:<8} {:<8} {:<17} {:<10} {:>9}  {}",
            b.image.name,
            b.image.recipe.builder(),
            b.image.arch().unwrap_or("-"),
            b.image.key,
            state,
            size,
            b.image.dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
}

fn rm(cli: &Cli, ctx: &Context, name: &str) -> Result<ExitCode, Failure> {
    if ctx.project.images_named(name).next().is_none() {
        return Err(unknown(ctx, name));
    }
    // A running VM reads its image through its overlay: removing it would break the VM's
    // next start, and the space would only be freed when the VM stops anyway.
    for vm in &ctx.project.vms {
        let uses = vm.image.as_ref().is_some_and(|b| b.name == name);
        let (state, _, _) = crate::lifecycle::status::state_of(ctx, vm);
        if uses && matches!(state, VmState::Running | VmState::Starting) {
            return Err(Failure::new(format!(
                "VM {:?} runs on image {name:?}; stop it first: qcmdr stop {}",
                vm.name, vm.name
            )));
        }
    }
    let freed = images::remove(&ctx.project, name)
        .map_err(|e| Failure::new(format!("cannot remove image {name:?}: {e}")))?;
    if !cli.quiet {
        if freed.removed.is_empty() {
            eprintln!("image {name}: not built, nothing removed");
        } else {
            eprintln!("image {name}: removed, {} freed", mib(freed.bytes));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn gc(cli: &Cli, ctx: &Context) -> Result<ExitCode, Failure> {
    let freed = images::collect_garbage(&ctx.project).map_err(|e| {
        Failure::new(format!(
            "cannot clean {}: {e}",
            ctx.project.image_cache.display()
        ))
    })?;
    if !cli.quiet {
        for path in &freed.removed {
            eprintln!("removed {}", path.display());
        }
        eprintln!(
            "{} freed ({} removed)",
            mib(freed.bytes),
            freed.removed.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
