//! A newc ("070701") cpio archive, the format the kernel unpacks as an initramfs: folders and
//! regular files, owned by root, written in the order given (a folder before its contents).

use std::io::{self, Write};

pub(super) struct Writer<W: Write> {
    out: W,
    inode: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer { out, inode: 1 }
    }

    pub fn dir(&mut self, name: &str) -> io::Result<()> {
        self.entry(name, 0o040_755, &[])
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.entry(name, 0o100_644, data)
    }

    /// The trailer, then the inner writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, &[])?;
        Ok(self.out)
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let name_size = name.len() + 1;
        let size = u32::try_from(data.len()).map_err(|_| io::Error::other("file over 4 GiB"))?;
        let fields = [
            self.inode,
            mode,
            0, // uid
            0, // gid
            if mode & 0o040_000 != 0 { 2 } else { 1 },
            0, // mtime: a reproducible archive
            size,
            0,
            0,
            0,
            0,
            name_size as u32,
            0,
        ];
        self.inode += 1;
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.pad(110 + name_size)?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    /// Header+name and data each end on a 4-byte boundary.
    fn pad(&mut self, written: usize) -> io::Result<()> {
        let zeros = (4 - written % 4) % 4;
        self.out.write_all(&[0; 3][..zeros])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_reads_it_back() {
        let mut w = Writer::new(Vec::new());
        w.dir("lib").unwrap();
        w.dir("lib/modules").unwrap();
        w.file("lib/modules/a.ko", b"hello").unwrap();
        let bytes = w.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("cpio")
            .args(["-i", "-d", "--quiet"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("cpio (Debian: apt-get install cpio)");
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        assert!(child.wait().unwrap().success());
        let text = std::fs::read_to_string(dir.path().join("lib/modules/a.ko")).unwrap();
        assert_eq!(text, "hello");
    }
}
