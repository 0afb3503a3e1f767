//! The shard processor of `consume`: writes each batch to stdout, then checkpoints the
//! last record written (never one that was not written), so a crash repeats records
//! but never skips one.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kcl::{Checkpointer, ProcessRecordsInput, SequenceNumber, ShardProcessor};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::output::{self, Format};

/// Why the consumer stops on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `--limit` records were written.
    Limit,
    /// The reader of stdout went away.
    StdoutClosed,
    /// stdout failed otherwise.
    OutputFailed(String),
}

/// What the processors of one worker share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) format: Format,
    /// Records still to write under `--limit`.
    remaining: Option<AtomicU64>,
    /// Checkpoint after this many records written (1: after every batch).
    checkpoint_every: u64,
    /// Records written.
    pub(crate) written: AtomicU64,
    /// When the last record was written (milliseconds after `started`).
    last_write_ms: AtomicU64,
    started: Instant,
    stop: watch::Sender<Option<Stop>>,
}

impl Shared {
    pub(crate) fn new(format: Format, limit: Option<u64>, checkpoint_every: u64) -> Shared {
        Shared {
            format,
            remaining: limit.map(AtomicU64::new),
            checkpoint_every: checkpoint_every.max(1),
            written: AtomicU64::new(0),
            last_write_ms: AtomicU64::new(0),
            started: Instant::now(),
            stop: watch::channel(None).0,
        }
    }

    /// Takes up to `n` records of what the limit allows.
    fn reserve(&self, n: usize) -> usize {
        let Some(remaining) = &self.remaining else {
            return n;
        };
        let wanted = u64::try_from(n).unwrap_or(u64::MAX);
        let mut got = 0;
        let _ = remaining.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            got = left.min(wanted);
            Some(left - got)
        });
        usize::try_from(got).unwrap_or(n)
    }

    fn limit_reached(&self) -> bool {
        self.remaining
            .as_ref()
            .is_some_and(|r| r.load(Ordering::Acquire) == 0)
    }

    /// Asks the consumer to stop (the first reason counts).
    pub(crate) fn stop(&self, why: Stop) {
        self.stop.send_if_modified(|s| {
            let first = s.is_none();
            if first {
                *s = Some(why);
            }
            first
        });
    }

    /// Watches the stop reason.
    pub(crate) fn stopped(&self) -> watch::Receiver<Option<Stop>> {
        self.stop.subscribe()
    }

    /// How long since a record was last written (since start if none was).
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        let last = std::time::Duration::from_millis(self.last_write_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn wrote(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.written.fetch_add(n, Ordering::Relaxed);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_write_ms.store(now, Ordering::Relaxed);
    }
}

/// One shard's processor.
#[derive(Debug)]
pub(crate) struct Printer {
    shard: Arc<str>,
    shared: Arc<Shared>,
    /// The last record written: what a checkpoint may cover.
    last_written: Option<(SequenceNumber, u64)>,
    /// Records written since the last checkpoint.
    unsaved: u64,
    /// Whether every record delivered was written (else SHARD_END must not be recorded).
    complete: bool,
}

impl Printer {
    pub(crate) fn new(shard: &str, shared: Arc<Shared>) -> Printer {
        Printer {
            shard: Arc::from(shard),
            shared,
            last_written: None,
            unsaved: 0,
            complete: true,
        }
    }

    fn write(&self, records: &[kcl::Record]) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
        for r in records {
            output::write_record(&mut out, self.shared.format, &self.shard, r)?;
        }
        out.flush()
    }

    async fn checkpoint(&mut self, checkpointer: &Checkpointer) {
        let Some((seq, sub)) = &self.last_written else {
            return;
        };
        match checkpointer.checkpoint_at(seq, *sub).await {
            Ok(()) => self.unsaved = 0,
            Err(e) => eprintln!("kinesis consume: checkpoint of {} failed: {e}", self.shard),
        }
    }
}

impl ShardProcessor for Printer {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        if self.shared.stop.borrow().is_some() {
            self.complete = false;
            return;
        }
        let take = self.shared.reserve(input.records.len());
        let records = input.records.get(..take).unwrap_or_default();
        // stdout may block (a slow reader): let the runtime move other tasks meanwhile.
        if let Err(e) = tokio::task::block_in_place(|| self.write(records)) {
            self.complete = false;
            self.shared.stop(if output::is_closed_pipe(&e) {
                Stop::StdoutClosed
            } else {
                Stop::OutputFailed(e.to_string())
            });
            return;
        }
        self.complete &= take == input.records.len();
        if let Some(last) = records.last() {
            self.last_written = Some((last.sequence_number.clone(), last.sub_sequence_number));
            self.unsaved += u64::try_from(take).unwrap_or(u64::MAX);
            self.shared.wrote(take);
        }
        if self.unsaved >= self.shared.checkpoint_every {
            self.checkpoint(&input.checkpointer).await;
        }
        if self.shared.limit_reached() {
            self.shared.stop(Stop::Limit);
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        if self.complete {
            // Records SHARD_END, so the children start.
            if let Err(e) = checkpointer.checkpoint().await {
                eprintln!(
                    "kinesis consume: SHARD_END checkpoint of {} failed: {e}",
                    self.shard
                );
            }
        } else {
            self.checkpoint(&checkpointer).await;
        }
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        if self.unsaved > 0 {
            self.checkpoint(&checkpointer).await;
        }
    }
}
