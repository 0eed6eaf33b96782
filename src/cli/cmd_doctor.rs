//! `qcmdr doctor [VM...] [--json]`: renders what `lifecycle::doctor` finds, one line per
//! check and its fix below it; exits 1 when anything failed (warnings do not fail). Without
//! a config anywhere qcmdr looks, it checks the machine alone.

use std::io::Write;
use std::process::ExitCode;

use super::{json, load, Cli, Failure};
use crate::config::ConfigError;
use crate::lifecycle::context::Context;
use crate::lifecycle::doctor::{self, Finding, Status};

pub fn run(cli: &Cli, names: &[String], as_json: bool) -> Result<ExitCode, Failure> {
    let ctx = context(cli)?;
    let vms = match &ctx {
        Some(ctx) => load::vms(ctx, names, false)?,
        None if !names.is_empty() => {
            return Err(Failure::new(format!(
                "no config found, so no VM named {:?}; pass -c FILE or run in the config's folder",
                names[0]
            )))
        }
        None => Vec::new(),
    };
    let findings = doctor::examine(ctx.as_ref(), &vms);
    let config = ctx.as_ref().map(|ctx| ctx.project.config_file.clone());
    let document = json::Doctor::new(config, &findings);
    if as_json {
        json::print(&document);
    } else {
        print_text(ctx.as_ref(), &findings, &document);
    }
    Ok(if document.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The project, or `None` when no config was asked for and none is where qcmdr looks.
fn context(cli: &Cli) -> Result<Option<Context>, Failure> {
    let explicit =
        cli.config.is_some() || std::env::var_os("QCMDR_CONFIG").is_some_and(|v| !v.is_empty());
    match crate::config::locate(cli.config.as_deref()) {
        Err(ConfigError::NotFound { .. }) if !explicit => Ok(None),
        _ => load::context(cli).map(Some),
    }
}

fn print_text(ctx: Option<&Context>, findings: &[Finding], document: &json::Doctor) {
    let mut out = anstream::stdout();
    let _ = match ctx {
        Some(ctx) => writeln!(out, "config: {}", ctx.project.config_file.display()),
        None => writeln!(out, "config: none found; checking this machine only"),
    };
    for finding in findings {
        let (word, width) = match finding.status {
            Status::Ok => (super::style::good("ok"), 2),
            Status::Warning => (super::style::warn("warning"), 7),
            Status::Failure => (super::style::bad("FAILED"), 6),
        };
        let about = match &finding.subject {
            Some(subject) => format!("{} {subject}", finding.check),
            None => finding.check.to_string(),
        };
        let pad = " ".repeat(8 - width);
        let _ = writeln!(out, "{word}{pad}{about}: {}", finding.summary);
        if let Some(fix) = &finding.fix {
            let _ = writeln!(out, "        fix: {fix}");
        }
    }
    let _ = writeln!(
        out,
        "{} failure{}, {} warning{}",
        document.failures,
        if document.failures == 1 { "" } else { "s" },
        document.warnings,
        if document.warnings == 1 { "" } else { "s" },
    );
}
