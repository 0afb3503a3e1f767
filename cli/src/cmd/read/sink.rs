//! Where `read` writes records: stdout, in the chosen format, flushed after each
//! batch (so `--follow` shows records as they come), up to `--limit`.

use std::io::{BufWriter, Stdout, Write};

use crate::error::CliError;
use crate::output::{self, Format};

/// Whether to go on after a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The limit is reached, or the reader of stdout went away.
    Stop,
}

/// Writes records to stdout.
#[derive(Debug)]
pub(crate) struct Sink {
    out: BufWriter<Stdout>,
    format: Format,
    remaining: Option<u64>,
    /// Records written.
    pub(crate) written: u64,
}

impl Sink {
    pub(crate) fn new(format: Format, limit: Option<u64>) -> Sink {
        Sink {
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            format,
            remaining: limit,
            written: 0,
        }
    }

    /// Writes `records` of `shard` (no more than the limit allows) and flushes.
    pub(crate) fn write(&mut self, shard: &str, records: &[kcl::Record]) -> Result<Flow, CliError> {
        match self.write_all(shard, records) {
            Ok(flow) => Ok(flow),
            Err(e) if output::is_closed_pipe(&e) => Ok(Flow::Stop),
            Err(e) => Err(CliError::io("writing to stdout")(e)),
        }
    }

    fn write_all(&mut self, shard: &str, records: &[kcl::Record]) -> std::io::Result<Flow> {
        let mut flow = Flow::Continue;
        for record in records {
            if self.remaining == Some(0) {
                flow = Flow::Stop;
                break;
            }
            output::write_record(&mut self.out, self.format, shard, record)?;
            self.written += 1;
            if let Some(n) = &mut self.remaining {
                *n -= 1;
            }
        }
        self.out.flush()?;
        if self.remaining == Some(0) {
            flow = Flow::Stop;
        }
        Ok(flow)
    }
}
