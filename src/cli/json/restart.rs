//! `qcmdr.restart/1`: `restart --json` as one document, the stop's and the start's inside.

use serde::Serialize;

use super::{Document, StartVm, StopVm, RESTART_SCHEMA};

#[derive(Debug, Serialize)]
pub struct Restart {
    pub schema: &'static str,
    /// A `qcmdr.stop/1` document.
    pub stop: Document<StopVm>,
    /// A `qcmdr.start/1` document; `None` when a stop failed and nothing was started.
    pub start: Option<Document<StartVm>>,
}

impl Restart {
    pub fn new(stop: Document<StopVm>, start: Option<Document<StartVm>>) -> Self {
        Restart {
            schema: RESTART_SCHEMA,
            stop,
            start,
        }
    }
}
