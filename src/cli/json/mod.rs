//! JSON documents printed by `--json`, one `#[derive(Serialize)]` type per schema. Each
//! document carries a `schema` name with a version; fields are only ever added within a
//! version. `docs/json.md` documents every field, and a test holds the two together.

mod common;
#[cfg(test)]
mod docs_check;
mod doctor;
pub(crate) mod images;
mod list;
mod restart;
pub(crate) mod run;
pub(crate) mod show;
mod snapshots;
mod start;
mod status;
mod stop;
mod sync_status;

use serde::Serialize;

pub use doctor::Doctor;
pub use images::Images;
pub use list::ListVm;
pub use restart::Restart;
pub use show::Show;
pub use snapshots::{SnapshotEntry, Snapshots};
pub use start::StartVm;
pub use status::StatusVm;
pub use stop::StopVm;
pub use sync_status::SyncStatusVm;

pub const STATUS_SCHEMA: &str = "qcmdr.status/1";
pub const START_SCHEMA: &str = "qcmdr.start/1";
pub const STOP_SCHEMA: &str = "qcmdr.stop/1";
pub const RESTART_SCHEMA: &str = "qcmdr.restart/1";
pub const SHOW_SCHEMA: &str = "qcmdr.show/1";
pub const LIST_SCHEMA: &str = "qcmdr.list/1";
pub const SYNC_STATUS_SCHEMA: &str = "qcmdr.sync-status/1";
pub const IMAGES_SCHEMA: &str = "qcmdr.images/1";
pub const SNAPSHOTS_SCHEMA: &str = "qcmdr.snapshots/1";
pub const DOCTOR_SCHEMA: &str = "qcmdr.doctor/1";

/// The documents about several VMs: `{"schema": ..., "vms": [...]}`.
#[derive(Debug, Serialize)]
pub struct Document<T> {
    pub schema: &'static str,
    pub vms: Vec<T>,
}

impl<T> Document<T> {
    pub fn new(schema: &'static str, vms: Vec<T>) -> Self {
        Document { schema, vms }
    }
}

/// Pretty-printed, as every `--json` prints it.
pub fn render(document: &impl Serialize) -> String {
    serde_json::to_string_pretty(document).expect("JSON documents always serialize")
}

/// Prints `document` on stdout.
pub fn print(document: &impl Serialize) {
    println!("{}", render(document));
}
