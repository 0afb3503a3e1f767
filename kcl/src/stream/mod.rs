//! A `futures::Stream` of records for simple consumers, built on a [`Worker`].
//!
//! Checkpoints made through the stream cover only records the reader has taken from it and
//! checkpointed: a record buffered in the stream (or still in the worker) is never covered,
//! and a closed shard is finished (`SHARD_END`, so its children start) only once the reader
//! has checkpointed its last record.

mod processor;
mod taken;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use processor::StreamProcessor;
use taken::{TakenShard, TakenShards};

use crate::{
    CheckpointError, Config, ConfigError, Position, Record, Worker, WorkerError, WorkerHandle,
};

/// One record from a [`RecordStream`], with what it takes to checkpoint it.
#[derive(Debug)]
pub struct StreamRecord {
    /// The shard it came from.
    pub shard_id: Arc<str>,
    /// The record.
    pub record: Record,
    shard: Arc<TakenShard>,
}

impl StreamRecord {
    /// Checkpoints this shard at this record: it and every earlier record of the shard
    /// count as processed. Checkpoint after processing (at-least-once); checkpointing
    /// every N records is much cheaper than every one. The last record of a closed shard
    /// checkpoints `SHARD_END`.
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        self.shard
            .checkpointer
            .checkpoint_at(
                &self.record.sequence_number,
                self.record.sub_sequence_number,
            )
            .await
    }

    /// The shard's checkpointer, bounded by what the reader took from the stream.
    pub fn checkpointer(&self) -> StreamCheckpointer {
        StreamCheckpointer {
            shard: self.shard.clone(),
        }
    }
}

/// Checkpoints one shard of a [`RecordStream`], never beyond the last record of that shard
/// the reader has taken from the stream. Cheap to clone.
///
/// ```no_run
/// # async fn demo(r: kcl::StreamRecord) -> Result<(), kcl::CheckpointError> {
/// // Covers this shard's records taken so far, and nothing still buffered.
/// r.checkpointer().checkpoint().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct StreamCheckpointer {
    shard: Arc<TakenShard>,
}

impl StreamCheckpointer {
    /// The shard.
    pub fn shard_id(&self) -> &str {
        self.shard.checkpointer.shard_id()
    }

    /// Checkpoints the shard at the last record the reader took from the stream (a no-op
    /// when it is checkpointed already).
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        self.shard.checkpoint_taken().await.map(|_| ())
    }

    /// The last checkpoint written.
    pub fn last_checkpoint(&self) -> Position {
        self.shard.checkpointer.last_checkpoint()
    }
}

/// The records of a stream, from every shard this worker holds, as a
/// [`futures::Stream`]. Runs a [`Worker`] in the background; the stream ends when the
/// worker stops. Dropping the stream stops the worker abruptly (use
/// [`handle`](Self::handle)`.graceful_shutdown()` to release the leases first). Records of
/// a shard whose lease was lost are not handed out (the next owner delivers them again).
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn demo(kinesis: aws_sdk_kinesis::Client, dynamodb: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
/// // At-least-once: only what was taken from the stream and processed is checkpointed.
/// let config = kcl::Config::new("my-app", kcl::StreamId::Name("orders".into()));
/// let mut records = kcl::RecordStream::new(config, kinesis, dynamodb)?;
/// let mut n = 0;
/// while let Some(r) = records.next().await {
///     println!("{}: {:?}", r.shard_id, r.record.data);
///     n += 1;
///     if n % 1000 == 0 {
///         records.checkpoint_taken().await?; // every shard, up to what was taken
///     }
/// }
/// # Ok(()) }
/// ```
pub struct RecordStream {
    rx: mpsc::Receiver<Vec<StreamRecord>>,
    buffered: VecDeque<StreamRecord>,
    shards: Arc<TakenShards>,
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
        let shards = Arc::new(TakenShards::default());
        let factory = {
            let (tx, cell, shards) = (tx.clone(), handle_cell.clone(), shards.clone());
            move |shard: &str| StreamProcessor::new(shard, tx.clone(), shards.clone(), cell.clone())
        };
        let worker = Worker::new(config, kinesis, dynamodb, factory)?;
        let handle = worker.handle();
        let _ = handle_cell.set(handle.clone());
        drop(tx);
        let task = tokio::spawn(worker.run());
        Ok(RecordStream {
            rx,
            buffered: VecDeque::new(),
            shards,
            handle,
            task,
        })
    }

    /// The worker's handle (status, graceful shutdown).
    pub fn handle(&self) -> &WorkerHandle {
        &self.handle
    }

    /// Checkpoints every shard held at the last record taken from the stream (records
    /// still buffered are not covered); returns how many shards were checkpointed. A closed
    /// shard whose last record was taken is finished by it, and its children start.
    pub async fn checkpoint_taken(&self) -> Result<usize, CheckpointError> {
        self.shards.checkpoint_all().await
    }
}

impl Stream for RecordStream {
    type Item = StreamRecord;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamRecord>> {
        loop {
            if let Some(r) = self.buffered.pop_front() {
                if !r.shard.checkpointer.lease_valid() {
                    continue;
                }
                r.shard.take(r.record.position());
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
