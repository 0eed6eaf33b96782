//! `qcmdr status`: a table (or JSON) of state, PID, uptime, SSH health and forwarded ports,
//! and each mount with its daemon's health.

use std::process::ExitCode;
use std::time::Duration;

use super::json::{self, Document, StatusVm};
use super::{load, style, Cli, Failure};
use crate::lifecycle::status::{self, SshHealth, VmState};

pub fn run(cli: &Cli, names: &[String], as_json: bool) -> Result<ExitCode, Failure> {
    let ctx = load::context(cli)?;
    let vms = load::vms(&ctx, names, false)?;
    let statuses = status::status(&ctx, &vms);
    if as_json {
        let entries = statuses.iter().map(StatusVm::new).collect();
        json::print(&Document::new(json::STATUS_SCHEMA, entries));
        return Ok(ExitCode::SUCCESS);
    }
    let width = statuses
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:width$}  {:8}  {:>7}  {:>8}  {:7}  PORTS",
        "NAME", "STATE", "PID", "UPTIME", "SSH"
    );
    for s in &statuses {
        let state = match s.state {
            VmState::Running => style::good("running "),
            VmState::Stale => style::bad("stale   "),
            other => format!("{:8}", other.as_str()),
        };
        let ssh = match s.ssh {
            SshHealth::Ok => style::good("ok     "),
            SshHealth::NotApplicable => format!("{:7}", s.ssh.as_str()),
            other => style::bad(&format!("{:7}", other.as_str())),
        };
        let ports: Vec<String> = s
            .forwards
            .iter()
            .map(|f| format!("{}/{}->{}", f.host_port, f.protocol.as_str(), f.guest_port))
            .collect();
        anstream::println!(
            "{:width$}  {state}  {:>7}  {:>8}  {ssh}  {}",
            s.name,
            s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            s.uptime.map(human).unwrap_or_else(|| "-".into()),
            ports.join(" ")
        );
        if let Some(detail) = &s.detail {
            println!("{:width$}  ({detail})", "");
        }
        if let Some(name) = &s.from_snapshot {
            println!("{:width$}  (started from snapshot {name:?})", "");
        }
        for m in &s.mounts {
            let daemon = match (m.daemon, m.pid) {
                ("running", Some(pid)) => style::good(&format!("virtiofsd running (pid {pid})")),
                ("stopped", _) => "virtiofsd stopped".to_string(),
                (state, _) => style::bad(&format!(
                    "virtiofsd {state}{}",
                    m.detail
                        .as_ref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )),
            };
            let mode = if m.readonly { "ro" } else { "rw" };
            anstream::println!(
                "{:width$}  mount {} -> {} ({mode}, {}): {daemon}",
                "",
                m.source.display(),
                m.dest,
                m.tag
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}
