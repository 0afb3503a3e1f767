//! A `futures::Stream` of records for simple consumers, built on a [`Worker`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::{
    CheckpointError, Checkpointer, Config, ConfigError, ProcessRecordsInput, Record,
    ShardProcessor, Worker, WorkerError, WorkerHandle,
};

/// One record from a [`RecordStream`], with what it takes to checkpoint it.
///
/// Dropping it marks it handled: at the end of a closed shard, `SHARD_END` is
/// checkpointed once every record of the shard was dropped, so the children start.
#[derive(Debug)]
pub struct StreamRecord {
    /// The shard it came from.
    pub shard_id: Arc<str>,
    /// The record.
    pub record: Record,
    checkpointer: Checkpointer,
    _outstanding: Outstanding,
}

impl StreamRecord {
    /// Checkpoints this shard at this record: it and every earlier record of the shard
    /// count as processed. Checkpoint after processing (at-least-once); checkpointing
    /// every N records is much cheaper than every one.
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        self.checkpointer
            .checkpoint_at(
                &self.record.sequence_number,
                self.record.sub_sequence_number,
            )
            .await
    }

    /// The shard's checkpointer.
    pub fn checkpointer(&self) -> &Checkpointer {
        &self.checkpointer
    }
}

/// Records of a shard handed out and not dropped yet.
#[derive(Debug, Default)]
struct Tracker {
    outstanding: AtomicUsize,
    drained: Notify,
}

#[derive(Debug)]
struct Outstanding(Arc<Tracker>);

impl Outstanding {
    fn new(tracker: &Arc<Tracker>) -> Self {
        tracker.outstanding.fetch_add(1, Ordering::AcqRel);
        Outstanding(tracker.clone())
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        if self.0.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// The records of a stream, from every shard this worker holds, as a
/// [`futures::Stream`]. Runs a [`Worker`] in the background; the stream ends when the
/// worker stops. Dropping the stream stops the worker abruptly (use
/// [`handle`](Self::handle)`.graceful_shutdown()` to release the leases first).
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn demo(kinesis: aws_sdk_kinesis::Client, dynamodb: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let config = kcl::Config::new("my-app", kcl::StreamId::Name("orders".into()));
/// let mut records = kcl::RecordStream::new(config, kinesis, dynamodb)?;
/// let mut n = 0;
/// while let Some(r) = records.next().await {
///     println!("{}: {:?}", r.shard_id, r.record.data);
///     n += 1;
///     if n % 1000 == 0 {
///         r.checkpoint().await?; // at-least-once: after processing
///     }
/// }
/// # Ok(()) }
/// ```
pub struct RecordStream {
    rx: mpsc::Receiver<Vec<StreamRecord>>,
    buffered: VecDeque<StreamRecord>,
    handle: WorkerHandle,
    task: JoinHandle<Result<(), WorkerError>>,
}

impl std::fmt::Debug for RecordStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("buffered", &self.buffered.len())
            .finish_non_exhaustive()
    }
}

impl Drop for RecordStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordStream {
    /// Starts a worker for `config` and streams its records (at most a few batches are
    /// buffered ahead of the reader). Must be called within a Tokio runtime.
    pub fn new(
        config: Config,
        kinesis: aws_sdk_kinesis::Client,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Result<RecordStream, ConfigError> {
        let (tx, rx) = mpsc::channel(4);
        let handle_cell: Arc<OnceLock<WorkerHandle>> = Arc::new(OnceLock::new());
        let factory = {
            let (tx, cell) = (tx.clone(), handle_cell.clone());
            move |shard: &str| StreamProcessor {
                shard: Arc::from(shard),
                tx: tx.clone(),
                tracker: Arc::new(Tracker::default()),
                handle: cell.clone(),
            }
        };
        let worker = Worker::new(config, kinesis, dynamodb, factory)?;
        let handle = worker.handle();
        let _ = handle_cell.set(handle.clone());
        drop(tx);
        let task = tokio::spawn(worker.run());
        Ok(RecordStream {
            rx,
            buffered: VecDeque::new(),
            handle,
            task,
        })
    }

    /// The worker's handle (status, graceful shutdown).
    pub fn handle(&self) -> &WorkerHandle {
        &self.handle
    }
}

impl Stream for RecordStream {
    type Item = StreamRecord;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamRecord>> {
        loop {
            if let Some(r) = self.buffered.pop_front() {
                return Poll::Ready(Some(r));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.buffered.extend(batch),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

struct StreamProcessor {
    shard: Arc<str>,
    tx: mpsc::Sender<Vec<StreamRecord>>,
    tracker: Arc<Tracker>,
    handle: Arc<OnceLock<WorkerHandle>>,
}

impl ShardProcessor for StreamProcessor {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let batch: Vec<StreamRecord> = input
            .records
            .into_iter()
            .map(|record| StreamRecord {
                shard_id: self.shard.clone(),
                record,
                checkpointer: input.checkpointer.clone(),
                _outstanding: Outstanding::new(&self.tracker),
            })
            .collect();
        // A reader that stopped reading must not hold a graceful shutdown up: the batch
        // is then dropped undelivered (it is after the last checkpoint, so it comes again).
        match self.handle.get() {
            Some(handle) => {
                tokio::select! {
                    _ = self.tx.send(batch) => {}
                    () = handle.shutdown_requested() => {}
                }
            }
            None => {
                let _ = self.tx.send(batch).await;
            }
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let drained = async {
            loop {
                let drained = self.tracker.drained.notified();
                if self.tracker.outstanding.load(Ordering::Acquire) == 0 {
                    break;
                }
                drained.await;
            }
        };
        let stopping = async {
            match self.handle.get() {
                Some(h) => h.shutdown_requested().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = drained => {}
            // Not all records of the shard were handled: SHARD_END is not recorded and
            // the shard is read again from its last checkpoint later.
            () = stopping => return,
        }
        if let Err(e) = checkpointer.checkpoint().await {
            tracing::warn!(shard = %self.shard, error = %e, "SHARD_END checkpoint failed");
        }
    }
}
