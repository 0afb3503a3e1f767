//! The files of one flow across rotation. At each poll:
//!
//! 1. every source's file is looked at: a file now shorter than the read offset, or whose
//!    head or anchor fingerprint changed (truncated and refilled), no longer holds its
//!    content. The file gets a new source read from its start, and the old content is
//!    looked for in the directory (copytruncate's copy: same head and anchor, another
//!    inode); if found, it is read on from where it was, else its rest is lost (counted);
//! 2. the directory is listed: files that keep their inode keep their source whatever their
//!    name (rename rotation); new files are read from their start, except a file whose
//!    bytes are a prefix of a file being read (a copy made before the truncation of
//!    copytruncate), which is parked until the original is truncated;
//! 3. a file that no longer matches the pattern is read to its end, its last partial line
//!    sent once it has not grown for `rotatedFileIdleMillis`, and it is closed when all its
//!    records are acknowledged.
//!
//! At the first poll, checkpoints are matched first (see [`crate::resume`]).

use std::fs::File;
use std::io;
use std::path::Path;

use crate::checkpoint::FileCheckpoint;
use crate::config::{InitialPosition, PreparedFlow};
use crate::discovery::{Found, list_dir};
use crate::identity::{ANCHOR_MAX, FileId, Fingerprint};
use crate::source::{Check, Source};
use crate::stats::FileSummary;

/// Every content of one flow.
#[derive(Debug)]
pub(crate) struct Tracker {
    pub(crate) sources: Vec<Source>,
    next_key: u64,
    pub(crate) finished: Vec<FileSummary>,
    /// Checkpoints to match at the first poll; `None` when the flow has none (first start).
    resume: Option<Vec<FileCheckpoint>>,
    polled: bool,
}

impl Tracker {
    pub(crate) fn new(resume: Option<Vec<FileCheckpoint>>) -> Tracker {
        Tracker {
            sources: Vec::new(),
            next_key: 0,
            finished: Vec::new(),
            resume,
            polled: false,
        }
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut Source> {
        self.sources.iter_mut().find(|s| s.key == key)
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    pub(crate) fn tracks(&self, id: FileId) -> bool {
        self.sources.iter().any(|s| s.id() == Some(id))
    }

    /// One look at the files (see the module's description).
    pub(crate) fn poll(&mut self, flow: &PreparedFlow) -> io::Result<()> {
        let fresh = self.resume.is_none();
        if let Some(checkpoints) = self.resume.take() {
            crate::resume::resume(self, flow, checkpoints)?;
        }
        for i in 0..self.sources.len() {
            if self.sources.get_mut(i).map(Source::check).transpose()? == Some(Check::Replaced) {
                self.replaced(i, flow)?;
            }
        }
        let listing = flow.pattern.list()?;
        for source in &mut self.sources {
            let found = listing.iter().find(|f| Some(f.id) == source.id());
            source.matched = found.is_some();
            if let Some(f) = found {
                source.path = f.path.clone();
                source.stats.path = f.path.clone();
            }
        }
        let end = !self.polled && fresh && flow.initial_position == InitialPosition::EndOfFile;
        for found in listing {
            if !self.tracks(found.id) {
                self.discover(&found, flow, end)?;
            }
        }
        self.unpark();
        self.polled = true;
        Ok(())
    }

    /// Source `i`'s file no longer holds its content: the file starts a new source, the
    /// content is looked for elsewhere.
    fn replaced(&mut self, i: usize, flow: &PreparedFlow) -> io::Result<()> {
        let key = self.key();
        let Some(old) = self.sources.get_mut(i) else {
            return Ok(());
        };
        old.stats.truncations += 1;
        let Some((file, _)) = old.file.take() else {
            return Ok(());
        };
        let path = old.path.clone();
        tracing::info!(path = %path.display(), offset = old.reader.offset(), "file truncated or replaced: reading it from its start");
        let fresh = Source::open(key, file, path.clone(), 0, flow)?;
        self.sources.push(fresh);
        self.find_copy(i, &path, flow)
    }

    /// Attaches source `i` (without a file) to a copy of its content, if one is found.
    fn find_copy(&mut self, i: usize, path: &Path, flow: &PreparedFlow) -> io::Result<()> {
        let Some(old) = self.sources.get(i) else {
            return Ok(());
        };
        let (content, key) = (old.content(), old.key);
        let parked: Vec<usize> = (0..self.sources.len())
            .filter(|&j| {
                self.sources
                    .get(j)
                    .is_some_and(|s| s.parked.is_some_and(|(of, _)| of == key))
            })
            .collect();
        for j in parked {
            let copy = self
                .sources
                .get(j)
                .and_then(|s| s.file.as_ref().map(|(f, _)| f));
            if copy.map(|f| content.copied_in(f)).transpose()? == Some(true) {
                let copy = self.sources.remove(j);
                let i = if j < i { i - 1 } else { i };
                self.attach(i, copy.file, copy.path, copy.matched);
                return Ok(());
            }
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        for found in list_dir(dir, |_| true)? {
            if self.tracks(found.id) {
                continue;
            }
            let Ok(file) = File::open(&found.path) else {
                continue;
            };
            if content.copied_in(&file)? {
                let name = found
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let matched = flow.pattern.matches(&name);
                self.attach(i, Some((file, found.id)), found.path, matched);
                return Ok(());
            }
        }
        if let Some(old) = self.sources.get_mut(i) {
            tracing::warn!(path = %old.path.display(), "no copy of the truncated content found: the rest of it is lost");
            old.stats.lost = true;
        }
        Ok(())
    }

    fn attach(
        &mut self,
        i: usize,
        file: Option<(File, FileId)>,
        path: std::path::PathBuf,
        matched: bool,
    ) {
        if let Some(old) = self.sources.get_mut(i) {
            tracing::info!(from = %old.path.display(), to = %path.display(), offset = old.reader.offset(), "reading on in the copy");
            old.file = file;
            old.path = path;
            old.matched = matched;
        }
    }

    /// A file seen for the first time.
    fn discover(&mut self, found: &Found, flow: &PreparedFlow, at_end: bool) -> io::Result<()> {
        let file = match File::open(&found.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let original = self
            .sources
            .iter()
            .find(|s| is_prefix_copy(&file, found.size, s))
            .map(|s| s.key);
        let offset = match (original, at_end) {
            (Some(_), _) => found.size,
            (None, true) => last_line_end(&file, found.size, flow.record_limit as u64)?,
            (None, false) => 0,
        };
        let key = self.key();
        tracing::debug!(path = %found.path.display(), offset, parked = original.is_some(), "new file");
        let mut source = Source::open(key, file, found.path.clone(), offset, flow)?;
        source.parked = original.map(|of| (of, found.size));
        self.sources.push(source);
        Ok(())
    }

    /// A new source at `offset` of `file` (for resumed checkpoints).
    pub(crate) fn add(
        &mut self,
        file: File,
        path: &Path,
        offset: u64,
        matched: bool,
        flow: &PreparedFlow,
    ) -> io::Result<()> {
        let key = self.key();
        tracing::debug!(path = %path.display(), offset, "resuming");
        let mut source = Source::open(key, file, path.to_owned(), offset, flow)?;
        source.matched = matched;
        self.sources.push(source);
        Ok(())
    }

    /// Parked copies whose original is gone or that grew on their own are read as files.
    fn unpark(&mut self) {
        let live: Vec<u64> = self
            .sources
            .iter()
            .filter(|s| s.file.is_some() && s.parked.is_none())
            .map(|s| s.key)
            .collect();
        for source in &mut self.sources {
            if let Some((of, size)) = source.parked {
                let grew = source
                    .file
                    .as_ref()
                    .and_then(|(f, _)| f.metadata().ok())
                    .is_some_and(|m| m.len() > size);
                if grew || !live.contains(&of) {
                    source.parked = None;
                }
            }
        }
    }

    /// Closes what is finished: contents without a file, and files rotated away, once
    /// everything of theirs is acknowledged.
    pub(crate) fn retire(&mut self, finishing: &[u64]) {
        let mut i = 0;
        while let Some(s) = self.sources.get(i) {
            let done = s.settled()
                && (s.file.is_none()
                    || finishing.contains(&s.key)
                    || (s.parked.is_some() && !s.matched));
            if done {
                let mut s = self.sources.remove(i);
                s.stats.committed_offset = s.ledger.committed();
                self.finished.push(s.stats);
            } else {
                i += 1;
            }
        }
    }

    /// The checkpoints of every content that has its file.
    pub(crate) fn checkpoints(&self) -> Vec<FileCheckpoint> {
        let entries = self
            .sources
            .iter()
            .filter(|s| s.parked.is_none())
            .map(|s| s.checkpoint());
        entries.filter_map(|c| c.ok().flatten()).collect()
    }

    /// Every content's counters, finished ones first.
    pub(crate) fn summary(&self) -> Vec<FileSummary> {
        let live = self
            .sources
            .iter()
            .filter(|s| s.parked.is_none())
            .map(|s| FileSummary {
                committed_offset: s.ledger.committed(),
                ..s.stats.clone()
            });
        self.finished.iter().cloned().chain(live).collect()
    }
}

/// Whether `file` (`size` bytes) holds a prefix of what `source`'s file holds now.
fn is_prefix_copy(file: &File, size: u64, source: &Source) -> bool {
    let Some((original, _)) = source.file.as_ref().filter(|_| source.parked.is_none()) else {
        return false;
    };
    let original_size = original.metadata().map(|m| m.len()).unwrap_or(0);
    if source.head.len == 0 || size < source.head.len || size > original_size {
        return false;
    }
    let len = size.min(ANCHOR_MAX);
    let end = |f: &File| Fingerprint::of(f, size - len, len).ok().flatten();
    source.head.holds(file).unwrap_or(false) && end(file).is_some() && end(file) == end(original)
}

/// The offset after the last newline of a file (`END_OF_FILE`), looking back at most
/// `max_back` bytes; a file without a newline there starts at 0 if it is that short, else
/// at its end.
fn last_line_end(file: &File, size: u64, max_back: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut end = size;
    let floor = size.saturating_sub(max_back);
    let mut buf = vec![0u8; 64 * 1024];
    while end > floor {
        let start = end.saturating_sub(buf.len() as u64).max(floor);
        let chunk = buf
            .get_mut(..usize::try_from(end - start).unwrap_or(0))
            .unwrap_or_default();
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(if floor == 0 { 0 } else { size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn end_of_file_starts_after_the_last_complete_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"one\ntwo\npartial").unwrap();
        let file = f.reopen().unwrap();
        assert_eq!(last_line_end(&file, 15, 1000).unwrap(), 8);
        assert_eq!(last_line_end(&file, 8, 1000).unwrap(), 8);
        assert_eq!(last_line_end(&file, 3, 1000).unwrap(), 0);
        assert_eq!(
            last_line_end(&file, 15, 4).unwrap(),
            15,
            "no newline within reach"
        );
        assert_eq!(last_line_end(&file, 0, 4).unwrap(), 0);
    }
}
