//! `qcmdr qmp VM COMMAND [JSON-ARGS]`: one QMP command; its `return` as JSON on stdout.
//!
//! Events that arrive while the command runs (e.g. `STOP` before the answer to `stop`) are
//! never taken for the answer: the client matches answers by id and queues events, which are
//! printed to stderr, one JSON object per line, so stdout stays exactly the answer.

use std::process::ExitCode;
use std::time::Duration;

use super::args::QmpArgs;
use super::{load, qmp_session, Cli, Failure};

pub fn run(cli: &Cli, args: &QmpArgs) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vm = load::running_vm(&ctx, &args.vm)?;
    let mut qmp = qmp_session::open(&ctx.paths(vm), Duration::from_secs_f64(args.timeout))?;
    let answer = qmp.execute(&args.command, args.arguments.clone());
    for event in qmp.events() {
        eprintln!("event: {event}");
    }
    let value = answer?;
    println!(
        "{}",
        serde_json::to_string_pretty(&value).expect("valid JSON")
    );
    Ok(ExitCode::SUCCESS)
}
