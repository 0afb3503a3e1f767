//! Resuming a flow from its checkpoints after a restart (a crash included).
//!
//! Each checkpoint is looked for in the directory of its last path: first the file with its
//! device and inode that still holds its content (same head, same anchor at the offset),
//! under whatever name it has now (renamed away by rotation while the agent was down: it is
//! finished, then closed); then, for checkpoints whose file was truncated or replaced
//! meanwhile, a file holding a copy of the content (copytruncate's copy). Reading resumes at
//! the checkpoint's offset. A checkpoint found nowhere (deleted, compressed, moved to another
//! directory) is reported as lost in the summary and dropped; files of the pattern that no
//! checkpoint claims appeared while the agent was down and are read from their start.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::checkpoint::FileCheckpoint;
use crate::config::PreparedFlow;
use crate::discovery::{Found, list_dir};
use crate::stats::FileSummary;
use crate::tracker::Tracker;

/// Matches `checkpoints` to files and adds a source for each one found.
pub(crate) fn resume(
    tracker: &mut Tracker,
    flow: &PreparedFlow,
    checkpoints: Vec<FileCheckpoint>,
) -> io::Result<()> {
    let mut unmatched = Vec::new();
    for checkpoint in checkpoints {
        let candidates = untracked(tracker, &checkpoint.path)?;
        let same = candidates.iter().find(|f| f.id == checkpoint.id);
        match same
            .map(|f| open_holding(f, &checkpoint, false))
            .transpose()?
            .flatten()
        {
            Some((file, found)) => tracker.add(file, &found.path, checkpoint.offset, true, flow)?,
            None => unmatched.push(checkpoint),
        }
    }
    for checkpoint in unmatched {
        let mut resumed = false;
        for found in untracked(tracker, &checkpoint.path)? {
            if let Some((file, found)) = open_holding(&found, &checkpoint, true)? {
                tracing::info!(from = %checkpoint.path.display(), to = %found.path.display(), "resuming in a copy");
                tracker.add(file, &found.path, checkpoint.offset, true, flow)?;
                resumed = true;
                break;
            }
        }
        if !resumed {
            tracing::warn!(path = %checkpoint.path.display(), offset = checkpoint.offset,
                "checkpointed file not found again: lines after its checkpoint are lost");
            tracker.finished.push(FileSummary {
                path: checkpoint.path.clone(),
                committed_offset: checkpoint.offset,
                lost: true,
                ..FileSummary::default()
            });
        }
    }
    Ok(())
}

/// Regular files in the checkpoint's directory that no source reads yet.
fn untracked(tracker: &Tracker, path: &Path) -> io::Result<Vec<Found>> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut found = list_dir(dir, |_| true)?;
    found.retain(|f| !tracker.tracks(f.id));
    Ok(found)
}

/// The file, opened, if it holds the checkpoint's content (as the same file, or as a copy).
fn open_holding(
    found: &Found,
    checkpoint: &FileCheckpoint,
    copy: bool,
) -> io::Result<Option<(File, Found)>> {
    let file = match File::open(&found.path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let holds = if copy {
        checkpoint.content.copied_in(&file)?
    } else {
        checkpoint.content.held_by(&file)?
    };
    Ok(holds.then(|| (file, found.clone())))
}
