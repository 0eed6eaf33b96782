//! A cheap integrity mark of a snapshot's state file, recorded at save and checked before a
//! start from it: the SHA-256 of its first and last MiB.
//!
//! The size (recorded too) catches a file cut short, by a full disk or a careless copy; the
//! mark catches the ends overwritten in place. They are what QEMU reads first and last: the
//! stream's header and first RAM pages, then the device state written after the RAM. Hashing
//! the whole file would catch more but took 200-480 ms per start on the loaded test machine,
//! where these 2 MiB take about 2 ms (bench/README.md, "Damaged snapshots").

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

/// How much of each end the mark covers.
pub const END_BYTES: u64 = 1 << 20;

/// The mark of `file`, which has `size` bytes: hex SHA-256 of its first [`END_BYTES`] and its
/// last [`END_BYTES`] (each byte once, so a file under 2 MiB is hashed whole).
pub fn of_file(file: &File, size: u64) -> io::Result<String> {
    let head = size.min(END_BYTES);
    let tail_start = size.saturating_sub(END_BYTES).max(head);
    let mut hasher = Sha256::new();
    let mut buf = vec![0; END_BYTES as usize];
    for (offset, len) in [(0, head), (tail_start, size - tail_start)] {
        let part = &mut buf[..len as usize];
        file.read_exact_at(part, offset)?;
        hasher.update(&*part);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark_of(bytes: &[u8]) -> String {
        let mut file = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut file, bytes).unwrap();
        of_file(&file, bytes.len() as u64).unwrap()
    }

    #[test]
    fn a_small_file_is_hashed_whole() {
        // SHA-256 of "abc".
        assert_eq!(
            mark_of(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_change_at_either_end_changes_the_mark_one_in_the_middle_does_not() {
        let size = 5 * END_BYTES as usize;
        let original: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mark = mark_of(&original);
        let flipped = |at: usize| {
            let mut bytes = original.clone();
            bytes[at] ^= 1;
            mark_of(&bytes)
        };
        assert_ne!(flipped(0), mark);
        assert_ne!(flipped(END_BYTES as usize - 1), mark);
        assert_ne!(flipped(size - 1), mark);
        assert_ne!(flipped(size - END_BYTES as usize), mark);
        // The middle is what the mark leaves out, by design (its cost).
        assert_eq!(flipped(size / 2), mark);
    }

    #[test]
    fn a_file_shorter_than_its_size_is_an_error() {
        let file = tempfile::tempfile().unwrap();
        let err = of_file(&file, 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
