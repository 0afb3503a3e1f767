//! Reading lines from a file at an offset, in bounded memory: a line longer than the record
//! limit keeps only its first bytes (the rest is skipped up to its newline), so no line,
//! however long, is ever held whole.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::identity::{ANCHOR_MAX, Fingerprint};

/// Bytes read from a file per call.
const CHUNK: usize = 64 * 1024;

/// One line: its byte range in the file and its bytes (with the newline, as the Agent sends
/// them), at most the reader's cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) data: Vec<u8>,
    /// Bytes were dropped (the line was longer than the cap).
    pub(crate) overflow: bool,
}

/// A line reader over one file's content.
#[derive(Debug)]
pub(crate) struct LineReader {
    /// The next byte to read.
    offset: u64,
    /// Where the unfinished line started.
    line_start: u64,
    partial: Vec<u8>,
    overflow: bool,
    cap: usize,
    chunk: Vec<u8>,
    /// The last bytes read (up to [`ANCHOR_MAX`]), for the anchor fingerprint.
    tail: Vec<u8>,
}

impl LineReader {
    /// A reader from `offset` keeping at most `cap` bytes of a line.
    pub(crate) fn new(offset: u64, cap: usize) -> LineReader {
        LineReader {
            offset,
            line_start: offset,
            partial: Vec::new(),
            overflow: false,
            cap,
            chunk: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// The same reader knowing the bytes just before its offset (read by the caller).
    pub(crate) fn with_tail(mut self, tail: &[u8]) -> LineReader {
        self.remember(tail);
        self
    }

    /// The fingerprint of the bytes just before the offset, as they were read.
    pub(crate) fn anchor(&self) -> Fingerprint {
        Fingerprint::from_bytes(self.offset - self.tail.len() as u64, &self.tail)
    }

    fn remember(&mut self, bytes: &[u8]) {
        let max = usize::try_from(ANCHOR_MAX).unwrap_or(256);
        if bytes.len() >= max {
            self.tail.clear();
            self.tail
                .extend_from_slice(bytes.get(bytes.len() - max..).unwrap_or_default());
            return;
        }
        self.tail.extend_from_slice(bytes);
        let excess = self.tail.len().saturating_sub(max);
        self.tail.drain(..excess);
    }

    /// The next byte to read.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the unfinished line (if any) started: everything before is in lines handed out.
    pub(crate) fn line_start(&self) -> u64 {
        self.line_start
    }

    /// Reads once (at most 64 KiB) and appends the complete lines to `out`; returns the bytes
    /// read, 0 at the end of the file.
    pub(crate) fn read(&mut self, file: &File, out: &mut Vec<Line>) -> io::Result<usize> {
        self.chunk.resize(CHUNK, 0);
        let n = loop {
            match file.read_at(&mut self.chunk, self.offset) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        let chunk = std::mem::take(&mut self.chunk);
        let read = chunk.get(..n).unwrap_or_default();
        self.remember(read);
        self.split(read, out);
        self.chunk = chunk;
        Ok(n)
    }

    fn split(&mut self, mut bytes: &[u8], out: &mut Vec<Line>) {
        while !bytes.is_empty() {
            let (piece, rest, complete) = match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (
                    bytes.get(..=i).unwrap_or_default(),
                    bytes.get(i + 1..).unwrap_or_default(),
                    true,
                ),
                None => (bytes, &[][..], false),
            };
            self.keep(piece);
            self.offset += piece.len() as u64;
            if complete {
                out.push(self.finish());
            }
            bytes = rest;
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        let room = self.cap.saturating_sub(self.partial.len());
        if piece.len() > room {
            self.overflow = true;
        }
        self.partial
            .extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
    }

    fn finish(&mut self) -> Line {
        let line = Line {
            start: self.line_start,
            end: self.offset,
            data: std::mem::take(&mut self.partial),
            overflow: std::mem::take(&mut self.overflow),
        };
        self.line_start = self.offset;
        line
    }

    /// The unfinished last line, as a line (for a file that will not grow any more).
    pub(crate) fn take_partial(&mut self) -> Option<Line> {
        (self.offset > self.line_start).then(|| self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(reader: &mut LineReader, file: &File) -> Vec<Line> {
        let mut out = Vec::new();
        while reader.read(file, &mut out).unwrap() > 0 {}
        out
    }

    #[test]
    fn lines_carry_their_ranges_and_partial_lines_wait() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"one\ntwo\nthr").unwrap();
        let file = f.reopen().unwrap();
        let mut reader = LineReader::new(0, 100);
        let lines = read_all(&mut reader, &file);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[1].start, lines[1].end, lines[1].data.as_slice()),
            (4, 8, &b"two\n"[..])
        );
        assert_eq!((reader.line_start(), reader.offset()), (8, 11));
        f.write_all(b"ee\n").unwrap();
        let lines = read_all(&mut reader, &file);
        assert_eq!(
            lines,
            vec![Line {
                start: 8,
                end: 14,
                data: b"three\n".to_vec(),
                overflow: false
            }]
        );
        assert_eq!(reader.take_partial(), None);
    }

    #[test]
    fn a_line_longer_than_the_cap_is_kept_short_and_flagged() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let long = vec![b'x'; 200_000];
        f.write_all(&long).unwrap();
        f.write_all(b"\nnext\nlast").unwrap();
        let file = f.reopen().unwrap();
        let mut reader = LineReader::new(0, 10);
        let lines = read_all(&mut reader, &file);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].overflow);
        assert_eq!(lines[0].data.len(), 10);
        assert_eq!(lines[0].end, 200_001);
        assert_eq!(lines[1].data, b"next\n");
        let anchor = reader.anchor();
        assert_eq!((anchor.start, anchor.len), (200_010 - 256, 256));
        assert!(anchor.holds(&file).unwrap());
        let last = reader.take_partial().unwrap();
        assert_eq!(
            (last.data.as_slice(), last.start, last.end),
            (&b"last"[..], 200_006, 200_010)
        );
    }
}
