//! [`terminal_text::clean`] for text that arrives in pieces: an
//! escape sequence or a UTF-8 character split across two reads is held back until complete,
//! so it is neither shown as garbage nor lost.

use super::terminal_text;

/// An unterminated escape longer than this is garbage, not a sequence still arriving.
const MAX_ESCAPE: usize = 64;
/// Longest UTF-8 encoding of one character.
const MAX_UTF8: usize = 4;

#[derive(Debug, Default)]
pub struct CleanStream {
    carry: Vec<u8>,
}

impl CleanStream {
    /// The printable text of `bytes` (and of what was held back before).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.carry.extend_from_slice(bytes);
        let keep = held_back(&self.carry);
        let ready: Vec<u8> = self.carry.drain(..self.carry.len() - keep).collect();
        terminal_text::clean(&String::from_utf8_lossy(&ready))
    }
}

/// How many bytes at the end of `bytes` may still grow into something whole.
fn held_back(bytes: &[u8]) -> usize {
    let escape = bytes
        .iter()
        .rposition(|b| *b == 0x1b)
        .filter(|start| bytes.len() - start <= MAX_ESCAPE && !escape_complete(&bytes[*start..]))
        .map(|start| bytes.len() - start);
    let utf8 = match std::str::from_utf8(&bytes[bytes.len().saturating_sub(MAX_UTF8)..]) {
        // A cut in the middle of the window's first character is not ours to judge.
        Err(err) if err.error_len().is_none() => {
            bytes.len().saturating_sub(MAX_UTF8) + err.valid_up_to()
        }
        _ => bytes.len(),
    };
    escape.unwrap_or(0).max(bytes.len() - utf8)
}

/// `sequence` starts with ESC; true once it is a whole CSI, OSC, charset or 2-byte escape.
fn escape_complete(sequence: &[u8]) -> bool {
    match sequence.get(1) {
        None => false,
        Some(b'[') => sequence[2..].iter().any(|b| (0x40..=0x7e).contains(b)),
        Some(b']') => {
            sequence[2..].contains(&0x07) || sequence[2..].windows(2).any(|w| w == b"\x1b\\")
        }
        Some(b'(' | b')') => sequence.len() >= 3,
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_escapes_and_characters_come_out_whole() {
        let mut stream = CleanStream::default();
        let mut out = String::new();
        for piece in [
            &b"ok \x1b[0"[..],
            b";32mgreen\x1b",
            b"[0m \xe2\x9c",
            b"\x93\r\nlogin: ",
        ] {
            out.push_str(&stream.push(piece));
        }
        assert_eq!(out, "ok green ✓\nlogin: ");
    }
}
