//! Running the external tools a build uses, their output appended to the build log; Ctrl-C
//! ends a running tool and everything it started.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::userns::{IdMap, UsernsError};
use crate::runtime::cancel::Cancel;
use crate::runtime::executable::{find_on_path, is_executable};
use crate::runtime::helper::{Helper, HelperError};

/// How long an interrupted tool has from SIGTERM to SIGKILL: mmdebstrap uses it to unmount
/// what it mounted in the root it builds (the build folder can only be removed then).
const INTERRUPT_GRACE: Duration = Duration::from_secs(20);

/// Why a build step did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A tool could not run, failed, or was interrupted.
    #[error(transparent)]
    Helper(#[from] HelperError),
    #[error(transparent)]
    Namespace(#[from] UsernsError),
    /// Boxed: the error is large, and every step's result carries a `ToolError`.
    #[error(transparent)]
    Foreign(Box<super::foreign::ForeignError>),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Debian package that provides `tool`, for the message when it is missing.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "mmdebstrap" => "Debian: apt-get install mmdebstrap",
        "mke2fs" => "Debian: apt-get install e2fsprogs",
        "qemu-img" => "Debian: apt-get install qemu-utils",
        "ssh-keygen" => "Debian: apt-get install openssh-client",
        "genisoimage" => "Debian: apt-get install genisoimage",
        _ => "install it",
    }
}

/// A command for `tool` from `PATH`, else from the sbin folders that a regular user's `PATH`
/// lacks on Debian (`mke2fs` is in `/usr/sbin`).
pub fn command(tool: &str) -> Command {
    let found = find_on_path(tool).or_else(|| {
        ["/usr/sbin", "/sbin"]
            .iter()
            .map(|dir| Path::new(dir).join(tool))
            .find(|path| is_executable(path))
    });
    Command::new(found.as_deref().unwrap_or(Path::new(tool)))
}

/// Runs `command` to completion with stdout and stderr appended to `log`.
pub fn run(mut command: Command, log: &Path, cancel: &Cancel) -> Result<(), ToolError> {
    let out = open_log(log)?;
    let err = out.try_clone().map_err(|source| ToolError::Io {
        context: "cannot open the build log".into(),
        source,
    })?;
    command.stdout(out);
    run_to_end(command, err, false, cancel).map(drop)
}

/// Runs `command` like [`run`], as root of a user namespace with `namespace` when given.
pub fn run_in(
    namespace: Option<&IdMap>,
    mut command: Command,
    log: &Path,
    cancel: &Cancel,
) -> Result<(), ToolError> {
    let Some(map) = namespace else {
        return run(command, log, cancel);
    };
    let mapping = map.enter_on_spawn(&mut command)?;
    let result = run(command, log, cancel);
    // A failed mapping is why the spawn failed: its error says more than the spawn's.
    mapping.finish()?;
    result
}

/// Runs `command` and returns its stdout (stderr to the log).
pub fn output(command: Command, log: &Path, cancel: &Cancel) -> Result<String, ToolError> {
    let stdout = run_to_end(command, open_log(log)?, true, cancel)?;
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

fn open_log(log: &Path) -> Result<File, ToolError> {
    File::options()
        .append(true)
        .open(log)
        .map_err(|source| ToolError::Io {
            context: "cannot open the build log".into(),
            source,
        })
}

/// Runs `command` with stdin closed and stderr into `err` until it exits (its stdout when
/// `capture`) or `cancel` ends it and everything it started.
fn run_to_end(
    mut command: Command,
    err: File,
    capture: bool,
    cancel: &Cancel,
) -> Result<Vec<u8>, ToolError> {
    let tool = command.get_program().to_string_lossy().into_owned();
    command.stdin(Stdio::null());
    let helper = Helper::new(command)
        .cancel(cancel)
        .process_group()
        .grace(INTERRUPT_GRACE)
        .install_hint(package_of(&tool))
        .stderr(err);
    if capture {
        Ok(helper.output()?.stdout)
    } else {
        helper.status()?;
        Ok(Vec::new())
    }
}

/// A client key pair for logging in to the image: `dir/id_ed25519` (0600) and `.pub`.
pub fn client_key(
    dir: &Path,
    comment: &str,
    log: &Path,
    cancel: &Cancel,
) -> Result<String, ToolError> {
    let key = dir.join("id_ed25519");
    let mut command = Command::new("ssh-keygen");
    command
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&key);
    run(command, log, cancel)?;
    std::fs::read_to_string(dir.join("id_ed25519.pub")).map_err(|source| ToolError::Io {
        context: "cannot read the new public key".into(),
        source,
    })
}
