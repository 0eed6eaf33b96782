//! Raw mode for the controlling terminal while it is attached to a VM, restored on drop, so
//! every way out (detach, error, signal turned into a stop, panic) gives the terminal back.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::termios::{self, OptionalActions, Termios};

/// The terminal in raw mode; dropping it restores the settings it had.
#[derive(Debug)]
pub struct RawTerminal {
    fd: OwnedFd,
    saved: Termios,
}

impl RawTerminal {
    /// Raw mode on `fd` if it is a terminal; `None` (nothing changed) if it is not.
    pub fn enter(fd: BorrowedFd<'_>) -> std::io::Result<Option<RawTerminal>> {
        if !termios::isatty(fd) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        // Every byte goes to the guest as typed: Ctrl-C, Ctrl-Z and Ctrl-D are the guest's.
        raw.make_raw();
        // Our own copy of the descriptor, so restoring never depends on stdin still being open.
        let fd = fd.try_clone_to_owned()?;
        termios::tcsetattr(&fd, OptionalActions::Now, &raw)?;
        Ok(Some(RawTerminal { fd, saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd.as_fd(), OptionalActions::Now, &self.saved);
    }
}
