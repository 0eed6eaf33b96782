//! The rsync engine: a one-way replica of a host folder in the guest, over the private SSH
//! config, for users without Mutagen. Runs on start, on `sync flush`, and under `sync watch`.
//!
//! Two steps per entry: ssh creates the destination and prints its absolute path (the guest's
//! shell expands a leading `~` there), then `rsync -a --delete` copies the source's contents
//! into that path. rsync gets its paths through its own protocol (`-s`), so no remote shell
//! ever re-splits a path with spaces.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::entry::{describe, state_dir_ignore};
use super::error::SyncError;
use super::rsync_record::{self, LastRun};
use super::tool;
use crate::model::SyncSpec;
use crate::ssh::master::SshTarget;
use crate::state_dir::paths::StateDir;

/// Folders of version control systems, left out when `ignore_vcs` is set.
pub const VCS_DIRS: [&str; 6] = [".git", ".hg", ".svn", ".bzr", "_darcs", "CVS"];
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Syncs entry `index` (0-based) now and records the outcome; returns how long it took.
pub fn run(
    state: &StateDir,
    vm: &str,
    index: usize,
    spec: &SyncSpec,
) -> Result<Duration, SyncError> {
    let started = Instant::now();
    let result = guest_dir(state, vm, spec).and_then(|dest| copy(state, vm, spec, &dest));
    let took = started.elapsed();
    let error = result.as_ref().err().map(ToString::to_string);
    rsync_record::save(state, vm, index, &LastRun::now(took, error));
    result
        .map(|()| took)
        .map_err(|err| err.for_entry(describe(vm, index, spec)))
}

/// Creates `dest` in the guest if needed; its absolute path.
fn guest_dir(state: &StateDir, vm: &str, spec: &SyncSpec) -> Result<String, SyncError> {
    let word = guest_path_word(&spec.dest)?;
    let remote = format!("mkdir -p -- {word} && cd -- {word} && pwd");
    let command = SshTarget::new(state.ssh_config(), vm).batch_command(CONNECT_TIMEOUT, &remote);
    let output = tool::run_bounded(command, || format!("ssh {vm} {remote}"))?;
    let printed = String::from_utf8_lossy(&output.stdout);
    match printed.lines().last().map(str::trim) {
        Some(path) if output.status.success() && path.starts_with('/') => Ok(path.to_string()),
        _ => Err(SyncError::Tool {
            command: format!("ssh {vm} {remote}"),
            said: tool::said(&output),
        }),
    }
}

/// `dest` as one word for the guest's shell: quoted, except a leading `~` or `~/`, which
/// must stay bare for the shell to turn it into the user's home.
pub fn guest_path_word(dest: &str) -> Result<String, SyncError> {
    let quote = |text: &str| {
        shlex::try_quote(text)
            .map(|q| q.into_owned())
            .map_err(|e| SyncError::Tool {
                command: "quoting the destination".into(),
                said: e.to_string(),
            })
    };
    match dest {
        "~" | "~/" => Ok(dest.to_string()),
        _ => match dest.strip_prefix("~/") {
            Some(rest) => Ok(format!("~/{}", quote(rest)?)),
            None => quote(dest),
        },
    }
}

fn copy(state: &StateDir, vm: &str, spec: &SyncSpec, dest: &str) -> Result<(), SyncError> {
    let args = arguments(state, vm, spec, dest);
    let shown = || format!("rsync {}/ {vm}:{dest}/", spec.source.display());
    let mut command = Command::new("rsync");
    command.args(&args).stdin(Stdio::null());
    let output = tool::run_bounded(command, shown).map_err(|err| match err {
        SyncError::Helper(helper) if helper.is_not_found() => SyncError::RsyncMissing,
        other => other,
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(SyncError::Tool {
            command: shown(),
            said: tool::said(&output),
        })
    }
}

/// rsync's argv: the CONTENTS of `source` (trailing slash) into `dest` (absolute).
pub fn arguments(state: &StateDir, vm: &str, spec: &SyncSpec, dest: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-a".into(), "--delete".into(), "-s".into()];
    // rsync splits -e itself, honouring quotes ('' stands for one '). ControlMaster=no: use
    // the VM's master when there is one, but never become a master that would outlive rsync
    // holding its output pipes open.
    let wrapper = state.bin_dir().join("ssh");
    let quoted = wrapper.to_string_lossy().replace('\'', "''");
    args.push("-e".into());
    args.push(format!("'{quoted}' -o ControlMaster=no").into());
    let own = state_dir_ignore(state, spec);
    for pattern in spec.ignore.iter().chain(&own) {
        args.push(format!("--exclude={}", exclude_value(pattern)).into());
    }
    if spec.ignore_vcs {
        for dir in VCS_DIRS {
            args.push(format!("--exclude={dir}").into());
        }
    }
    let mut source = spec.source.clone().into_os_string();
    source.push("/");
    args.push(source);
    args.push(format!("{vm}:{dest}/").into());
    args
}

/// rsync reads a leading `- ` or `+ ` in an --exclude value as a rule prefix and a lone `!`
/// as "clear the list"; an explicit `- ` prefix keeps such a pattern a plain pattern.
fn exclude_value(pattern: &str) -> String {
    if pattern.starts_with("- ") || pattern.starts_with("+ ") || pattern == "!" {
        format!("- {pattern}")
    } else {
        pattern.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SyncEngine;

    fn spec() -> SyncSpec {
        SyncSpec {
            source: "/home/u/my src".into(),
            dest: "~/in guest".into(),
            ignore_vcs: true,
            ignore: vec!["venv".into(), "a b".into(), "x,y".into(), "- odd".into()],
            mode: "one-way-replica".into(),
            engine: SyncEngine::Rsync,
        }
    }

    #[test]
    fn argv_copies_contents_with_one_exclude_per_pattern() {
        let state = StateDir::new("/p/it's/.qcmdr");
        let args = arguments(&state, "demo", &spec(), "/root/in guest");
        let words: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut expected = vec![
            "-a",
            "--delete",
            "-s",
            "-e",
            "'/p/it''s/.qcmdr/bin/ssh' -o ControlMaster=no",
            "--exclude=venv",
            "--exclude=a b",
            "--exclude=x,y",
            "--exclude=- - odd",
        ];
        let vcs: Vec<String> = VCS_DIRS.iter().map(|d| format!("--exclude={d}")).collect();
        expected.extend(vcs.iter().map(String::as_str));
        expected.extend(["/home/u/my src/", "demo:/root/in guest/"]);
        assert_eq!(words, expected);
    }

    #[test]
    fn guest_path_keeps_the_tilde_bare_and_quotes_the_rest() {
        assert_eq!(guest_path_word("~").unwrap(), "~");
        assert_eq!(guest_path_word("~/a b").unwrap(), "~/'a b'");
        assert_eq!(guest_path_word("/srv/x").unwrap(), "/srv/x");
        assert_eq!(guest_path_word("/srv/$x").unwrap(), "'/srv/$x'");
        assert_eq!(guest_path_word("~other").unwrap(), "'~other'");
    }
}
