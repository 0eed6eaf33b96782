//! While the instance boots (or restores): a panic on the serial console, or Ctrl-C, ends
//! `start`'s wait at once. A panicked guest never shows a login prompt or answers SSH, so
//! without this a run would wait for `login_timeout` to learn what the console said at once.
//!
//! A thread follows the serial log (inotify on the VM folder) and triggers the [`Cancel`]
//! that `start` waits on; the user's own Ctrl-C is passed on the same way.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags};

use super::panic_watch::PanicWatch;
use crate::runtime::cancel::Cancel;
use crate::runtime::dir_watch::DirWatch;
use crate::runtime::poll_until::poll_until;

pub struct BootWatch {
    /// What `start` waits on.
    pub cancel: Cancel,
    done: Cancel,
    panic: Arc<Mutex<PanicWatch>>,
    thread: Option<JoinHandle<()>>,
}

impl BootWatch {
    /// Watches `folder` (where `serial_log` is written) and `user` (Ctrl-C).
    pub fn new(folder: &Path, serial_log: &Path, user: &Cancel) -> std::io::Result<Self> {
        let watch = DirWatch::new(folder)?;
        let (cancel, done) = (Cancel::new()?, Cancel::new()?);
        let panic = Arc::new(Mutex::new(PanicWatch::new(serial_log)));
        let thread = {
            let (cancel, done, panic, user) =
                (cancel.clone(), done.clone(), panic.clone(), user.clone());
            std::thread::spawn(move || follow(&watch, &cancel, &done, &panic, &user))
        };
        Ok(BootWatch {
            cancel,
            done,
            panic,
            thread: Some(thread),
        })
    }

    /// Stops watching; the panic seen meanwhile, if any, goes on with the caller.
    pub fn finish(mut self) -> PanicWatch {
        self.stop();
        let mut panic = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *panic, PanicWatch::new(Path::new("")))
    }

    fn stop(&mut self) {
        self.done.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BootWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

fn follow(
    watch: &DirWatch,
    cancel: &Cancel,
    done: &Cancel,
    panic: &Mutex<PanicWatch>,
    user: &Cancel,
) {
    loop {
        let (watch_fd, done_fd, user_fd) = (watch.fd(), done.fd(), user.fd());
        let mut fds = [
            PollFd::new(&watch_fd, PollFlags::IN),
            PollFd::new(&done_fd, PollFlags::IN),
            PollFd::new(&user_fd, PollFlags::IN),
        ];
        if poll_until(&mut fds, None).is_err() || done.is_cancelled() {
            return;
        }
        if user.is_cancelled() {
            cancel.trigger();
            return;
        }
        watch.drain();
        let Ok(mut panic) = panic.lock() else {
            return;
        };
        if panic.update() {
            panic.read_rest(watch, user);
            cancel.trigger();
            return;
        }
    }
}
