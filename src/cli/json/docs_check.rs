//! Holds `docs/json.md` and the document types together: for every schema, the fields a
//! document really has (every variant, every optional part filled in) must be exactly the
//! fields its table lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use super::common::{Forward, Paths};
use super::start::{SshProbing, Stage, StartFailed, StartReady};
use super::status::StatusMount;
use super::stop::{StopFailed, Stopped};
use super::sync_status::{Entry, LastRun, Session};
use super::*;

const DOCS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md"));

/// Schema name → (field path → documented type).
fn documented() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut schemas = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in DOCS.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = heading
                .trim()
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .map(str::to_string);
            continue;
        }
        let (Some(schema), Some(row)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        let field = cells[0].trim_end_matches('`').to_string();
        let kind = cells
            .get(1)
            .map(|k| k.trim().to_string())
            .unwrap_or_default();
        schemas
            .entry(schema.clone())
            .or_insert_with(BTreeMap::new)
            .insert(field, kind);
    }
    schemas
}

/// Every field path of `value`, descending except into fields documented as a map or as a
/// nested document; nested documents are checked against their own schema.
fn fields(
    value: &Value,
    prefix: &str,
    docs: &BTreeMap<String, String>,
    all: &BTreeMap<String, BTreeMap<String, String>>,
    out: &mut BTreeSet<String>,
) {
    let Value::Object(map) = value else { return };
    for (key, value) in map {
        let path = match value {
            Value::Array(_) => format!("{prefix}{key}[]"),
            _ => format!("{prefix}{key}"),
        };
        out.insert(path.clone());
        let kind = docs.get(&path).map(String::as_str).unwrap_or("");
        if kind == "map" {
            continue;
        }
        if let Some(nested) = kind.strip_prefix('`').and_then(|k| k.split('`').next()) {
            if !value.is_null() {
                check(nested, std::slice::from_ref(value), all);
            }
            continue;
        }
        match value {
            Value::Array(items) => {
                for item in items {
                    fields(item, &format!("{path}."), docs, all, out);
                }
            }
            Value::Object(_) => fields(value, &format!("{path}."), docs, all, out),
            _ => {}
        }
    }
}

fn check(schema: &str, samples: &[Value], all: &BTreeMap<String, BTreeMap<String, String>>) {
    let docs = all
        .get(schema)
        .unwrap_or_else(|| panic!("docs/json.md has no section for {schema}"));
    let mut found = BTreeSet::new();
    for sample in samples {
        assert_eq!(sample["schema"], schema, "{sample}");
        fields(sample, "", docs, all, &mut found);
    }
    let listed: BTreeSet<String> = docs.keys().cloned().collect();
    let undocumented: Vec<_> = found.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "{schema}: fields missing from docs/json.md: {undocumented:?}; \
         documented but not produced: {gone:?}"
    );
}

fn sample(document: &impl serde::Serialize) -> Value {
    serde_json::to_value(document).unwrap()
}

fn paths() -> Paths {
    let p = PathBuf::from("/p");
    Paths {
        dir: p.clone(),
        pidfile: p.clone(),
        serial_log: p.clone(),
        qemu_log: p.clone(),
        qmp_socket: p.clone(),
        monitor_socket: p.clone(),
        serial_socket: p.clone(),
        ssh_config: p,
    }
}

fn forward() -> Forward {
    Forward {
        protocol: "tcp",
        host_addr: String::new(),
        host_port: 8080,
        guest_port: 80,
    }
}

fn start_entries() -> Vec<StartVm> {
    vec![
        StartVm::Ready(StartReady {
            name: "a".into(),
            ok: true,
            already_running: false,
            pid: 1,
            launched_at: Some(1.0),
            stages: vec![Stage {
                stage: "launch",
                started_at: 0.9,
                at: 1.0,
                took_s: 0.1,
            }],
            ssh_probing: Some(SshProbing {
                canary_probes: 3,
                sshd_probes: 2,
                qmp_commands: 3,
                logins: 1,
                login_began_at: Some(0.95),
            }),
            total_s: 1.0,
            from_snapshot: Some("base".into()),
            error: None,
        }),
        StartVm::Failed(StartFailed {
            name: "b".into(),
            ok: false,
            error: "no".into(),
            serial_tail: vec!["x".into()],
            qemu_tail: vec!["y".into()],
            kept_running_pid: Some(2),
        }),
    ]
}

fn stop_entries() -> Vec<StopVm> {
    vec![
        StopVm::Stopped(Stopped {
            name: "a".into(),
            ok: true,
            was_running: true,
            ended_by: Some("sigterm"),
            pid: Some(1),
            took_s: 0.5,
            stale: Some("gone".into()),
            error: None,
        }),
        StopVm::Failed(StopFailed {
            name: "b".into(),
            ok: false,
            error: "no".into(),
        }),
    ]
}

#[test]
fn every_schema_has_exactly_the_documented_fields() {
    let all = documented();
    check(
        STATUS_SCHEMA,
        &[sample(&Document::new(
            STATUS_SCHEMA,
            vec![StatusVm {
                name: "a".into(),
                state: "running",
                pid: Some(1),
                uptime_s: Some(1.0),
                ssh: "ok",
                detail: Some("d".into()),
                ssh_port: 2222,
                forwards: vec![forward()],
                paths: paths(),
                from_snapshot: Some("base".into()),
                mounts: vec![StatusMount {
                    tag: "qcmdr1".into(),
                    source: "/home/u/linux".into(),
                    dest: "/src/linux".into(),
                    readonly: false,
                    daemon: "running",
                    daemon_pid: Some(2),
                    detail: None,
                }],
            }],
        ))],
        &all,
    );
    check(
        START_SCHEMA,
        &[sample(&Document::new(START_SCHEMA, start_entries()))],
        &all,
    );
    check(
        STOP_SCHEMA,
        &[sample(&Document::new(STOP_SCHEMA, stop_entries()))],
        &all,
    );
    check(
        RESTART_SCHEMA,
        &[sample(&Restart::new(
            Document::new(STOP_SCHEMA, stop_entries()),
            Some(Document::new(START_SCHEMA, start_entries())),
        ))],
        &all,
    );
    check(
        SHOW_SCHEMA,
        &[sample(&Show {
            schema: SHOW_SCHEMA,
            name: "a".into(),
            arch: "x86_64".into(),
            argv: vec!["qemu".into()],
            cwd: PathBuf::from("/"),
            login_timeout_s: 1.0,
            login_pattern: "login:".into(),
            ssh_timeout_s: 1.0,
            stop_timeout_s: 1.0,
            wait_for: "ssh",
            ssh: show::Ssh {
                host_name: "localhost".into(),
                port: 22,
                user: "root".into(),
                identity_file: "~/.ssh/id".into(),
                options: [("Compression".to_string(), "yes".to_string())].into(),
            },
            sync: vec![show::Sync {
                source: PathBuf::from("/src"),
                dest: "~/src".into(),
                ignore_vcs: true,
                ignore: vec!["*.o".into()],
                mode: "one-way-replica".into(),
                engine: "rsync",
            }],
            forwards: vec![forward()],
            paths: paths(),
            image: Some(show::ShowImage {
                name: "box".into(),
                built: true,
                dir: PathBuf::from("/cache/box-0123456789abcdef"),
                disk: PathBuf::from("/p/disk.qcow2"),
                added_args: vec!["-drive".into()],
            }),
            console: "ttyS0",
            arch_defaults: vec![show::ShowDefault {
                what: "cpu",
                added_args: vec!["-cpu".into(), "max".into()],
                overridden_by: Some("-cpu".into()),
            }],
        })],
        &all,
    );
    check(
        LIST_SCHEMA,
        &[sample(&Document::new(
            LIST_SCHEMA,
            vec![ListVm {
                name: "a".into(),
                arch: "x86_64".into(),
                ssh_port: 2222,
                sync_entries: 1,
                state: "stopped",
                pid: None,
            }],
        ))],
        &all,
    );
    check(
        SYNC_STATUS_SCHEMA,
        &[sample(&Document::new(
            SYNC_STATUS_SCHEMA,
            vec![SyncStatusVm {
                name: "a".into(),
                running: true,
                entries: vec![Entry {
                    entry: "sync[1]".into(),
                    engine: "mutagen",
                    source: PathBuf::from("/src"),
                    dest: "~/src".into(),
                    remote: "a:~/src".into(),
                    state: "watching".into(),
                    problems: vec!["p".into()],
                    session: Some(Session {
                        name: "s".into(),
                        identifier: "i".into(),
                        status: "watching".into(),
                        paused: false,
                        last_error: Some("e".into()),
                        successful_cycles: 1,
                        alpha_connected: true,
                        beta_connected: true,
                    }),
                    last_run: Some(LastRun {
                        at: 1.0,
                        ok: true,
                        took_s: 0.1,
                        error: None,
                    }),
                }],
            }],
        ))],
        &all,
    );
    check(
        IMAGES_SCHEMA,
        &[sample(&Images {
            schema: IMAGES_SCHEMA,
            images: vec![images::Image {
                name: "box".into(),
                builder: "debian",
                arch: Some("aarch64".into()),
                key: "0123456789abcdef".into(),
                built: true,
                disk: PathBuf::from("/c/disk.qcow2"),
                kernel: Some(PathBuf::from("/c/vmlinuz")),
                initrd: Some(PathBuf::from("/c/initrd.img")),
                size_bytes: 1,
                built_at: Some(1.0),
                packages: [("hello".to_string(), "2.10-3".to_string())].into(),
            }],
        })],
        &all,
    );
    check(
        SNAPSHOTS_SCHEMA,
        &[sample(&Snapshots::new(vec![SnapshotEntry {
            vm: "a".into(),
            name: "base".into(),
            created_at: Some(1.0),
            size_bytes: Some(2),
            took_s: Some(0.3),
            qemu_version: Some("7.2.22".into()),
            disks: Some(vec![crate::lifecycle::snapshot::store::Disk {
                device: "data".into(),
                file: "data.qcow2".into(),
            }]),
            path: "/p".into(),
            damaged: Some(super::snapshots::Damaged {
                reason: "the state file is missing".into(),
                delete: "qcmdr snapshot delete a base".into(),
            }),
        }]))],
        &all,
    );
    check(
        DOCTOR_SCHEMA,
        &[sample(&Doctor::new(
            Some(PathBuf::from("/p/conf.lua")),
            &[crate::lifecycle::doctor::Finding::problem(
                "kvm",
                crate::lifecycle::doctor::Status::Failure,
                "/dev/kvm is missing",
                "modprobe kvm_intel",
            )
            .about("dev")],
        ))],
        &all,
    );
    check(
        run::RUN_SCHEMA,
        &[sample(&run::Run {
            schema: run::RUN_SCHEMA,
            vm: "a".into(),
            exit_code: 121,
            cause: "panic",
            command_exit_code: Some(0),
            bisect: false,
            from_snapshot: Some("base".into()),
            stages: vec![run::Stage {
                stage: "ssh",
                took_s: 0.5,
            }],
            total_s: 1.0,
            error: Some("e".into()),
            panic_lines: vec!["Kernel panic - not syncing".into()],
            serial_tail: vec!["s".into()],
            qemu_tail: vec!["q".into()],
            instance_dir: Some(PathBuf::from("/p/.qcmdr/run/1")),
        })],
        &all,
    );
    // Every documented schema is checked above.
    let checked = [
        STATUS_SCHEMA,
        START_SCHEMA,
        STOP_SCHEMA,
        RESTART_SCHEMA,
        SHOW_SCHEMA,
        LIST_SCHEMA,
        SYNC_STATUS_SCHEMA,
        IMAGES_SCHEMA,
        SNAPSHOTS_SCHEMA,
        DOCTOR_SCHEMA,
        run::RUN_SCHEMA,
    ];
    for schema in all.keys() {
        assert!(
            checked.contains(&schema.as_str()),
            "docs/json.md documents {schema}, which no check covers"
        );
    }
}

#[test]
fn a_field_missing_from_the_docs_is_caught() {
    let all = documented();
    let mut document = sample(&Document::new(LIST_SCHEMA, Vec::<ListVm>::new()));
    document["vms"] = serde_json::json!([{ "name": "a", "undocumented": 1 }]);
    let caught = std::panic::catch_unwind(|| check(LIST_SCHEMA, &[document], &all));
    assert!(caught.is_err());
}
