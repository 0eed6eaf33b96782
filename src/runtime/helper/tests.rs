//! The helper runner against real processes: each way a call can end.

use super::*;
use std::path::{Path, PathBuf};

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

/// A name no other process on the machine carries as its argv[0].
fn marker(test: &str) -> String {
    format!("qcmdr-helper-test-{test}-{}", std::process::id())
}

/// PIDs of live processes whose argv[0] is `marker`.
fn processes_named(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).next() == Some(marker.as_bytes()))
        })
        .collect()
}

fn pid_in(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// True once the process `pid` (not necessarily our child) has exited.
fn gone(pid: i32) -> bool {
    ProcessHandle::from_child(pid)
        .map(|p| p.wait_exit(Duration::from_secs(5)))
        .unwrap_or(true)
}

/// Kills the process whose PID a test's helper wrote into the file, should it survive.
struct KillNamedOnDrop(PathBuf);

impl Drop for KillNamedOnDrop {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.0).ok();
        if let Some(pid) = pid.and_then(|p| Pid::from_raw(p.trim().parse().ok()?)) {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
}

/// Fires `cancel` once `mark` exists (the helper is then surely running).
fn cancel_when_exists(cancel: &Cancel, mark: &Path) -> thread::JoinHandle<()> {
    let (trigger, mark) = (cancel.clone(), mark.to_path_buf());
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !mark.exists() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        trigger.trigger();
    })
}

#[test]
fn a_missing_program_is_a_spawn_failure_naming_it() {
    let err = Helper::new(Command::new("qcmdr-no-such-program"))
        .timeout(Duration::from_secs(5))
        .output()
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        matches!(&err, HelperError::SpawnFailed { program, .. } if program == "qcmdr-no-such-program"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "cannot run qcmdr-no-such-program");
}

#[test]
fn a_helper_past_its_bound_is_timed_out_and_gone() {
    let name = marker("timeout");
    let mut command = Command::new("sleep");
    command.arg0(&name).arg("5");
    let err = Helper::new(command)
        .timeout(Duration::from_millis(50))
        .status()
        .unwrap_err();
    assert!(
        matches!(&err, HelperError::TimedOut { program, after } if program == "sleep" && *after == Duration::from_millis(50)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "sleep did not finish within 50 ms and was stopped"
    );
    assert_eq!(processes_named(&name), Vec::<i32>::new());
}

#[test]
fn a_failing_helper_is_exited_with_its_code_and_stderr() {
    let err = Helper::new(sh("echo out; echo 'it went wrong' >&2; exit 3"))
        .output()
        .unwrap_err();
    assert_eq!(err.exit_code(), Some(3));
    let HelperError::Exited { stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(stderr, "it went wrong\n");
    assert_eq!(err.to_string(), "sh failed (exit status: 3): it went wrong");
}

#[test]
fn output_any_gives_a_failed_helpers_output() {
    let out = Helper::new(sh("echo out; echo err >&2; exit 3"))
        .timeout(Duration::from_secs(30))
        .output_any()
        .unwrap();
    assert_eq!(
        (
            out.status.code(),
            out.stdout.as_slice(),
            out.stderr.as_slice()
        ),
        (Some(3), &b"out\n"[..], &b"err\n"[..])
    );
}

#[test]
fn a_helper_killed_by_a_signal_says_which() {
    let err = Helper::new(sh("kill -9 $$")).status().unwrap_err();
    assert_eq!((err.exit_code(), err.exit_signal()), (None, Some(9)));
}

#[test]
fn a_timed_out_helpers_group_is_killed_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (child_pid, mark) = (tmp.path().join("child"), tmp.path().join("started"));
    let _survivor = KillNamedOnDrop(child_pid.clone());
    let script = format!(
        "sleep 300 & echo $! > {}; touch {}; wait",
        child_pid.display(),
        mark.display()
    );
    // The bound is long enough for sh to start its child on a loaded machine; the cancel
    // is not used, so only the bound ends it.
    let err = Helper::new(sh(&script))
        .timeout(Duration::from_secs(5))
        .process_group()
        .status()
        .unwrap_err();
    assert!(matches!(err, HelperError::TimedOut { .. }), "{err:?}");
    assert!(mark.exists(), "the helper never started its child");
    assert!(gone(pid_in(&child_pid)), "the helper's child survived");
}

#[test]
fn cancelling_ends_the_whole_group_even_a_child_ignoring_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let (child_pid, mark) = (tmp.path().join("child"), tmp.path().join("started"));
    let _survivor = KillNamedOnDrop(child_pid.clone());
    // The child ignores SIGTERM: only the SIGKILL after the grace ends it.
    let script = format!(
        "(trap '' TERM; sleep 300) & echo $! > {}; touch {}; wait",
        child_pid.display(),
        mark.display()
    );
    let cancel = Cancel::new().unwrap();
    let canceller = cancel_when_exists(&cancel, &mark);
    let err = Helper::new(sh(&script))
        .cancel(&cancel)
        .process_group()
        .grace(Duration::from_millis(200))
        .status()
        .unwrap_err();
    canceller.join().unwrap();
    assert!(
        matches!(&err, HelperError::Cancelled { program } if program == "sh"),
        "{err:?}"
    );
    assert!(gone(pid_in(&child_pid)), "the helper's child survived");
}

#[test]
fn nothing_starts_once_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let cancel = Cancel::new().unwrap();
    cancel.trigger();
    let mark = tmp.path().join("ran");
    let mut command = Command::new("touch");
    command.arg(&mark);
    let err = Helper::new(command).cancel(&cancel).status().unwrap_err();
    assert!(matches!(err, HelperError::Cancelled { .. }), "{err:?}");
    assert!(!mark.exists());
}

#[test]
fn redirected_stderr_is_not_captured() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let file = std::fs::File::create(&log).unwrap();
    let out = Helper::new(sh("echo out; echo err >&2"))
        .stderr(file)
        .output()
        .unwrap();
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b"out\n"[..], &b""[..])
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "err\n");
}

#[test]
fn an_install_hint_is_part_of_the_spawn_failure() {
    let err = Helper::new(Command::new("qcmdr-no-such-program"))
        .install_hint("Debian: apt-get install qcmdr-no-such-package")
        .status()
        .unwrap_err();
    assert_eq!(
        crate::error_chain::chain(&err),
        "cannot run qcmdr-no-such-program (Debian: apt-get install qcmdr-no-such-package): \
         No such file or directory (os error 2)"
    );
}

#[test]
fn input_reaches_stdin_and_a_helper_that_reads_none_of_it_still_ends() {
    let out = Helper::new(sh("tr a-z A-Z"))
        .input("hello\n")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"HELLO\n");
    // Far more than a pipe holds, to a helper that never reads it.
    let out = Helper::new(sh("echo done"))
        .input(vec![b'x'; 1 << 20])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"done\n");
}
