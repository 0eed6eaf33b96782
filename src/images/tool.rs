//! Running the external tools a build uses, their output appended to the build log.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

/// Why a tool did not do its job, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool} is not installed ({hint})")]
    Missing { tool: String, hint: &'static str },
    #[error("{tool} failed ({status})")]
    Failed { tool: String, status: String },
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

/// Runs `command` to completion with stdout and stderr appended to `log`.
pub fn run(mut command: Command, log: &Path) -> Result<(), ToolError> {
    let tool = command.get_program().to_string_lossy().into_owned();
    let io = |context: &str| {
        let context = context.to_string();
        move |source| ToolError::Io { context, source }
    };
    let out = File::options()
        .append(true)
        .open(log)
        .map_err(io("cannot open the build log"))?;
    let err = out.try_clone().map_err(io("cannot open the build log"))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ToolError::Missing {
                hint: package_of(&tool),
                tool: tool.clone(),
            },
            _ => ToolError::Io {
                context: format!("cannot run {tool}"),
                source,
            },
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(ToolError::Failed {
            tool,
            status: status.to_string(),
        })
    }
}

/// Runs `command` and returns its stdout (stderr to the log).
pub fn output(mut command: Command, log: &Path) -> Result<String, ToolError> {
    let tool = command.get_program().to_string_lossy().into_owned();
    let err = File::options()
        .append(true)
        .open(log)
        .map_err(|source| ToolError::Io {
            context: "cannot open the build log".into(),
            source,
        })?;
    let output = command
        .stdin(Stdio::null())
        .stderr(err)
        .output()
        .map_err(|source| ToolError::Io {
            context: format!("cannot run {tool}"),
            source,
        })?;
    if !output.status.success() {
        return Err(ToolError::Failed {
            tool,
            status: output.status.to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A client key pair for logging in to the image: `dir/id_ed25519` (0600) and `.pub`.
pub fn client_key(dir: &Path, comment: &str, log: &Path) -> Result<String, ToolError> {
    let key = dir.join("id_ed25519");
    let mut command = Command::new("ssh-keygen");
    command
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&key);
    run(command, log)?;
    std::fs::read_to_string(dir.join("id_ed25519.pub")).map_err(|source| ToolError::Io {
        context: "cannot read the new public key".into(),
        source,
    })
}
