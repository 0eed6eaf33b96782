//! Test support: real qcmdr binary, real QEMU, the real guest built by `guest/build.sh`.
//!
//! A [`Project`] is a temporary folder with a generated `conf.lua`; dropping it stops every
//! VM it started and kills anything still running from its folder, even when a test fails.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use qcmdr::runtime::kill_on_drop::KillOnDrop;

pub mod cli;
pub use cli::CliTest;
mod tmpfs;
pub use tmpfs::Tmpfs;

/// The guest's kernel, initrd and key, built once (and cached across runs by the script).
pub fn guest_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        // nextest runs each test in its own process: serialize the (cached) build. The lock
        // is the user's own (the checkout may be root's: CI also runs tests as a user).
        let lock_path = test_cache_home().join("guest-build.lock");
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(lock_path.parent().unwrap())
            .unwrap();
        let lock = fs::File::create(&lock_path).unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        let output = Command::new("bash")
            .arg(repo.join("guest/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run guest/build.sh");
        assert!(output.status.success(), "guest/build.sh failed");
        let dir = String::from_utf8(output.stdout).unwrap();
        PathBuf::from(
            dir.lines()
                .last()
                .expect("build.sh prints the guest dir")
                .trim(),
        )
    })
    .clone()
}

/// The test guest for `arch` (`aarch64`, `riscv64`) from `guest/build-arch.sh`, built once
/// per machine (the script caches it beside the x86_64 guest).
pub fn arch_guest_dir(arch: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock_path = repo.join("target").join(format!("guest-build-{arch}.lock"));
    fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let lock = fs::File::create(&lock_path).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let output = Command::new("bash")
        .arg(repo.join("guest/build-arch.sh"))
        .arg(arch)
        .stderr(Stdio::inherit())
        .output()
        .expect("run guest/build-arch.sh");
    assert!(output.status.success(), "guest/build-arch.sh {arch} failed");
    let dir = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(dir.lines().last().expect("it prints the guest dir").trim())
}

/// `XDG_CACHE_HOME` of every qcmdr a test runs: a fixed folder, so images built by one test
/// run are reused by the next (`<it>/qcmdr/images/<name>-<key>/`; a changed recipe is a new
/// build). A fresh machine builds each test image once.
pub fn test_cache_home() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("qcmdr-test"),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("qcmdr-test-cache"),
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One VM of a generated config.
#[derive(Debug, Clone)]
pub struct VmSpec {
    pub name: String,
    pub port: u16,
    /// Extra kernel command line words, e.g. the guest's `qcmdr.nosshd` fault switches.
    pub kernel_args: String,
    /// Extra Lua fields of the VM table, e.g. `stop_timeout = 5,`.
    pub extra: String,
    /// Extra QEMU args (Lua string literals' contents), appended to the standard ones.
    pub qemu_args: Vec<String>,
    /// Private key to log in with; default: the guest's authorized key.
    pub identity: Option<PathBuf>,
}

impl VmSpec {
    pub fn new(name: &str) -> Self {
        VmSpec {
            name: name.to_string(),
            port: free_port(),
            kernel_args: String::new(),
            extra: String::new(),
            qemu_args: Vec::new(),
            identity: None,
        }
    }

    pub fn identity(mut self, key: &Path) -> Self {
        self.identity = Some(key.to_path_buf());
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    pub fn qemu_arg(mut self, arg: &str) -> Self {
        self.qemu_args.push(arg.to_string());
        self
    }

    pub fn kernel_args(mut self, args: &str) -> Self {
        self.kernel_args = args.to_string();
        self
    }

    pub fn extra(mut self, lua: &str) -> Self {
        self.extra.push_str(lua);
        self.extra.push('\n');
        self
    }

    pub fn lua(&self) -> String {
        let qemu_args: String = self.qemu_args.iter().map(|a| format!("{a:?}, ")).collect();
        let identity = match &self.identity {
            Some(key) => format!("{:?}", key.to_str().unwrap()),
            None => "guest .. \"/id_ed25519\"".to_string(),
        };
        format!(
            r#"    {{
      name = "{name}", arch = "x86_64", login_timeout = 90, ssh_timeout = 60, stop_timeout = 20,
      {extra}
      ssh = {{ Port = {port}, User = "root", IdentityFile = {identity} }},
      args = {{
        "-machine q35,accel=tcg", "-cpu max", "-m 256", "-display none",
        "-kernel " .. guest .. "/vmlinuz", "-initrd " .. guest .. "/initrd.gz",
        "-append", '"console=ttyS0 quiet {kernel_args}"',
        "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device virtio-net-pci,netdev=net0",
        {qemu_args}
      }},
    }},
"#,
            name = self.name,
            port = self.port,
            extra = self.extra,
            kernel_args = self.kernel_args,
            qemu_args = qemu_args,
            identity = identity,
        )
    }
}

/// A temporary project folder with a `conf.lua`; cleans up every process it started.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub vms: Vec<VmSpec>,
}

impl Project {
    pub fn new(vms: Vec<VmSpec>) -> Self {
        Self::with_top_level(vms, "")
    }

    /// `top_level` is extra Lua fields of the returned table (e.g. `sync_engine = "rsync",`).
    pub fn with_top_level(vms: Vec<VmSpec>, top_level: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("qcmdr-t")
            .tempdir()
            .unwrap();
        let project = Project { dir, vms };
        project.write_config(top_level);
        project
    }

    pub fn write_config(&self, top_level: &str) {
        self.write_named_config("conf.lua", &self.vms, top_level);
    }

    /// Another config file in the same folder (so it shares the state dir).
    pub fn write_named_config(&self, file: &str, vms: &[VmSpec], top_level: &str) -> PathBuf {
        let guest = guest_dir();
        let vms: String = vms.iter().map(VmSpec::lua).collect();
        let text = format!(
            "local guest = {guest:?}\nreturn {{\n  {top_level}\n  vms = {{\n{vms}  }},\n}}\n",
            guest = guest.to_str().unwrap()
        );
        let path = self.path().join(file);
        fs::write(&path, text).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("conf.lua")
    }

    pub fn state(&self) -> PathBuf {
        self.path().join(".qcmdr")
    }

    pub fn vm_dir(&self, vm: &str) -> PathBuf {
        self.state().join("vm").join(vm)
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.state().join("ssh_config")
    }

    /// `qcmdr -c <conf> ARGS` as the one test builder ([`cli::Expect`]): its images in the
    /// test cache, expected to exit 0 unless told otherwise.
    pub fn cmd(&self, args: &[&str]) -> cli::Expect {
        let mut all: Vec<std::ffi::OsString> = vec!["-c".into(), self.config().into()];
        all.extend(args.iter().map(std::ffi::OsString::from));
        cli::Expect::new(&all, self.path()).env("XDG_CACHE_HOME", test_cache_home())
    }

    /// The command of [`Project::cmd`], for a test that acts on qcmdr while it runs.
    pub fn command(&self, args: &[&str]) -> Command {
        self.cmd(args).command()
    }

    /// Runs with any exit code; the test looks at the outcome.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).any_code().run()
    }

    /// Runs with `input` on stdin (then end of file), both output streams captured.
    #[track_caller]
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        self.cmd(args).any_code().input(input).run()
    }

    /// Runs and asserts success, with both streams in the panic message otherwise.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Run {
        self.cmd(args).run()
    }

    /// PID of a VM's QEMU from its pidfile, if any.
    pub fn pid(&self, vm: &str) -> Option<i32> {
        fs::read_to_string(self.vm_dir(vm).join("qemu.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Processes whose command line mentions this project's folder (QEMU, ssh masters).
    pub fn own_processes(&self) -> Vec<i32> {
        processes_mentioning(self.path())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.state().exists() {
            let _ = self
                .command(&["stop", "--all", "--force", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for pid in self.own_processes() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

/// Every live process whose argv mentions `needle` (zombies excluded).
pub fn processes_mentioning(needle: &Path) -> Vec<i32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&raw).contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Polls `condition` (cheap checks only) until true or `timeout`.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// The outcome of one qcmdr run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Sends `signal` to `child` (its stderr piped) and waits up to 60 s for it to exit: its exit
/// code and what it wrote to stderr. Panics, naming `what`, if it is still running then.
pub fn signal_and_collect(
    child: &mut KillOnDrop,
    signal: rustix::process::Signal,
    what: &str,
) -> (Option<i32>, String) {
    use std::io::Read;
    let pid = child.id() as i32;
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), signal).unwrap();
    let ended = qcmdr::runtime::process::ProcessHandle::from_child(pid)
        .unwrap()
        .wait_exit(Duration::from_secs(60));
    assert!(ended, "{what} still runs 60 s after {signal:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}
