//! Tests against a real QEMU (`-machine none` starts in milliseconds), plus scripted fake
//! servers for what a real QEMU will not do on demand (hang, answer out of order).
//!
//! They are never skipped: without QEMU on `PATH` they fail, saying QEMU is missing and how
//! to install it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::argv::build_with_path;
use super::hmp::human_monitor_command;
use super::qmp::{Qmp, QmpError};
use crate::model::{fixtures, Vm, WaitFor};
use crate::runtime::executable::find_in;
use crate::runtime::kill_on_drop::KillOnDrop;
use crate::state_dir::paths::StateDir;

const QEMU: &str = "qemu-system-x86_64";
const SECOND: Duration = Duration::from_secs(1);

/// What to tell whoever runs these tests without QEMU.
#[derive(Debug, thiserror::Error)]
#[error(
    "QEMU is missing: {QEMU} is not on PATH. These tests run a real QEMU and are never \
     skipped; install it (Debian: apt-get install qemu-system-x86, or run \
     bash scripts/deps.sh) and run them again."
)]
struct QemuMissing;

/// The QEMU these tests run, found on `search_path`.
fn find_qemu(search_path: &OsStr) -> Result<PathBuf, QemuMissing> {
    find_in(QEMU, search_path, |_| true).ok_or(QemuMissing)
}

/// The QEMU on this process's `PATH`; fails the test, saying how to install it, when missing.
fn require_qemu() -> PathBuf {
    find_qemu(&std::env::var_os("PATH").unwrap_or_default()).unwrap_or_else(|why| panic!("{why}"))
}

/// A running QEMU and its log; killed and reaped however the test ends.
struct QemuGuard {
    child: KillOnDrop,
    log: PathBuf,
}

impl QemuGuard {
    fn spawn(argv: &[String], log: PathBuf) -> QemuGuard {
        require_qemu();
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {} ({err})", argv[0]));
        QemuGuard {
            child: KillOnDrop(child),
            log,
        }
    }

    /// Connects once QEMU listens; fails fast if QEMU exits first.
    fn connect(&mut self, socket: &Path) -> Qmp {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Generous: on a loaded 2-core machine (VM tests running beside) a QEMU can take
            // seconds to answer; the bound only matters when something is really wrong.
            match Qmp::connect(socket, 30 * SECOND) {
                Ok(qmp) => return qmp,
                Err(QmpError::Connect { .. }) if Instant::now() < deadline => {
                    if let Some(status) = self.child.try_wait().unwrap() {
                        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                        panic!("QEMU exited with {status} before listening:\n{log}");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => panic!("connect {socket:?}: {err}"),
            }
        }
    }
}

#[test]
fn a_missing_qemu_is_a_failure_that_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let why = find_qemu(empty.path().as_os_str()).unwrap_err().to_string();
    assert!(
        why.contains("QEMU is missing") && why.contains("apt-get install qemu-system-x86"),
        "{why}"
    );
}

/// The minimal QEMU of the brief: nothing but a QMP monitor on `dir/qmp.sock`.
fn minimal_qemu(dir: &Path) -> (QemuGuard, Qmp) {
    minimal_qemu_with(dir, &[])
}

/// [`minimal_qemu`] with `extra` arguments (e.g. a user network).
fn minimal_qemu_with(dir: &Path, extra: &[String]) -> (QemuGuard, Qmp) {
    let socket = dir.join("qmp.sock");
    let mut argv: Vec<String> = [
        QEMU,
        "-machine",
        "none",
        "-display",
        "none",
        "-nodefaults",
        "-chardev",
        &format!("socket,id=q,path={},server=on,wait=off", socket.display()),
        "-mon",
        "chardev=q,mode=control",
    ]
    .map(String::from)
    .to_vec();
    argv.extend_from_slice(extra);
    let mut qemu = QemuGuard::spawn(&argv, dir.join("qemu.log"));
    let qmp = qemu.connect(&socket);
    (qemu, qmp)
}

fn event_names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

#[test]
fn query_status_and_greeting() {
    let tmp = tempfile::tempdir().unwrap();
    let (_qemu, mut qmp) = minimal_qemu(tmp.path());
    assert!(qmp.greeting()["QMP"]["version"]["qemu"]["major"].is_u64());
    let status = qmp.execute("query-status", None).unwrap();
    assert!(status["status"].is_string(), "{status}");
    assert!(status["running"].is_boolean(), "{status}");
}

#[test]
fn unknown_command_is_a_command_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (_qemu, mut qmp) = minimal_qemu(tmp.path());
    match qmp.execute("no-such-command", None) {
        Err(QmpError::Command { class, desc }) => {
            assert_eq!(class, "CommandNotFound");
            assert!(desc.contains("no-such-command"), "{desc}");
        }
        other => panic!("{other:?}"),
    }
    // The session stays usable after a refused command.
    qmp.execute("query-status", None).unwrap();
}

#[test]
fn stop_and_cont_events_are_queued_not_taken_for_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let (_qemu, mut qmp) = minimal_qemu(tmp.path());
    assert_eq!(qmp.execute("stop", None).unwrap(), json!({}));
    let paused = qmp.execute("query-status", None).unwrap();
    assert_eq!(paused["running"], json!(false), "{paused}");
    assert_eq!(qmp.execute("cont", None).unwrap(), json!({}));
    let resumed = qmp.wait_event("RESUME", 5 * SECOND).unwrap();
    assert!(resumed["timestamp"].is_object(), "{resumed}");
    // STOP stays queued while RESUME was taken out of the queue.
    assert_eq!(event_names(&qmp.events()), ["STOP"]);
    assert!(qmp.events().is_empty());
}

#[test]
fn waiting_for_an_event_that_never_comes_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (_qemu, mut qmp) = minimal_qemu(tmp.path());
    let started = Instant::now();
    let err = qmp
        .wait_event("POWERDOWN", Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(&err, QmpError::Timeout { command, .. } if command == "event POWERDOWN"));
    assert!(started.elapsed() < 2 * SECOND);
    qmp.execute("query-status", None).unwrap();
}

#[test]
fn quit_then_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut qemu, mut qmp) = minimal_qemu(tmp.path());
    qmp.execute("quit", None).unwrap();
    let status = qemu.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let err = qmp.execute("query-status", None).unwrap_err();
    assert!(matches!(err, QmpError::Closed), "{err:?}");
}

#[test]
fn a_passed_descriptor_reaches_qemu_under_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (_qemu, mut qmp) = minimal_qemu(tmp.path());
    // Without a descriptor QEMU refuses getfd; with one, closefd finds it by name.
    let err = qmp
        .execute("getfd", Some(json!({ "fdname": "f" })))
        .unwrap_err();
    assert!(
        matches!(&err, QmpError::Command { desc, .. } if desc.contains("SCM_RIGHTS")),
        "{err:?}"
    );
    let file = std::fs::File::create(tmp.path().join("state")).unwrap();
    qmp.pass_fd("f", std::os::fd::AsFd::as_fd(&file)).unwrap();
    qmp.execute("closefd", Some(json!({ "fdname": "f" })))
        .unwrap();
    let gone = qmp.execute("closefd", Some(json!({ "fdname": "f" })));
    assert!(matches!(gone, Err(QmpError::Command { .. })), "{gone:?}");
}

#[test]
fn human_monitor_info_status() {
    let tmp = tempfile::tempdir().unwrap();
    let (_qemu, mut qmp) = minimal_qemu(tmp.path());
    let text = human_monitor_command(&mut qmp, "info status").unwrap();
    assert!(text.starts_with("VM status: "), "{text:?}");
    let err = human_monitor_command(&mut qmp, "no-such-hmp-command").unwrap();
    assert!(err.contains("unknown command"), "{err:?}");
}

#[test]
fn silent_server_times_out_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("silent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // Hold the connection open without a word until the client gives up.
        let mut reader = BufReader::new(stream);
        let mut sink = String::new();
        let _ = reader.read_line(&mut sink);
    });
    let started = Instant::now();
    let err = Qmp::connect(&socket, Duration::from_millis(200))
        .err()
        .unwrap();
    assert!(
        matches!(&err, QmpError::Busy { socket: named, .. } if *named == socket),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("QMP socket busy: another client is connected? ("),
        "{err}"
    );
    assert!(started.elapsed() < 2 * SECOND, "{:?}", started.elapsed());
    server.join().unwrap();
}

/// A fake QEMU that answers each request with the given lines (`{id}` = the request's id).
fn scripted_server(socket: &Path, replies: Vec<Vec<String>>) -> std::thread::JoinHandle<()> {
    scripted_server_after(socket, vec![], replies)
}

/// Like [`scripted_server`], with `preamble` lines sent before the greeting.
fn scripted_server_after(
    socket: &Path,
    preamble: Vec<String>,
    replies: Vec<Vec<String>>,
) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        for line in preamble {
            writeln!(writer, "{line}").unwrap();
        }
        writeln!(
            writer,
            r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#
        )
        .unwrap();
        for lines in
            std::iter::once(vec![r#"{"return": {}, "id": "{id}"}"#.to_owned()]).chain(replies)
        {
            let mut request = String::new();
            if reader.read_line(&mut request).unwrap() == 0 {
                return;
            }
            let request: Value = serde_json::from_str(&request).unwrap();
            let id = request["id"].as_str().unwrap();
            for line in lines {
                writeln!(writer, "{}", line.replace("{id}", id)).unwrap();
            }
        }
    })
}

#[test]
fn events_before_the_answer_and_stale_answers_are_not_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("fake.sock");
    let server = scripted_server(
        &socket,
        vec![vec![
            r#"{"event": "POWERDOWN", "timestamp": {}}"#.into(),
            r#"{"return": {"stale": true}, "id": "qcmdr-0"}"#.into(),
            String::new(),
            r#"{"return": {}, "id": "{id}"}"#.into(),
            r#"{"event": "SHUTDOWN", "timestamp": {}}"#.into(),
        ]],
    );
    let mut qmp = Qmp::connect(&socket, 5 * SECOND).unwrap();
    let answer = qmp.execute("system_powerdown", None).unwrap();
    assert_eq!(answer, json!({}));
    qmp.wait_event("SHUTDOWN", 5 * SECOND).unwrap();
    assert_eq!(event_names(&qmp.events()), ["POWERDOWN"]);
    drop(qmp);
    server.join().unwrap();
}

/// Seen with a real QEMU: a RESUME queued while the client connected arrives first.
#[test]
fn an_event_before_the_greeting_is_queued() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("fake.sock");
    let server = scripted_server_after(
        &socket,
        vec![r#"{"event": "RESUME", "timestamp": {}}"#.into()],
        vec![vec![
            r#"{"return": {"status": "running"}, "id": "{id}"}"#.into()
        ]],
    );
    let mut qmp = Qmp::connect(&socket, 5 * SECOND).unwrap();
    assert_eq!(
        qmp.execute("query-status", None).unwrap()["status"],
        "running"
    );
    assert_eq!(event_names(&qmp.events()), ["RESUME"]);
    drop(qmp);
    server.join().unwrap();
}

#[test]
fn garbage_is_a_protocol_error() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("fake.sock");
    let server = scripted_server(&socket, vec![vec!["this is not json".into()]]);
    let mut qmp = Qmp::connect(&socket, 5 * SECOND).unwrap();
    let err = qmp.execute("query-status", None).unwrap_err();
    assert!(matches!(err, QmpError::Protocol(_)), "{err:?}");
    drop(qmp);
    server.join().unwrap();
}

/// The argv qcmdr builds, run for real: QEMU must accept every option, including socket
/// paths with a comma (doubled in the option string), and create what the paths promise.
#[test]
fn built_argv_runs_and_its_sockets_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let state = StateDir::new(tmp.path().join("odd,dir").join(".qcmdr"));
    let paths = state.vm("demo");
    std::fs::create_dir_all(&paths.dir).unwrap();
    let project = fixtures::project(tmp.path().join("conf.lua").to_str().unwrap(), vec![]);
    let vm = Vm {
        wait_for: WaitFor::Nothing,
        args: ["-machine", "none", "-display", "none", "-nodefaults"]
            .map(String::from)
            .to_vec(),
        ..fixtures::vm("demo", 22)
    };
    let qemu = require_qemu();
    let search_path = std::env::var_os("PATH").unwrap_or_default();
    let argv = build_with_path(&project, &vm, &paths, &search_path);
    assert!(Path::new(&argv[0]).is_absolute(), "{argv:?}");
    assert_eq!(Path::new(&argv[0]), qemu, "{argv:?}");
    let mut qemu = QemuGuard::spawn(&argv, paths.qemu_log.clone());
    let mut qmp = qemu.connect(&paths.qmp_socket);

    assert_eq!(
        qmp.execute("query-name", None).unwrap(),
        json!({"name": "demo"})
    );
    let pid = std::fs::read_to_string(&paths.pidfile).unwrap();
    assert_eq!(pid.trim(), qemu.child.id().to_string());

    let mut monitor = BufReader::new(UnixStream::connect(&paths.monitor_socket).unwrap());
    monitor
        .get_ref()
        .set_read_timeout(Some(5 * SECOND))
        .unwrap();
    let mut banner = String::new();
    monitor.read_line(&mut banner).unwrap();
    assert!(
        banner.contains("QEMU") && banner.contains("monitor"),
        "{banner:?}"
    );

    // The serial chardev listens, and its log file exists from the start.
    UnixStream::connect(&paths.serial_socket).unwrap();
    assert!(paths.serial_log.exists());
}

/// A forward added at run time listens on the port `info usernet` names, and is gone again
/// once removed (the network canary of `start` relies on both).
#[test]
fn a_user_network_forward_is_added_on_a_free_port_and_removed() {
    use super::usernet;
    use std::net::{Ipv4Addr, TcpStream};

    let dir = tempfile::tempdir().unwrap();
    let ssh_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let netdev = format!("user,id=lab,hostfwd=tcp:127.0.0.1:{ssh_port}-:22");
    let (_qemu, mut qmp) = minimal_qemu_with(dir.path(), &["-netdev".into(), netdev]);

    let before = usernet::forwards(&mut qmp).unwrap();
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        (
            before[0].netdev.as_str(),
            before[0].host_port,
            before[0].guest_port
        ),
        ("lab", ssh_port, 22)
    );
    let guest = before[0].guest_addr;
    let port = usernet::add_forward(&mut qmp, "lab", guest, 1).unwrap();
    assert_ne!(port, ssh_port);
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("the new forward listens");
    assert_eq!(usernet::forwards(&mut qmp).unwrap().len(), 2);

    usernet::remove_forward(&mut qmp, "lab", port).unwrap();
    assert_eq!(usernet::forwards(&mut qmp).unwrap(), before);
    let refused = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // What HMP prints instead of doing it is an error, with its words.
    let err = usernet::add_forward(&mut qmp, "no-such-net", guest, 1).unwrap_err();
    assert!(err.to_string().contains("no-such-net"), "{err}");
}
