//! `qcmdr run VM [options] -- CMD...`: one command in a throwaway instance of a VM. qcmdr
//! prints nothing of its own while the command runs (its streams are the command's); after
//! it, a failure that is not the command's own is reported with the logs' last lines, and
//! the exit code is the command's or one of the documented codes (docs/run.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::args::RunArgs;
use super::json::{self, run::Run};
use super::progress::Progress;
use super::{cmd_image, interrupt, load, style, Cli, Failure};
use crate::lifecycle::events::Silent;
use crate::lifecycle::run::{self, Cause, Overrides, RunOptions, RunReport, BISECT_ABORT};

/// A usage or config error, as clap's own.
const USAGE: u8 = 2;

pub fn run(cli: &Cli, args: &RunArgs) -> Result<ExitCode, Failure> {
    // A bad config or an unknown VM is a usage error (2); under --bisect it must stop the
    // bisection (any code from 1 to 127 would mark the commit bad).
    let refuse = |failure: Failure| match args.bisect {
        true => Failure::with_code(failure, BISECT_ABORT),
        false => Failure::with_code(failure, USAGE),
    };
    let ctx = load::context(cli).map_err(refuse)?;
    let vm = load::vm(&ctx, &args.vm).map_err(refuse)?;
    let kernel = match &args.kernel {
        Some(path) => Some(kernel_image(path).map_err(refuse)?),
        None => None,
    };
    let options = RunOptions {
        from: args.from.clone(),
        force: args.force,
        overrides: Overrides {
            kernel,
            append: args.append.clone(),
            throwaway_disks: false,
        },
        timeout: args.timeout.map(Duration::from_secs_f64),
        keep: args.keep,
        command: args.command.clone(),
    };
    // Without this, Ctrl-C or SIGTERM would kill qcmdr and orphan the instance's QEMU.
    let cancel = interrupt::cancel_on_signal()?;
    let builds = cmd_image::build_for(&ctx, &[vm], &Progress::new(cli.quiet), &cancel)?;
    if let Some(failed) = builds.first() {
        let code = Cause::Setup.code(None, args.bisect);
        return Err(Failure::with_code(cmd_image::failure_text(failed), code));
    }
    let report = run::run(&ctx, vm, &options, &Silent, &cancel);
    print_outcome(&report);
    let code = report.exit_code(args.bisect);
    if args.json.json {
        json::print(&Run::new(&report, args.bisect));
    }
    Ok(ExitCode::from(code))
}

/// The kernel image or built kernel tree as an absolute path (QEMU runs in the config
/// file's folder).
fn kernel_image(path: &Path) -> Result<PathBuf, Failure> {
    let found = std::path::absolute(path)
        .ok()
        .filter(|absolute| absolute.exists());
    found.ok_or_else(|| {
        Failure::with_code(
            format!(
                "--kernel {}: no such file or folder (a kernel image or a built kernel tree)",
                path.display()
            ),
            2,
        )
    })
}

/// On stderr: why the run failed (with the panic's lines or the logs' tails) and the kept
/// folder; nothing at all for a command that simply exited.
fn print_outcome(report: &RunReport) {
    if let Some(reason) = &report.reason {
        let mut text = format!("{}: {reason}", report.vm);
        let shown: [(&str, &[String]); 3] = [
            ("the guest kernel said", &report.panic_lines),
            ("last lines of the serial log", &report.serial_tail),
            ("last lines of the QEMU log", &report.qemu_tail),
        ];
        for (title, lines) in shown {
            // A panic's lines are the serial log's last ones too: show them once.
            if lines.is_empty() || (title.contains("serial") && !report.panic_lines.is_empty()) {
                continue;
            }
            text.push_str(&format!("\n  {title}:"));
            for line in lines {
                text.push_str(&format!("\n    | {line}"));
            }
        }
        style::error_line(&text);
    }
    if let Some(kept) = &report.kept {
        eprintln!("{}: instance kept in {}", report.vm, kept.display());
    }
}
