//! One content being read: its file (while it has one), fingerprints, reader, framer,
//! acknowledgement ledger and counters.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use tokio::time::Instant;

use crate::checkpoint::FileCheckpoint;
use crate::config::PreparedFlow;
use crate::framing::{Framer, Unit};
use crate::identity::{Content, FileId, Fingerprint, HEAD_MAX};
use crate::ledger::Ledger;
use crate::reader::{Line, LineReader};
use crate::stats::FileSummary;

/// What a look at a source's file found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing changed.
    Same,
    /// It changed and still holds the content (it grew, or only its time changed).
    Grew,
    /// It no longer holds the content: truncated, or truncated and refilled.
    Replaced,
}

/// A file being read, or a content whose file is gone.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) key: u64,
    pub(crate) file: Option<(File, FileId)>,
    pub(crate) path: PathBuf,
    /// The file matched the pattern at the last listing.
    pub(crate) matched: bool,
    pub(crate) head: Fingerprint,
    pub(crate) reader: LineReader,
    pub(crate) framer: Framer,
    pub(crate) ledger: Ledger,
    /// Size and modification time at the last look.
    seen: (u64, i64, i64),
    /// When the file last grew (or was opened).
    pub(crate) grew_at: Instant,
    /// A copy of another source's content, not read until that one is truncated: (its key,
    /// the copy's size then).
    pub(crate) parked: Option<(u64, u64)>,
    pub(crate) stats: FileSummary,
}

impl Source {
    /// A source reading `file` from `offset` (acknowledged up to `offset`).
    pub(crate) fn open(
        key: u64,
        file: File,
        path: PathBuf,
        offset: u64,
        flow: &PreparedFlow,
    ) -> io::Result<Source> {
        let metadata = file.metadata()?;
        let size = metadata.len();
        let head = Fingerprint::head(&file, size)?.unwrap_or(Fingerprint::from_bytes(0, &[]));
        let anchor = Fingerprint::anchor(&file, offset)?;
        let tail = match anchor {
            Some(a) => read_at(&file, a.start, a.len)?,
            None => Vec::new(),
        };
        let cap = flow.record_limit + 1;
        let framer = Framer::new(
            flow.multi_line_start.clone(),
            flow.skip_header_lines,
            offset == 0,
            cap,
        );
        let id = FileId::of(&metadata);
        Ok(Source {
            key,
            file: Some((file, id)),
            stats: FileSummary {
                path: path.clone(),
                committed_offset: offset,
                ..FileSummary::default()
            },
            path,
            matched: true,
            head,
            reader: LineReader::new(offset, cap).with_tail(&tail),
            framer,
            ledger: Ledger::new(offset),
            seen: (size, metadata.mtime(), metadata.mtime_nsec()),
            grew_at: Instant::now(),
            parked: None,
        })
    }

    /// The device and inode of its file.
    pub(crate) fn id(&self) -> Option<FileId> {
        self.file.as_ref().map(|(_, id)| *id)
    }

    /// The content as read so far: head, and anchor at the read offset.
    pub(crate) fn content(&self) -> Content {
        Content {
            head: self.head,
            anchor: self.reader.anchor(),
        }
    }

    /// Looks at the file: grown, unchanged, or no longer this content.
    pub(crate) fn check(&mut self) -> io::Result<Check> {
        let Some((file, _)) = &self.file else {
            return Ok(Check::Same);
        };
        let m = file.metadata()?;
        let seen = (m.len(), m.mtime(), m.mtime_nsec());
        if seen == self.seen {
            return Ok(Check::Same);
        }
        if m.len() < self.reader.offset() || !self.content().held_by(file)? {
            return Ok(Check::Replaced);
        }
        if self.head.len < HEAD_MAX && m.len() > self.head.len {
            self.head = Fingerprint::head(file, m.len())?.unwrap_or(self.head);
        }
        if m.len() > self.seen.0 {
            self.grew_at = Instant::now();
        }
        self.seen = seen;
        Ok(Check::Grew)
    }

    /// Whether there is more to read than has been read.
    pub(crate) fn behind(&self) -> bool {
        self.file.is_some() && self.parked.is_none() && self.seen.0 > self.reader.offset()
    }

    /// Reads once and frames what it read; 0 bytes at the end of the file.
    pub(crate) fn read(&mut self, units: &mut Vec<Unit>) -> io::Result<usize> {
        let Some((file, _)) = &self.file else {
            return Ok(0);
        };
        let mut lines = Vec::new();
        let n = self.reader.read(file, &mut lines)?;
        self.seen.0 = self.seen.0.max(self.reader.offset());
        self.stats.bytes_read += n as u64;
        self.frame(lines, units);
        Ok(n)
    }

    /// Hands out what is held back: the record being gathered and, when the file will not
    /// grow any more (`final_line`), its unfinished last line.
    pub(crate) fn flush(&mut self, final_line: bool, units: &mut Vec<Unit>) {
        let partial = if final_line {
            self.reader.take_partial()
        } else {
            None
        };
        self.frame(partial.into_iter().collect(), units);
        self.framer.flush(units);
    }

    fn frame(&mut self, lines: Vec<Line>, units: &mut Vec<Unit>) {
        self.stats.lines_read += lines.len() as u64;
        for line in lines {
            self.framer.push(line, units);
        }
    }

    /// Whether everything read has been handed out and acknowledged.
    pub(crate) fn settled(&self) -> bool {
        self.ledger.is_settled()
            && !self.framer.has_pending()
            && self.reader.line_start() == self.reader.offset()
    }

    /// The checkpoint of this content, if its file is there and holds it at the offset.
    pub(crate) fn checkpoint(&self) -> io::Result<Option<FileCheckpoint>> {
        let Some((file, id)) = &self.file else {
            return Ok(None);
        };
        let offset = self.ledger.committed();
        let Some(anchor) = Fingerprint::anchor(file, offset)? else {
            return Ok(None);
        };
        let content = Content {
            head: self.head,
            anchor,
        };
        Ok(Some(FileCheckpoint {
            path: self.path.clone(),
            id: *id,
            content,
            offset,
        }))
    }
}

fn read_at(file: &File, start: u64, len: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.read_exact_at(&mut buf, start)?;
    Ok(buf)
}
