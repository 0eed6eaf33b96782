//! Ctrl-C (and SIGTERM, SIGHUP) turned into a [`Cancel`], so a command ends its waits the way
//! it chose (stopping a half-started VM, restoring the terminal) instead of dying mid-way.

use super::Failure;
use crate::runtime::cancel::Cancel;

/// A [`Cancel`] triggered by the first signal. Once per process (the handler is global).
pub fn cancel_on_signal() -> Result<Cancel, Failure> {
    let cancel = Cancel::new()?;
    let on_signal = cancel.clone();
    ctrlc::set_handler(move || on_signal.trigger())
        .map_err(|e| Failure::new(format!("cannot handle Ctrl-C: {e}")))?;
    Ok(cancel)
}

/// Lets the signals pass qcmdr by: a foreground program (gdb) owns Ctrl-C, and qcmdr must
/// outlive it to clean up.
pub fn ignore_signals() -> Result<(), Failure> {
    ctrlc::set_handler(|| {}).map_err(|e| Failure::new(format!("cannot handle Ctrl-C: {e}")))
}
