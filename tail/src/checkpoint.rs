//! The checkpoint file: for each flow, each file's identity (device, inode, head and anchor
//! fingerprints), its last path and the offset up to which every line's records are
//! acknowledged. Written atomically (a temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves the old file or the new one, never a mix; held under an
//! exclusive lock so two agents cannot share it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::identity::{Content, FileId};

/// Version of the file's layout.
const VERSION: u32 = 1;

/// Where one file's content was acknowledged up to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileCheckpoint {
    pub(crate) path: PathBuf,
    pub(crate) id: FileId,
    /// The head fingerprint and the anchor at `offset`.
    pub(crate) content: Content,
    pub(crate) offset: u64,
}

/// Every flow's checkpoints, by flow key.
pub(crate) type Checkpoints = BTreeMap<String, Vec<FileCheckpoint>>;

#[derive(Debug, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    flows: Checkpoints,
}

/// The checkpoint file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing or locking failed.
    #[error("checkpoint file {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The file is not a checkpoint file of this version.
    #[error("checkpoint file {} is not readable ({message}); move it away to start over", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another agent holds the file.
    #[error("checkpoint file {} is in use by another agent", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
}

impl CheckpointError {
    /// I/O errors may pass (a full disk freed); a corrupt or locked file needs a person.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CheckpointError::Io { .. })
    }
}

/// The open checkpoint file (locked while this lives).
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    _lock: File,
}

impl Store {
    /// Opens (creating its directory) and locks `path`; returns the checkpoints in it.
    pub(crate) fn open(path: &Path) -> Result<(Store, Checkpoints), CheckpointError> {
        let io = |e: std::io::Error| CheckpointError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(path))
            .map_err(io)?;
        if lock.try_lock().is_err() {
            return Err(CheckpointError::Locked {
                path: path.to_owned(),
            });
        }
        let checkpoints = match std::fs::read(path) {
            Ok(bytes) => parse(path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Checkpoints::new(),
            Err(e) => return Err(io(e)),
        };
        Ok((
            Store {
                path: path.to_owned(),
                _lock: lock,
            },
            checkpoints,
        ))
    }

    /// Replaces the file with `checkpoints`, atomically and durably.
    pub(crate) fn save(&self, checkpoints: &Checkpoints) -> Result<(), CheckpointError> {
        let io = |e: std::io::Error| CheckpointError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let on_disk = OnDisk {
            version: VERSION,
            flows: checkpoints.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&on_disk).map_err(|e| io(std::io::Error::other(e)))?;
        let temporary = sibling(&self.path, ".tmp");
        let mut file = File::create(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Checkpoints, CheckpointError> {
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.to_owned(),
        message,
    };
    let on_disk: OnDisk = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if on_disk.version != VERSION {
        return Err(corrupt(format!(
            "version {} (this agent writes {VERSION})",
            on_disk.version
        )));
    }
    Ok(on_disk.flows)
}

fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Fingerprint;

    fn entry(offset: u64) -> FileCheckpoint {
        let fp = Fingerprint {
            start: 0,
            len: 3,
            hash: 7,
        };
        FileCheckpoint {
            path: "/var/log/a.log".into(),
            id: FileId { dev: 1, ino: 2 },
            content: Content {
                head: fp,
                anchor: fp,
            },
            offset,
        }
    }

    #[test]
    fn saved_checkpoints_read_back_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/checkpoints.json");
        let (store, empty) = Store::open(&path).unwrap();
        assert!(empty.is_empty());
        let mut all = Checkpoints::new();
        all.insert("kinesis:s:/var/log/*.log".into(), vec![entry(10)]);
        store.save(&all).unwrap();
        all.insert("kinesis:s:/var/log/*.log".into(), vec![entry(20)]);
        store.save(&all).unwrap();
        assert!(!sibling(&path, ".tmp").exists());
        drop(store);
        let (_store, read) = Store::open(&path).unwrap();
        assert_eq!(read, all);
    }

    #[test]
    fn a_second_agent_is_refused_and_garbage_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let (_held, _) = Store::open(&path).unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(CheckpointError::Locked { .. })
        ));
        let other = dir.path().join("d.json");
        std::fs::write(
            &other,
            b"{\"version\": 1, \"flows\": {\"x\": [{\"path\": 3}]}}",
        )
        .unwrap();
        let err = Store::open(&other).unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }));
        assert!(!err.is_retryable());
        std::fs::write(&other, b"{\"version\": 9, \"flows\": {}}").unwrap();
        assert!(matches!(
            Store::open(&other),
            Err(CheckpointError::Corrupt { .. })
        ));
    }
}
