//! A cancellation signal that can sit in a `poll` set beside pidfds and inotify, so that
//! Ctrl-C interrupts a wait the moment it happens instead of at the next poll tick.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Cheap to clone; all clones share one state.
#[derive(Clone, Debug)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    set: AtomicBool,
    read_end: OwnedFd,
    write_end: OwnedFd,
}

impl Cancel {
    pub fn new() -> std::io::Result<Self> {
        let (read_end, write_end) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        Ok(Cancel {
            inner: Arc::new(Inner {
                set: AtomicBool::new(false),
                read_end,
                write_end,
            }),
        })
    }

    /// Marks cancelled and wakes every poll that includes [`Cancel::fd`]. Idempotent.
    pub fn trigger(&self) {
        if !self.inner.set.swap(true, Ordering::SeqCst) {
            // The byte is never read: the pipe stays readable, so every waiter wakes.
            let _ = rustix::io::write(&self.inner.write_end, b"x");
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// Becomes readable once cancelled.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.read_end.as_fd()
    }
}
