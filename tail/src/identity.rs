//! What makes a file the same file: its device and inode, plus fingerprints of its bytes, so
//! that a file truncated and refilled (same inode, new content) or an inode reused by a new
//! file is noticed, and a copy (copytruncate) is recognized by its content.
//!
//! Two fingerprints are kept for each file being read: the **head** (MD5 of its first
//! bytes, up to [`HEAD_MAX`]) and the **anchor** (MD5 of the up to [`ANCHOR_MAX`] bytes
//! just before the read position). A file holds the content we were reading when both
//! still hash the same.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// Bytes of a file's start in its head fingerprint.
pub(crate) const HEAD_MAX: u64 = 1024;
/// Bytes before the read position in the anchor fingerprint.
pub(crate) const ANCHOR_MAX: u64 = 256;

/// Device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl FileId {
    pub(crate) fn of(metadata: &Metadata) -> FileId {
        FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        }
    }
}

/// The MD5 (first 8 bytes) of `len` bytes of a file from `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    pub(crate) start: u64,
    pub(crate) len: u64,
    pub(crate) hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `[start, start + len)`, or `None` if the file is shorter.
    pub(crate) fn of(file: &File, start: u64, len: u64) -> io::Result<Option<Fingerprint>> {
        let Ok(n) = usize::try_from(len) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; n];
        if !read_exact_at(file, &mut buf, start)? {
            return Ok(None);
        }
        Ok(Some(Fingerprint {
            start,
            len,
            hash: hash(&buf),
        }))
    }

    /// The fingerprint of `bytes`, found at `start`.
    pub(crate) fn from_bytes(start: u64, bytes: &[u8]) -> Fingerprint {
        Fingerprint {
            start,
            len: bytes.len() as u64,
            hash: hash(bytes),
        }
    }

    /// The head fingerprint of a file of `size` bytes.
    pub(crate) fn head(file: &File, size: u64) -> io::Result<Option<Fingerprint>> {
        Fingerprint::of(file, 0, size.min(HEAD_MAX))
    }

    /// The anchor fingerprint at `offset`.
    pub(crate) fn anchor(file: &File, offset: u64) -> io::Result<Option<Fingerprint>> {
        let len = offset.min(ANCHOR_MAX);
        Fingerprint::of(file, offset - len, len)
    }

    /// Whether `file` still has these bytes at this place.
    pub(crate) fn holds(&self, file: &File) -> io::Result<bool> {
        Ok(Fingerprint::of(file, self.start, self.len)? == Some(*self))
    }
}

/// What we know of the content being read: the head and the anchor at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Content {
    pub(crate) head: Fingerprint,
    pub(crate) anchor: Fingerprint,
}

impl Content {
    /// The content of `file` at `offset` (`None` if it is shorter than `offset`).
    #[cfg(test)]
    pub(crate) fn at(file: &File, size: u64, offset: u64) -> io::Result<Option<Content>> {
        let (Some(head), Some(anchor)) = (
            Fingerprint::head(file, size)?,
            Fingerprint::anchor(file, offset)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(Content { head, anchor }))
    }

    /// Whether `file` holds this content. A head of zero bytes (the file was empty) says
    /// nothing, so it only matches when the anchor is not empty either or the file is empty.
    pub(crate) fn held_by(&self, file: &File) -> io::Result<bool> {
        Ok(self.head.holds(file)? && self.anchor.holds(file)?)
    }

    /// Whether `file` (not the file this content was read from) is a copy of it: the same
    /// non-empty head and anchor.
    pub(crate) fn copied_in(&self, file: &File) -> io::Result<bool> {
        Ok(self.head.len > 0 && self.held_by(file)?)
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let digest = Md5::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(first)
}

/// Fills `buf` from `offset`; `false` if the file ends first.
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<bool> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf = buf.get_mut(n..).unwrap_or_default();
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        let reopened = f.reopen().unwrap();
        (f, reopened)
    }

    #[test]
    fn content_survives_growth_but_not_truncate_and_refill() {
        let (mut f, read) = file(b"first line\nsecond line\n");
        let content = Content::at(&read, 23, 11).unwrap().unwrap();
        f.write_all(b"third\n").unwrap();
        assert!(
            content.held_by(&read).unwrap(),
            "appending keeps the content"
        );
        // Truncated and refilled past the offset with different bytes: noticed.
        std::fs::write(f.path(), b"other line\nmore and more lines\n").unwrap();
        assert!(!content.held_by(&read).unwrap());
        // Truncated below the offset: noticed.
        std::fs::write(f.path(), b"x").unwrap();
        assert!(!content.held_by(&read).unwrap());
    }

    #[test]
    fn same_header_different_data_is_told_apart_by_the_anchor() {
        let header = b"time,host,message\n".repeat(100);
        let (_a, a) = file(&[header.as_slice(), b"1,a,old\n"].concat());
        let (_b, b) = file(&[header.as_slice(), b"2,b,new\n"].concat());
        let size = header.len() as u64 + 8;
        let content = Content::at(&a, size, size).unwrap().unwrap();
        assert!(content.head.len == HEAD_MAX);
        assert!(!content.copied_in(&b).unwrap());
        let (_c, c) = file(&[header.as_slice(), b"1,a,old\nnext\n"].concat());
        assert!(
            content.copied_in(&c).unwrap(),
            "a copy that grew is still a copy"
        );
    }

    #[test]
    fn an_empty_head_is_no_evidence_of_a_copy() {
        let (_a, a) = file(b"");
        let content = Content::at(&a, 0, 0).unwrap().unwrap();
        let (_b, b) = file(b"anything\n");
        assert!(!content.copied_in(&b).unwrap());
        assert!(
            Content::at(&a, 0, 5).unwrap().is_none(),
            "offset past the end"
        );
    }
}
