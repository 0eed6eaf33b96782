//! The terminal attached to one of a VM's chardev sockets (serial console, HMP monitor): raw
//! mode while attached, `Ctrl-]` to detach, and the terminal restored however it ends. Signals
//! from outside (SIGINT, SIGTERM, SIGHUP) stop the relay instead of killing qcmdr, so the
//! restore always runs; in raw mode a typed Ctrl-C is just a byte for the guest.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::raw_terminal::RawTerminal;
use super::{interrupt, Failure};
use crate::console::relay::{self, End, Local, Options};

/// `Ctrl-]`, as in telnet and `virsh console`.
pub const DETACH_KEY: u8 = 0x1d;
/// Piped input: how long the VM may stay silent before the last answer counts as complete.
const DRAIN_IDLE: Duration = Duration::from_millis(700);

/// Relays stdin/stdout to `socket` until detach, end of input, the VM closing it, or a signal.
/// `what` names the other end in messages, e.g. `demo's serial console`.
pub fn attach(socket: &Path, what: &str) -> Result<ExitCode, Failure> {
    let stream = UnixStream::connect(socket).map_err(|err| {
        Failure::new(format!(
            "cannot connect to {what} ({}): {err}",
            socket.display()
        ))
    })?;
    let stop = interrupt::cancel_on_signal()?;

    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    let raw = RawTerminal::enter(stdin.as_fd())
        .map_err(|e| Failure::new(format!("cannot put the terminal into raw mode: {e}")))?;
    // Raw output does not turn \n into \r\n.
    let newline = if raw.is_some() { "\r\n" } else { "\n" };
    eprint!("Connected to {what}; detach with Ctrl-]{newline}");
    let local = Local {
        input: stdin.as_fd(),
        output: stdout.as_fd(),
        stop: stop.fd(),
    };
    let options = Options {
        detach: Some(DETACH_KEY),
        drain_idle: DRAIN_IDLE,
    };
    let end = relay::relay(&stream, local, options);
    drop(raw);
    match end {
        Ok(End::Detached | End::InputClosed) => {
            eprintln!("\nDetached from {what}.");
            Ok(ExitCode::SUCCESS)
        }
        Ok(End::PeerClosed) => {
            eprintln!("\n{what} closed the connection (the VM stopped?).");
            Ok(ExitCode::SUCCESS)
        }
        Ok(End::Stopped) => Err(Failure::interrupted(format!(
            "interrupted by a signal; detached from {what}, terminal restored"
        ))),
        Err(err) => Err(Failure::new(format!("{what}: {err}"))),
    }
}
