//! The windows into a running VM on real QEMU with the real guest: `monitor`, `qmp`, `logs`,
//! `serial` (tail and follow across a restart), `console` through a pseudo-terminal, `gdb`, and
//! shell completion of VM names.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{alive, wait_until, Project, VmSpec};

/// A QEMU warning the VM's own argv provokes at start, for `logs`.
const QEMU_WARNING: &str = "global qcmdr-probe.x has invalid class name";

/// A background qcmdr (follower, console, gdb): killed and reaped even if the test fails.
struct Background {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Background {
    /// Runs `command` with stdout and stderr collected together.
    fn spawn(mut command: Command) -> Self {
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        let child = command
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .spawn()
            .unwrap();
        let output = collect(std::fs::File::from(reader));
        Background { child, output }
    }

    /// Runs `command` with all three standard streams on `terminal`.
    fn on_terminal(mut command: Command, terminal: &OwnedFd, output: Arc<Mutex<Vec<u8>>>) -> Self {
        let stdio = || Stdio::from(terminal.try_clone().unwrap());
        let child = command
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .unwrap();
        Background { child, output }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the output after byte `from` contains `needle`; returns the offset just past
    /// it (panics with the output if it never comes).
    fn expect_after(&self, from: usize, needle: &str, timeout: Duration) -> usize {
        let mut end = None;
        wait_until(timeout, || {
            let out = self.output.lock().unwrap();
            let rest = &out[from.min(out.len())..];
            end = rest
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .map(|at| from + at + needle.len());
            end.is_some()
        });
        end.unwrap_or_else(|| panic!("no {needle:?} within {timeout:?}; output:\n{}", self.text()))
    }

    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let mut code = None;
        wait_until(timeout, || {
            code = self
                .child
                .try_wait()
                .unwrap()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code.unwrap_or_else(|| panic!("still running after {timeout:?}:\n{}", self.text()))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything read from `source`, appended as it arrives, by a thread of its own.
fn collect(source: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = output.clone();
    std::thread::spawn(move || {
        let mut source = source;
        let mut buf = [0u8; 4096];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    output
}

fn started(spec: VmSpec) -> Project {
    let project = Project::new(vec![spec]);
    project.ok(&["start", "demo"]);
    project
}

#[test]
fn vm_monitor_qmp_and_logs_on_a_running_vm() {
    let project = started(VmSpec::new("demo").qemu_arg("-global qcmdr-probe.x=1"));

    // monitor: one HMP command through QMP.
    let status = project.ok(&["monitor", "demo", "info", "status"]);
    assert_eq!(status.stdout, "VM status: running\n", "{status}");

    // qmp: the return value as JSON.
    let query = project.ok(&["qmp", "demo", "query-status"]);
    assert!(query.stdout.contains(r#""status": "running""#), "{query}");
    assert_eq!(query.json()["running"], true);
    let with_args = project.ok(&[
        "qmp",
        "demo",
        "human-monitor-command",
        r#"{"command-line": "info name"}"#,
    ]);
    assert_eq!(with_args.json(), "demo\r\n");

    // An error: exit 1 with QMP's class and description.
    let bad = project.run(&["qmp", "demo", "no-such-command"]);
    assert_eq!(bad.code, 1, "{bad}");
    assert!(
        bad.stderr.contains("CommandNotFound") && bad.stderr.contains("no-such-command"),
        "{bad}"
    );
    let bad_args = project.run(&["qmp", "demo", "query-status", "[1]"]);
    assert_eq!(bad_args.code, 2, "{bad_args}");

    // `stop` makes QEMU emit STOP before its answer: the event goes to stderr, never stdout.
    let stop = project.ok(&["qmp", "demo", "stop"]);
    assert_eq!(stop.stdout, "{}\n", "{stop}");
    assert!(stop.stderr.contains(r#""event":"STOP""#), "{stop}");
    let paused = project.ok(&["monitor", "demo", "info status"]);
    assert_eq!(paused.stdout, "VM status: paused\n", "{paused}");
    let cont = project.ok(&["qmp", "demo", "cont"]);
    assert_eq!(cont.stdout, "{}\n", "{cont}");
    assert!(cont.stderr.contains(r#""event":"RESUME""#), "{cont}");

    // A second QMP client gets no greeting: said plainly, not as a bare timeout.
    let qmp_socket = project.ok(&["show", "demo", "--json"]).json()["paths"]["qmp_socket"]
        .as_str()
        .unwrap()
        .to_string();
    let holder = UnixStream::connect(&qmp_socket).unwrap();
    let busy = project.run(&["qmp", "--timeout", "1", "demo", "query-status"]);
    assert_eq!(busy.code, 1, "{busy}");
    assert!(
        busy.stderr
            .contains("QMP socket busy: another client is connected?"),
        "{busy}"
    );
    drop(holder);
    project.ok(&["qmp", "demo", "query-status"]);

    // The interactive monitor with piped input: QEMU's readline monitor answers, then EOF ends it.
    let piped = project.run_with_input(&["monitor", "demo"], b"info status\n");
    assert_eq!(piped.code, 0, "{piped}");
    assert!(
        piped.stdout.contains("QEMU") && piped.stdout.contains("monitor"),
        "{piped}"
    );
    assert!(piped.stdout.contains("VM status: running"), "{piped}");
    assert!(piped.stderr.contains("detach with Ctrl-]"), "{piped}");

    // logs: QEMU's own stderr, here the warning its argv provoked.
    let logs = project.ok(&["logs", "demo"]);
    assert!(logs.stdout.contains(QEMU_WARNING), "{logs}");
    let one = project.ok(&["logs", "demo", "-n", "1"]);
    assert_eq!(one.stdout.lines().count(), 1, "{one}");

    // gdb refuses a VM that is already running.
    let gdb = project.run(&["gdb", "demo", "--", "-batch"]);
    assert_eq!(gdb.code, 1, "{gdb}");
    assert!(gdb.stderr.contains("already running"), "{gdb}");
}

#[test]
fn vm_serial_tails_and_follows_across_a_restart() {
    let project = started(VmSpec::new("demo"));
    let tail = project.ok(&["serial", "demo", "-n", "5"]);
    assert!(tail.stdout.lines().count() <= 5, "{tail}");
    assert!(tail.stdout.contains("qcmdr-guest login:"), "{tail}");
    assert!(
        !tail.stdout.contains('\x1b') && !tail.stdout.contains('\r'),
        "{tail}"
    );

    let mut follower = Background::spawn(project.command(&["serial", "demo", "-f", "-n", "1"]));
    let mark = follower.expect_after(0, "login:", Duration::from_secs(10));

    // A line the guest writes to its console after the follower started.
    project.ok(&["exec", "demo", "sh", "-c", "echo marker-one > /dev/ttyS0"]);
    let mark = follower.expect_after(mark, "marker-one", Duration::from_secs(20));

    // Restart: the log is renamed to serial.prev.log and a new one begins.
    project.ok(&["restart", "demo"]);
    let mark = follower.expect_after(mark, "was restarted", Duration::from_secs(30));
    let mark = follower.expect_after(mark, "login:", Duration::from_secs(60));
    project.ok(&["exec", "demo", "sh", "-c", "echo marker-two > /dev/ttyS0"]);
    follower.expect_after(mark, "marker-two", Duration::from_secs(20));
    let previous = std::fs::read_to_string(project.vm_dir("demo").join("serial.prev.log")).unwrap();
    assert!(previous.contains("marker-one") && !previous.contains("marker-two"));

    // Ctrl-C ends the follow as it ends every command: exit 130.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(follower.child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    assert_eq!(
        follower.wait_exit(Duration::from_secs(5)),
        130,
        "{}",
        follower.text()
    );
}

/// A pseudo-terminal pair: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    (master, slave)
}

fn termios_of(terminal: &OwnedFd) -> String {
    format!("{:?}", rustix::termios::tcgetattr(terminal).unwrap())
}

fn type_on(master: &OwnedFd, bytes: &[u8]) {
    rustix::io::write(master, bytes).unwrap();
}

#[test]
fn vm_console_attaches_a_terminal_logs_in_detaches_and_restores_it() {
    let project = started(VmSpec::new("demo"));
    let (master, slave) = pty();
    let before = termios_of(&slave);
    let output = collect(std::fs::File::from(master.try_clone().unwrap()));

    let mut console = Background::on_terminal(
        project.command(&["console", "demo"]),
        &slave,
        output.clone(),
    );
    let mark = console.expect_after(0, "detach with Ctrl-]", Duration::from_secs(10));
    assert_ne!(termios_of(&slave), before, "raw mode while attached");

    // The guest's getty answers a bare Enter with its prompt; root logs in without a password.
    type_on(&master, b"\r");
    let mark = console.expect_after(mark, "login:", Duration::from_secs(10));
    type_on(&master, b"root\r");
    let mark = console.expect_after(mark, "#", Duration::from_secs(20));
    type_on(&master, b"echo $((6*7))-from-guest\r");
    console.expect_after(mark, "42-from-guest", Duration::from_secs(10));

    type_on(&master, &[0x1d]);
    assert_eq!(
        console.wait_exit(Duration::from_secs(5)),
        0,
        "{}",
        console.text()
    );
    assert_eq!(
        termios_of(&slave),
        before,
        "terminal settings restored after Ctrl-]"
    );
    // What the guest printed also went to the serial log.
    let log = project.ok(&["serial", "demo", "-n", "20"]);
    assert!(log.stdout.contains("42-from-guest"), "{log}");

    // A signal from outside also detaches and restores the terminal.
    let mut console = Background::on_terminal(
        project.command(&["console", "demo"]),
        &slave,
        output.clone(),
    );
    let from = output.lock().unwrap().len();
    console.expect_after(from, "detach with Ctrl-]", Duration::from_secs(10));
    assert_ne!(termios_of(&slave), before);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(console.child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(console.wait_exit(Duration::from_secs(5)), 130);
    assert_eq!(
        termios_of(&slave),
        before,
        "terminal settings restored after SIGTERM"
    );
    let _ = slave.as_fd();
}

#[test]
fn vm_gdb_runs_qemu_with_the_start_argv_under_the_vm_lock() {
    let project = Project::new(vec![VmSpec::new("demo")]);
    let argv: Vec<String> = project.ok(&["show", "demo", "--json"]).json()["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut gdb =
        Background::spawn(project.command(&["gdb", "demo", "--", "-batch", "-ex", "run"]));

    // QEMU under gdb: its pidfile names a process whose argv is exactly `show`'s.
    let qmp_ready = wait_until(Duration::from_secs(60), || {
        project.pid("demo").is_some_and(alive)
            && project.run(&["qmp", "demo", "query-status"]).code == 0
    });
    assert!(
        qmp_ready,
        "QEMU under gdb never answered QMP:\n{}",
        gdb.text()
    );
    let pid = project.pid("demo").unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let running: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(running, argv);
    let parent = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = parent[parent.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let parent_cmd = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap();
    assert_eq!(parent_cmd.trim(), "gdb", "QEMU's parent is gdb");

    // The VM's lock is held: a start is refused, naming the gdb session.
    let start = project.run(&["start", "demo"]);
    assert_eq!(start.code, 1, "{start}");
    assert!(start.stderr.contains("qcmdr gdb demo"), "{start}");

    // QMP quit ends QEMU, then gdb (batch), then qcmdr, which cleans up after it.
    project.ok(&["qmp", "demo", "quit"]);
    assert_eq!(gdb.wait_exit(Duration::from_secs(30)), 0, "{}", gdb.text());
    assert!(gdb.text().contains("exited normally"), "{}", gdb.text());
    assert!(!alive(pid));
    assert!(!project.vm_dir("demo").join("qemu.pid").exists());
    for key in ["qmp_socket", "monitor_socket", "serial_socket"] {
        let show = project.ok(&["show", "demo", "--json"]).json();
        let socket = show["paths"][key].as_str().unwrap().to_string();
        assert!(
            !std::path::Path::new(&socket).exists(),
            "{socket} left behind"
        );
    }
    let logs = project.ok(&["logs", "demo"]);
    assert!(logs.stdout.contains("qcmdr gdb demo"), "{logs}");
}

#[test]
fn vm_names_complete_in_bash() {
    let project = Project::new(vec![VmSpec::new("demo"), VmSpec::new("other_vm")]);
    let registration = project.ok(&["completions", "bash"]).stdout;
    let script = format!(
        "{registration}\nCOMP_WORDS=(qcmdr start '')\nCOMP_CWORD=2\n_clap_complete_qcmdr qcmdr '' start\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    // In the project folder, so `qcmdr start` finds ./conf.lua as it would for a user.
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(project.path())
        .env_remove("QCMDR_CONFIG")
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout).into_owned();
    // clap also offers the options at an empty word; the values offered are the VM names.
    let mut names: Vec<&str> = words.lines().filter(|w| !w.starts_with('-')).collect();
    names.sort();
    assert_eq!(
        names,
        ["demo", "other_vm"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Also for `-c FILE` given on the line being completed, from anywhere.
    let config = project.config();
    let script = format!(
        "{registration}\nCOMP_WORDS=(qcmdr -c {config} console d)\nCOMP_CWORD=4\n_clap_complete_qcmdr qcmdr d console\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        config = config.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "demo\n");
}
