//! Records that were not written: counted, the first few reasons shown on stderr, and
//! each one's data written as a line to `--failed FILE` (input lines come out as they
//! went in, so the file can be fed back: `kinesis produce S < FILE`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use super::input::Origin;
use super::progress::Counts;
use crate::error::CliError;

/// Reasons shown on stderr before the rest are only counted.
const SHOWN: u64 = 10;

/// Where failed records go.
#[derive(Debug)]
pub(crate) struct Failed {
    file: Option<Mutex<BufWriter<File>>>,
    path: Option<String>,
    counts: Arc<Counts>,
}

impl Failed {
    /// Creates (truncates) `path` now, so a path that cannot be written is said at once.
    pub(crate) fn create(path: Option<&Path>, counts: Arc<Counts>) -> Result<Failed, CliError> {
        let file = match path {
            Some(p) => {
                let f =
                    File::create(p).map_err(CliError::io(format!("creating {}", p.display())))?;
                Some(Mutex::new(BufWriter::new(f)))
            }
            None => None,
        };
        Ok(Failed {
            file,
            path: path.map(|p| p.display().to_string()),
            counts,
        })
    }

    /// The file's path, if any.
    pub(crate) fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Records that the item from `origin` with `data` was not written, and why.
    pub(crate) fn record(&self, data: &[u8], origin: &Origin, why: &dyn std::fmt::Display) {
        let n = self.counts.failed.fetch_add(1, Ordering::Relaxed);
        if n < SHOWN {
            eprintln!("kinesis produce: {origin}: not written: {why}");
        } else if n == SHOWN {
            eprintln!("kinesis produce: more records failed; only counting them now");
        }
        if let Some(file) = &self.file {
            let mut out = file.lock().unwrap_or_else(PoisonError::into_inner);
            let written = out.write_all(data).and_then(|()| out.write_all(b"\n"));
            if let Err(e) = written
                && n < SHOWN
            {
                let path = self.path.as_deref().unwrap_or("?");
                eprintln!("kinesis produce: cannot write to {path}: {e}");
            }
        }
    }

    /// Flushes the file.
    pub(crate) fn finish(&self) -> Result<(), CliError> {
        if let Some(file) = &self.file {
            let mut out = file.lock().unwrap_or_else(PoisonError::into_inner);
            out.flush().map_err(CliError::io(format!(
                "writing {}",
                self.path.as_deref().unwrap_or("?")
            )))?;
        }
        Ok(())
    }
}
