//! Follows a log file the way `tail -F` does, woken by inotify rather than a poll tick, and
//! across a restart: `start` renames the log to `*.prev.log` and QEMU creates a new one, so
//! when the path names a different file, the old one is read to its end and the new one is
//! followed from its start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use rustix::event::{PollFd, PollFlags};

use crate::runtime::poll_until::poll_until;

use crate::runtime::dir_watch::DirWatch;

/// Largest piece handed out at once.
const CHUNK: usize = 64 * 1024;

/// What [`Follow::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes appended to the followed file.
    Data(Vec<u8>),
    /// The path now names a new file (the VM was restarted); following it from its start.
    Rotated,
}

#[derive(Debug)]
pub struct Follow {
    path: PathBuf,
    watch: DirWatch,
    /// The file being read and its (device, inode); `None` until the path exists.
    file: Option<(File, (u64, u64))>,
    offset: u64,
}

impl Follow {
    /// Follows `path` from byte `offset` (from 0 if the file appears only later). The folder
    /// holding `path` must exist.
    pub fn new(path: PathBuf, offset: u64) -> std::io::Result<Follow> {
        let dir = path.parent().unwrap_or(std::path::Path::new("/"));
        let watch = DirWatch::new(dir)?;
        let mut follow = Follow {
            path,
            watch,
            file: None,
            offset: 0,
        };
        if follow.open_current()? {
            follow.offset = offset;
        }
        Ok(follow)
    }

    /// Blocks until there is something new; `None` once `stop` becomes readable.
    pub fn next(&mut self, stop: BorrowedFd<'_>) -> std::io::Result<Option<Chunk>> {
        loop {
            let data = self.read_new()?;
            if !data.is_empty() {
                return Ok(Some(Chunk::Data(data)));
            }
            // Only once the old file is read to its end does a replacement take over.
            if self.replaced() {
                let first = self.file.is_none();
                self.open_current()?;
                self.offset = 0;
                if !first {
                    return Ok(Some(Chunk::Rotated));
                }
                continue;
            }
            let changes = self.watch.fd();
            let mut fds = [
                PollFd::new(&stop, PollFlags::IN),
                PollFd::new(&changes, PollFlags::IN),
            ];
            poll_until(&mut fds, None)?;
            if !fds[0].revents().is_empty() {
                return Ok(None);
            }
            self.watch.drain();
        }
    }

    fn read_new(&mut self) -> std::io::Result<Vec<u8>> {
        let Some((file, _)) = &mut self.file else {
            return Ok(Vec::new());
        };
        // Truncated in place (e.g. by hand): start over rather than wait past its end.
        if file.metadata()?.len() < self.offset {
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut data = Vec::new();
        file.take(CHUNK as u64).read_to_end(&mut data)?;
        self.offset += data.len() as u64;
        Ok(data)
    }

    /// True when the path exists and is not the file being read.
    fn replaced(&self) -> bool {
        match (std::fs::metadata(&self.path), &self.file) {
            (Ok(meta), Some((_, id))) => (meta.dev(), meta.ino()) != *id,
            (Ok(_), None) => true,
            (Err(_), _) => false,
        }
    }

    /// Opens whatever the path names now; false if nothing does.
    fn open_current(&mut self) -> std::io::Result<bool> {
        match File::open(&self.path) {
            Ok(file) => {
                let meta = file.metadata()?;
                self.file = Some((file, (meta.dev(), meta.ino())));
                Ok(true)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::runtime::cancel::Cancel;

    fn data(follow: &mut Follow, cancel: &Cancel) -> Chunk {
        follow.next(cancel.fd()).unwrap().unwrap()
    }

    #[test]
    fn follows_appends_then_a_rotation_to_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        let prev = dir.path().join("serial.prev.log");
        let cancel = Cancel::new().unwrap();
        let mut old = File::create(&path).unwrap();
        old.write_all(b"already shown\n").unwrap();
        let mut follow = Follow::new(path.clone(), 14).unwrap();

        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                old.write_all(b"one\n").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                std::fs::rename(&path, &prev).unwrap();
                old.write_all(b"last words\n").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                File::create(&path)
                    .unwrap()
                    .write_all(b"new boot\n")
                    .unwrap();
            })
        };
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("new boot") {
            match data(&mut follow, &cancel) {
                Chunk::Data(bytes) => seen.extend(bytes),
                Chunk::Rotated => seen.extend(b"<rotated>\n"),
            }
        }
        writer.join().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&seen),
            "one\nlast words\n<rotated>\nnew boot\n"
        );
        cancel.trigger();
        assert_eq!(follow.next(cancel.fd()).unwrap(), None);
    }

    #[test]
    fn a_file_that_appears_later_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qemu.log");
        let cancel = Cancel::new().unwrap();
        let mut follow = Follow::new(path.clone(), 999).unwrap();
        std::fs::write(&path, "hello\n").unwrap();
        assert_eq!(data(&mut follow, &cancel), Chunk::Data(b"hello\n".to_vec()));
    }
}
