//! The command line, declared with clap. Nothing here runs anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::complete;
use super::seconds_arg::seconds;

#[derive(Debug, Parser)]
#[command(
    name = "qcmdr",
    version,
    about = "QEMU Commander: define QEMU VMs once in Lua, then start, stop, reach and sync them in one word each",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage or config error, 130 interrupted (docs/exit-codes.md).\nConfig: -c FILE, else $QCMDR_CONFIG, else ./conf.lua, else $XDG_CONFIG_HOME/qcmdr/conf.lua."
)]
pub struct Cli {
    /// Config file (default: $QCMDR_CONFIG, ./conf.lua, $XDG_CONFIG_HOME/qcmdr/conf.lua)
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Folder for runtime files (default: .qcmdr beside the config file)
    #[arg(long, global = true, env = "QCMDR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config; report every problem found
    Check,
    /// List the configured VMs and their state
    List(JsonFlag),
    /// Show a VM as resolved: QEMU command line, runtime paths
    Show {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print the private SSH config (pasteable into ~/.ssh/config) and refresh its file
    SshConfig {
        #[arg(value_name = "VM", add = complete::vms())]
        vms: Vec<String>,
    },
    /// Start VMs and wait until they are ready (login prompt, then SSH)
    Start(StartArgs),
    /// Stop VMs: SSH poweroff, then ACPI, SIGTERM, SIGKILL, each bounded
    Stop(StopArgs),
    /// Stop, then start VMs
    Restart(StartArgs),
    /// State, PID, uptime and SSH health of VMs
    Status {
        #[arg(value_name = "VM", add = complete::vms())]
        vms: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Run one command in a throwaway instance of a VM (booted, or restored from a snapshot), then destroy it; exits with the command's code (docs/run.md)
    #[command(
        after_help = "Exit codes: the command's own; 120 never ready, 121 guest kernel panic or oops, 122 QEMU failed, 123 run not prepared, 124 --timeout, 130 interrupted, 2 usage or config error. --bisect: 125 (skip) for 120/122/123, 1 for a panic, a timeout or a command's 128-255, 128 for a usage error. See docs/run.md."
    )]
    Run(RunArgs),
    /// Run ssh on the VM through the private config: exactly `ssh -F <config> VM ARGS...`
    Ssh {
        /// The VM, then ssh options and/or a remote command, passed to ssh untouched
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "VM [ARGS]...",
            add = complete::vms()
        )]
        argv: Vec<String>,
    },
    /// Run a command in the VM with its argv preserved exactly; exit code is the command's
    Exec {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        /// The command and its arguments, each passed to the guest as one argument
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "CMD [ARGS]..."
        )]
        command: Vec<String>,
    },
    /// Run scp through the private config (`VM:path` names a file in the VM)
    Scp {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Attach the terminal to the VM's serial console (detach with Ctrl-])
    Console {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
    },
    /// Print the last lines of the VM's serial console log; -f follows it across restarts
    Serial(LogArgs),
    /// Print the last lines of QEMU's own output (stdout/stderr); -f follows it
    Logs(LogArgs),
    /// Run one HMP monitor command (e.g. `info block`); without one, attach to the monitor
    Monitor {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        /// How long to wait for QEMU's answer, in seconds
        #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = seconds)]
        timeout: f64,
        /// The HMP command line, e.g. `info status`
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Send one QMP command; print its `return` as JSON (events go to stderr)
    Qmp(QmpArgs),
    /// Run the VM's QEMU in the foreground under gdb, with the argv `start` would use
    Gdb {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        /// Arguments for gdb, placed before `--args <QEMU argv>` (e.g. `-batch -ex run`)
        #[arg(last = true, value_name = "GDB-ARGS")]
        gdb_args: Vec<String>,
    },
    /// File sync with VMs: status, flush, watch
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Save a running VM's whole state under a name; list, delete, restore snapshots
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Run mutagen with qcmdr's private data directory and SSH setup; arguments untouched
    #[command(disable_help_flag = true)]
    Mutagen {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Guest images from the config's `images`: build, list, remove
    #[command(subcommand)]
    Image(ImageCommand),
    /// Write a commented conf.lua with a Debian image and a VM `dev` into DIR
    Init {
        /// Folder for conf.lua (created if missing; default: the current folder)
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The VM's architecture (qcmdr fills in its machine, CPU, firmware and network)
        #[arg(long, value_name = "ARCH", default_value = "x86_64",
              value_parser = ["x86_64", "aarch64", "riscv64"])]
        arch: String,
    },
    /// Check what this machine and user offer the VMs (KVM, QEMU, tools, rootless builds,
    /// folders, socket paths; a running VM's accelerator and clocksource), each with its fix
    Doctor {
        #[arg(value_name = "VM", add = complete::vms())]
        vms: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print shell completions
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Per sync entry: engine, endpoints, state, and problems in plain words
    Status {
        #[arg(value_name = "VM", add = complete::vms())]
        vms: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Sync now: flush the VM's Mutagen sessions, run its rsync entries
    Flush {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
    },
    /// Keep the VM's rsync entries in sync with local changes until Ctrl-C or the VM stops
    Watch {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the named images (default: all) that are missing or out of date
    Build {
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// The configured images and their builds
    List(JsonFlag),
    /// Remove every build of an image
    Rm {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Remove the builds no image of this config uses (old recipes, removed images)
    Gc,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save the running VM's RAM, devices and writable disks as snapshot NAME
    Save {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        #[arg(value_name = "NAME")]
        name: String,
        /// Stop the VM after saving (instead of letting it run on)
        #[arg(long)]
        stop: bool,
    },
    /// List snapshots: name, VM, created, size, QEMU version
    List {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete snapshot NAME of VM (its state file and its disks' internal snapshots)
    Delete {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Put the running VM back into snapshot NAME (writes made since are lost)
    Restore {
        #[arg(value_name = "VM", add = complete::vms())]
        vm: String,
        #[arg(value_name = "NAME")]
        name: String,
        /// Load the snapshot even if another QEMU version saved it
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        ready: ReadyArgs,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Machine-readable output (documented, versioned schema)
    #[arg(long)]
    pub json: bool,
}

/// How a start (or a restore) waits for the VM and what it does once it is up.
#[derive(Debug, Args, Clone, Copy)]
pub struct ReadyArgs {
    /// Overall bound for the readiness wait, in seconds (replaces login_timeout and ssh_timeout)
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Leave QEMU running when the VM does not come up, for a post-mortem
    #[arg(long)]
    pub keep_running: bool,
    /// Do not sync files for this start
    #[arg(long)]
    pub no_sync: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(value_name = "VM", add = complete::vms())]
    pub vm: String,
    /// Restore this snapshot of the VM instead of booting (see `qcmdr snapshot`); the snapshot and the VM are left unchanged
    #[arg(long, value_name = "SNAPSHOT")]
    pub from: Option<String>,
    /// With --from: load the snapshot even if another QEMU version saved it
    #[arg(long, requires = "from")]
    pub force: bool,
    /// Boot this kernel image or built kernel tree for this run only (the VM keeps its root file system)
    #[arg(long, value_name = "PATH", conflicts_with = "from")]
    pub kernel: Option<PathBuf>,
    /// Add these words to the kernel command line for this run only
    #[arg(
        long,
        value_name = "ARGS",
        conflicts_with = "from",
        allow_hyphen_values = true
    )]
    pub append: Option<String>,
    /// Bound for the command, in seconds: then it is killed and qcmdr exits 124
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Exit codes for `git bisect run`: failures that are not the command's (boot, QEMU) give 125 (skip)
    #[arg(long)]
    pub bisect: bool,
    /// Keep the instance's folder (logs, overlays) for a post-mortem and print its path
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub json: JsonFlag,
    /// The command and its arguments, after `--`; each reaches the guest as one argument
    #[arg(last = true, required = true, value_name = "CMD [ARGS]...")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(value_name = "VM", required_unless_present = "all", add = complete::vms())]
    pub vms: Vec<String>,
    /// Every configured VM
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub ready: ReadyArgs,
    /// Start image-backed VMs from a fresh disk (their old disk is discarded)
    #[arg(long, conflicts_with = "from")]
    pub reset_disk: bool,
    /// Start from this snapshot instead of booting (see `qcmdr snapshot`)
    #[arg(long, value_name = "NAME")]
    pub from: Option<String>,
    /// With --from: load the snapshot even if another QEMU version saved it
    #[arg(long, requires = "from")]
    pub force: bool,
    /// Boot this kernel (an image file or a built kernel tree) instead of the VM's `kernel`
    #[arg(long, value_name = "PATH", conflicts_with = "from")]
    pub kernel: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[arg(value_name = "VM", required_unless_present = "all", add = complete::vms())]
    pub vms: Vec<String>,
    /// Every configured VM
    #[arg(long)]
    pub all: bool,
    /// Bound of each graceful step, in seconds (replaces stop_timeout)
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Skip the graceful steps: SIGTERM, then SIGKILL
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[arg(value_name = "VM", add = complete::vms())]
    pub vm: String,
    /// Keep printing what is appended, also across a restart of the VM
    #[arg(short, long)]
    pub follow: bool,
    /// How many lines to print first
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
    pub lines: usize,
}

#[derive(Debug, Args)]
pub struct QmpArgs {
    #[arg(value_name = "VM", add = complete::vms())]
    pub vm: String,
    /// The QMP command, e.g. `query-status`
    #[arg(value_name = "COMMAND")]
    pub command: String,
    /// The command's arguments as one JSON object, e.g. '{"device": "drive0"}'
    #[arg(value_name = "JSON-ARGS", value_parser = json_object)]
    pub arguments: Option<serde_json::Value>,
    /// How long to wait for the greeting and for the answer, in seconds
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = seconds)]
    pub timeout: f64,
}

fn json_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(other) => Err(format!("expected a JSON object, got {other}")),
        Err(err) => Err(format!("not JSON: {err}")),
    }
}
