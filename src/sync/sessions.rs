//! A VM's Mutagen sessions: one per `sync` entry, all labelled `qcmdr.vm=<vm>` so that they
//! are found, flushed and terminated together by a label selector, never by identifiers
//! remembered somewhere that could go stale.
//!
//! A marker file in the VM's folder says "sessions may exist": written before the first
//! create, removed after a successful terminate. `stop` uses it to clean up after a VM that
//! died on its own without starting Mutagen's daemon for nothing.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::entry::{describe, state_dir_ignore};
use super::error::SyncError;
use super::mutagen::Mutagen;
use crate::error_chain::chain;
use crate::model::{SyncSpec, Vm};
use crate::state_dir::paths::StateDir;

pub const LABEL_KEY: &str = "qcmdr.vm";
/// What `sync flush` says while a new session is still connecting.
const NOT_READY: &str = "not currently able to synchronize";
/// How long a flush keeps retrying that (Mutagen needs about a second or two).
const FLUSH_PATIENCE: Duration = Duration::from_secs(8);
const FLUSH_RETRY_FIRST: Duration = Duration::from_millis(50);
const FLUSH_RETRY_MAX: Duration = Duration::from_millis(800);

/// `qcmdr.vm=<vm>`: the label every session of the VM carries, and its selector.
pub fn label(vm: &str) -> String {
    format!("{LABEL_KEY}={}", super::mutagen_names::label_value(vm))
}

pub use super::mutagen_names::session_name;

/// The arguments of `mutagen sync create` for entry `index` (0-based).
pub fn create_args(state: &StateDir, vm: &str, index: usize, spec: &SyncSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "sync",
        "create",
        "--no-global-configuration",
        "--name",
        &session_name(vm, index),
        "--label",
        &label(vm),
        "-m",
        &spec.mode,
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if spec.ignore_vcs {
        args.push("--ignore-vcs".into());
    }
    let own = state_dir_ignore(state, spec);
    for pattern in spec.ignore.iter().chain(&own) {
        args.push(format!("--ignore={}", ignore_value(pattern)).into());
    }
    args.push(spec.source.clone().into_os_string());
    args.push(format!("{vm}:{}", spec.dest).into());
    args
}

/// Mutagen reads every `--ignore` value as one CSV record (its flag library's string
/// slice), so a comma would split a pattern in two and a stray double quote is a parse
/// error. Such a pattern goes as one quoted CSV field, which Mutagen reads back as exactly
/// the pattern; every other pattern goes verbatim.
pub fn ignore_value(pattern: &str) -> String {
    if pattern.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", pattern.replace('"', "\"\""))
    } else {
        pattern.to_string()
    }
}

fn marker(state: &StateDir, vm: &str) -> PathBuf {
    state.vm(vm).dir.join("mutagen-sessions")
}

/// True if sessions of this VM may exist (created and not yet terminated).
pub fn may_exist(state: &StateDir, vm: &str) -> bool {
    marker(state, vm).exists()
}

/// Ends every session of the VM; succeeds when there is none. Works with the guest down.
pub fn close(mutagen: &Mutagen, state: &StateDir, vm: &str) -> Result<(), SyncError> {
    terminate(mutagen, vm)?;
    let _ = std::fs::remove_file(marker(state, vm));
    Ok(())
}

fn terminate(mutagen: &Mutagen, vm: &str) -> Result<(), SyncError> {
    mutagen
        .run(&["sync", "terminate", "--label-selector", &label(vm)])
        .map(drop)
}

/// Replaces the VM's sessions with one per entry and waits until the files are in the guest.
/// On failure the sessions created so far are terminated again.
pub fn open(
    mutagen: &Mutagen,
    state: &StateDir,
    vm: &Vm,
    entries: &[(usize, &SyncSpec)],
) -> Result<(), SyncError> {
    let marker = marker(state, &vm.name);
    crate::state_dir::private_file::create_fresh(&marker)
        .map(drop)
        .map_err(SyncError::io(format!("cannot write {}", marker.display())))?;
    terminate(mutagen, &vm.name)?;
    let created = entries.iter().try_for_each(|(index, spec)| {
        mutagen
            .run(&create_args(state, &vm.name, *index, spec))
            .map(drop)
            .map_err(|err| err.for_entry(describe(&vm.name, *index, spec)))
    });
    let result = created.and_then(|()| flush(mutagen, vm, entries));
    result.map_err(|err| roll_back(mutagen, state, &vm.name, err))
}

/// Terminates what was created; a failure to do so is added to the original error.
pub(crate) fn roll_back(
    mutagen: &Mutagen,
    state: &StateDir,
    vm: &str,
    err: SyncError,
) -> SyncError {
    match close(mutagen, state, vm) {
        Ok(()) => err,
        Err(also) => SyncError::Entry {
            entry: format!(
                "{}; removing the sessions created so far also failed",
                chain(&err)
            ),
            source: Box::new(also),
        },
    }
}

/// Waits for one full cycle of every session of the VM, retrying while new sessions are
/// still connecting. A failure names the entries whose sessions report a problem.
pub fn flush(mutagen: &Mutagen, vm: &Vm, entries: &[(usize, &SyncSpec)]) -> Result<(), SyncError> {
    let args = ["sync", "flush", "--label-selector", &label(&vm.name)];
    let deadline = Instant::now() + FLUSH_PATIENCE;
    let mut pause = FLUSH_RETRY_FIRST;
    loop {
        match mutagen.run(&args) {
            Ok(_) => return Ok(()),
            Err(SyncError::Tool { said, .. })
                if said.contains(NOT_READY) && Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(FLUSH_RETRY_MAX);
            }
            Err(err) => return Err(blame(mutagen, vm, entries, err)),
        }
    }
}

/// Attributes a failed flush to the entries whose sessions Mutagen reports trouble for.
fn blame(mutagen: &Mutagen, vm: &Vm, entries: &[(usize, &SyncSpec)], err: SyncError) -> SyncError {
    let Ok(sessions) = list(mutagen, &vm.name) else {
        return err;
    };
    let troubled: Vec<String> = entries
        .iter()
        .filter(|(index, _)| {
            let name = session_name(&vm.name, *index);
            sessions
                .iter()
                .find(|s| s.name == name)
                .map_or(true, |s| s.last_error.is_some() || !s.connected())
        })
        .map(|(index, spec)| describe(&vm.name, *index, spec))
        .collect();
    if troubled.is_empty() {
        err
    } else {
        err.for_entry(troubled.join(", "))
    }
}

/// One session as `sync list --template '{{ json . }}'` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub name: String,
    pub identifier: String,
    pub status: String,
    pub paused: bool,
    pub last_error: Option<String>,
    pub successful_cycles: u64,
    pub alpha_connected: bool,
    pub beta_connected: bool,
}

impl Session {
    pub fn connected(&self) -> bool {
        self.alpha_connected && self.beta_connected
    }

    fn from_json(value: &serde_json::Value) -> Self {
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        let connected = |end: &str| value[end]["connected"].as_bool().unwrap_or(false);
        Session {
            name: text("name"),
            identifier: text("identifier"),
            status: text("status"),
            paused: value["paused"].as_bool().unwrap_or(false),
            last_error: value["lastError"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_string),
            successful_cycles: value["successfulCycles"].as_u64().unwrap_or(0),
            alpha_connected: connected("alpha"),
            beta_connected: connected("beta"),
        }
    }
}

/// The VM's sessions, in Mutagen's order.
pub fn list(mutagen: &Mutagen, vm: &str) -> Result<Vec<Session>, SyncError> {
    let args = [
        "sync",
        "list",
        "--label-selector",
        &label(vm),
        "--template",
        "{{ json . }}",
    ];
    let stdout = mutagen.run(&args)?;
    let parsed: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|e| SyncError::Tool {
            command: "mutagen sync list".into(),
            said: format!("printed something that is not a JSON list of sessions ({e})"),
        })?;
    Ok(parsed
        .as_array()
        .map(|all| all.iter().map(Session::from_json).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SyncEngine;

    fn state() -> StateDir {
        StateDir::new("/home/u/project/.qcmdr")
    }

    fn spec(ignore: &[&str], ignore_vcs: bool) -> SyncSpec {
        SyncSpec {
            source: "/home/u/tests".into(),
            dest: "~/tests".into(),
            ignore_vcs,
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            mode: "one-way-replica".into(),
            engine: SyncEngine::Mutagen,
        }
    }

    #[test]
    fn create_matches_the_contract_example() {
        let args = create_args(&state(), "livemig", 0, &spec(&["venv", "*.o"], true));
        let expected = "sync create --no-global-configuration --name livemig-0 --label qcmdr.vm=livemig \
                        -m one-way-replica --ignore-vcs --ignore=venv --ignore=*.o /home/u/tests livemig:~/tests";
        let words: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(words, expected.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn patterns_with_spaces_stay_verbatim_and_commas_or_quotes_are_csv_quoted() {
        assert_eq!(ignore_value("build dir"), "build dir");
        assert_eq!(ignore_value("*.o"), "*.o");
        assert_eq!(ignore_value("a,b"), "\"a,b\"");
        assert_eq!(ignore_value("say \"hi\""), "\"say \"\"hi\"\"\"");
        let args = create_args(&state(), "demo", 3, &spec(&["x, y"], false));
        assert!(args.contains(&OsString::from("--ignore=\"x, y\"")));
        assert!(!args.contains(&OsString::from("--ignore-vcs")));
        assert!(args.contains(&OsString::from("demo-3")));
    }

    #[test]
    fn a_state_dir_inside_the_source_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path().join(".qcmdr"));
        let mut inside = spec(&[], false);
        inside.source = tmp.path().to_path_buf();
        let args = create_args(&state, "demo", 0, &inside);
        assert!(
            args.contains(&OsString::from("--ignore=/.qcmdr/")),
            "{args:?}"
        );
    }

    #[test]
    fn session_json_fields_are_read_leniently() {
        let value = serde_json::json!({
            "name": "demo-0", "identifier": "sync_x", "status": "watching", "paused": false,
            "successfulCycles": 3, "alpha": {"connected": true}, "beta": {"connected": true}
        });
        let session = Session::from_json(&value);
        assert!(session.connected());
        assert_eq!(session.last_error, None);
        assert_eq!(session.successful_cycles, 3);
        let broken = Session::from_json(&serde_json::json!({"lastError": "boom"}));
        assert_eq!(broken.last_error.as_deref(), Some("boom"));
        assert!(!broken.connected());
    }
}
