//! The command line, declared with clap. Nothing here runs anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "qcmdr",
    version,
    about = "QEMU Commander: define QEMU VMs once in Lua, then start, stop, reach and sync them in one word each",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage error.\nConfig: -c FILE, else $QCMDR_CONFIG, else ./conf.lua, else $XDG_CONFIG_HOME/qcmdr/conf.lua."
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
        #[arg(value_name = "VM")]
        vm: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print the private SSH config (pasteable into ~/.ssh/config) and refresh its file
    SshConfig {
        #[arg(value_name = "VM")]
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
        #[arg(value_name = "VM")]
        vms: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Run ssh on the VM through the private config: exactly `ssh -F <config> VM ARGS...`
    Ssh {
        /// The VM, then ssh options and/or a remote command, passed to ssh untouched
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "VM [ARGS]..."
        )]
        argv: Vec<String>,
    },
    /// Run a command in the VM with its argv preserved exactly; exit code is the command's
    Exec {
        #[arg(value_name = "VM")]
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
    /// File sync with VMs: status, flush, watch
    #[command(subcommand)]
    Sync(SyncCommand),
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
        #[arg(value_name = "VM")]
        vms: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Sync now: flush the VM's Mutagen sessions, run its rsync entries
    Flush {
        #[arg(value_name = "VM")]
        vm: String,
    },
    /// Keep the VM's rsync entries in sync with local changes until Ctrl-C or the VM stops
    Watch {
        #[arg(value_name = "VM")]
        vm: String,
    },
}

#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Machine-readable output (documented, versioned schema)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(value_name = "VM", required_unless_present = "all")]
    pub vms: Vec<String>,
    /// Every configured VM
    #[arg(long)]
    pub all: bool,
    /// Overall bound for the readiness wait, in seconds (replaces login_timeout and ssh_timeout)
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Leave QEMU running when the start fails, for a post-mortem
    #[arg(long)]
    pub keep_running: bool,
    /// Do not sync files for this start
    #[arg(long)]
    pub no_sync: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[arg(value_name = "VM", required_unless_present = "all")]
    pub vms: Vec<String>,
    /// Every configured VM
    #[arg(long)]
    pub all: bool,
    /// Bound of each graceful step, in seconds (replaces stop_timeout)
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Skip the graceful steps: SIGTERM, then SIGKILL
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}
