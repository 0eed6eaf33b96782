//! JSON documents printed by `--json`. Each carries a `schema` name with a version; fields are
//! only ever added within a version. The README documents every field.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::lifecycle::start::StartReport;
use crate::lifecycle::status::VmStatus;
use crate::lifecycle::stop::StopReport;
use crate::model::HostForward;
use crate::runtime::paths::VmPaths;

pub const STATUS_SCHEMA: &str = "qcmdr.status/1";
pub const START_SCHEMA: &str = "qcmdr.start/1";
pub const STOP_SCHEMA: &str = "qcmdr.stop/1";
pub const SHOW_SCHEMA: &str = "qcmdr.show/1";
pub const LIST_SCHEMA: &str = "qcmdr.list/1";

/// Seconds since the Unix epoch, with microseconds.
pub fn timestamp(at: SystemTime) -> f64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_micros() as f64) / 1e6
}

pub fn seconds(duration: Duration) -> f64 {
    (duration.as_micros() as f64) / 1e6
}

pub fn paths(paths: &VmPaths, ssh_config: &std::path::Path) -> Value {
    json!({
        "dir": paths.dir,
        "pidfile": paths.pidfile,
        "serial_log": paths.serial_log,
        "qemu_log": paths.qemu_log,
        "qmp_socket": paths.qmp_socket,
        "monitor_socket": paths.monitor_socket,
        "serial_socket": paths.serial_socket,
        "ssh_config": ssh_config,
    })
}

pub fn forwards(forwards: &[HostForward]) -> Value {
    forwards
        .iter()
        .map(|f| {
            json!({
                "protocol": f.protocol.as_str(),
                "host_addr": f.host_addr,
                "host_port": f.host_port,
                "guest_port": f.guest_port,
            })
        })
        .collect()
}

pub fn status(status: &VmStatus) -> Value {
    json!({
        "name": status.name,
        "state": status.state.as_str(),
        "pid": status.pid,
        "uptime_s": status.uptime.map(seconds),
        "ssh": status.ssh.as_str(),
        "detail": status.detail,
        "ssh_port": status.ssh_port,
        "forwards": forwards(&status.forwards),
        "paths": paths(&status.paths, &status.ssh_config),
        "from_snapshot": status.from_snapshot,
    })
}

pub fn start_ok(report: &StartReport) -> Value {
    json!({
        "name": report.vm,
        "ok": true,
        "already_running": report.already_running,
        "pid": report.pid,
        "launched_at": report.launched_at.map(timestamp),
        "stages": report.stages.iter().map(|mark| json!({
            "stage": mark.stage.as_str(),
            "at": timestamp(mark.at),
            "took_s": seconds(mark.took),
        })).collect::<Vec<_>>(),
        "total_s": seconds(report.total),
        "from_snapshot": report.from_snapshot,
        "error": null,
    })
}

pub fn start_err(
    vm: &str,
    error: &str,
    serial_tail: &[String],
    qemu_tail: &[String],
    kept: Option<i32>,
) -> Value {
    json!({
        "name": vm,
        "ok": false,
        "error": error,
        "serial_tail": serial_tail,
        "qemu_tail": qemu_tail,
        "kept_running_pid": kept,
    })
}

pub fn stop_ok(report: &StopReport) -> Value {
    json!({
        "name": report.vm,
        "ok": true,
        "was_running": report.ended_by.is_some(),
        "ended_by": report.ended_by.map(|s| s.as_str()),
        "pid": report.pid,
        "took_s": seconds(report.took),
        "stale": report.stale,
        "error": null,
    })
}

pub fn stop_err(vm: &str, error: &str) -> Value {
    json!({ "name": vm, "ok": false, "error": error })
}

pub fn document(schema: &str, vms: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({ "schema": schema, "vms": vms })).expect("valid JSON")
}
