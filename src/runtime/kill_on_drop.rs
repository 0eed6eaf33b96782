//! A child process that is killed and reaped however its owner's scope ends (a return, an
//! early `?`, a panic), so no helper process (ssh, a test's QEMU) outlives the one use it had.

use std::ops::{Deref, DerefMut};
use std::process::Child;

#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Killing a child that already exited (but is unreaped) is harmless: its PID cannot
        // have been reused before the `wait` below.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_child_is_gone_once_the_guard_is() {
        let guard = KillOnDrop(Command::new("sleep").arg("30").spawn().unwrap());
        let pid = guard.id();
        drop(guard);
        // Reaped: /proc has no entry (not even a zombie's).
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
