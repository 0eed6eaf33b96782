//! One operation on several VMs at once (`start`, `stop`): in parallel, a progress line each
//! ending in its summary, then each failure reported and each result turned into its JSON
//! entry, in the order the VMs were given.

use std::process::ExitCode;

use super::exit;
use super::progress::Progress;
use crate::model::Vm;
use crate::runtime::parallel;

/// What a run over several VMs gave: one JSON entry per VM, whether any failed, and
/// whether a signal (Ctrl-C) cut it short.
pub struct Outcome<D> {
    pub entries: Vec<D>,
    pub failed: bool,
    pub interrupted: bool,
}

impl<D> Outcome<D> {
    pub fn exit_code(&self) -> ExitCode {
        match (self.interrupted, self.failed) {
            (true, _) => exit::INTERRUPTED.into(),
            (false, true) => exit::FAILURE.into(),
            (false, false) => ExitCode::SUCCESS,
        }
    }
}

/// How one operation is shown.
pub struct Rendering<R, E, D> {
    /// The finished VM's progress line (`demo: ready in 5.0 s ...`).
    pub summary: fn(&R) -> String,
    /// Prints a failure on stderr.
    pub report: fn(&Vm, &E),
    /// The VM's JSON entry.
    pub entry: fn(&Vm, &Result<R, E>) -> D,
}

/// Runs `work` on every VM in parallel, showing progress unless `quiet`.
pub fn run<R: Send, E: Send, D>(
    vms: &[&Vm],
    quiet: bool,
    work: impl Fn(&Vm, &Progress) -> Result<R, E> + Sync,
    rendering: Rendering<R, E, D>,
) -> Outcome<D> {
    let progress = Progress::new(quiet);
    let results = parallel::each(vms, |vm| {
        let result = work(vm, &progress);
        let line = result.as_ref().map(rendering.summary).unwrap_or_default();
        progress.finish(&vm.name, &line);
        result
    });
    let mut outcome = Outcome {
        entries: Vec::with_capacity(vms.len()),
        failed: false,
        interrupted: false,
    };
    for (vm, result) in vms.iter().zip(&results) {
        if let Err(err) = result {
            outcome.failed = true;
            (rendering.report)(vm, err);
        }
        outcome.entries.push((rendering.entry)(vm, result));
    }
    outcome
}
