//! The application's side: a processor per shard, made by a factory.

use std::future::Future;

use bytes::Bytes;

use crate::{Checkpointer, Position, Record};

/// What a processor is told when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitializeInput {
    /// The shard.
    pub shard_id: String,
    /// Where the lease's checkpoint stands: delivery starts after it.
    pub checkpoint: Position,
    /// A prepared checkpoint left by a previous owner, if any.
    pub pending_checkpoint: Option<Position>,
    /// The application state stored with that prepared checkpoint.
    pub pending_checkpoint_state: Option<Bytes>,
}

/// One batch of records.
#[derive(Clone, Debug)]
pub struct ProcessRecordsInput {
    /// The user records, de-aggregated, in shard order.
    pub records: Vec<Record>,
    /// How far behind the tip of the shard this batch is, as GetRecords reported.
    pub millis_behind_latest: Option<i64>,
    /// Checkpoints this shard.
    pub checkpointer: Checkpointer,
}

/// Processes the records of one shard. One instance per shard lease acquisition; its
/// methods are called one at a time, in order: `initialize`, `process_records` any
/// number of times, then exactly one of `lease_lost`, `shard_ended` or
/// `shutdown_requested` (none when it was never initialized).
///
/// Errors are the processor's to handle: a panic ends this shard's consumer and releases
/// the lease, so processing resumes from the last checkpoint (at-least-once).
///
/// ```
/// use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
///
/// struct Printer;
///
/// impl ShardProcessor for Printer {
///     async fn process_records(&mut self, input: ProcessRecordsInput) {
///         for r in &input.records {
///             println!("{}", String::from_utf8_lossy(&r.data));
///         }
///         // At-least-once: checkpoint after the records are processed.
///         let _ = input.checkpointer.checkpoint().await;
///     }
///
///     async fn shard_ended(&mut self, checkpointer: Checkpointer) {
///         // Must checkpoint, or the children of this shard never start.
///         let _ = checkpointer.checkpoint().await;
///     }
/// }
/// ```
pub trait ShardProcessor: Send + 'static {
    /// Called once before any record.
    fn initialize(&mut self, input: InitializeInput) -> impl Future<Output = ()> + Send {
        let _ = input;
        async {}
    }

    /// Called with each batch of records.
    fn process_records(&mut self, input: ProcessRecordsInput) -> impl Future<Output = ()> + Send;

    /// The lease was lost: another worker has the shard now. Checkpointing is no longer
    /// possible.
    fn lease_lost(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The shard is closed and every record was delivered. The processor **must**
    /// checkpoint (`checkpointer.checkpoint()` records `SHARD_END`); otherwise the shard
    /// is handed to another attempt and its children never start.
    fn shard_ended(&mut self, checkpointer: Checkpointer) -> impl Future<Output = ()> + Send;

    /// The lease is leaving this worker gracefully: the worker is shutting down, or
    /// another worker asked for the lease to balance the load (a graceful hand-off). The
    /// lease is still held, so this is the place for a final checkpoint: the next owner
    /// starts right after it. The lease goes to its next owner once this returns (a
    /// hand-off is forced by the receiver after `graceful_lease_handoff_timeout`).
    fn shutdown_requested(
        &mut self,
        checkpointer: Checkpointer,
    ) -> impl Future<Output = ()> + Send {
        let _ = checkpointer;
        async {}
    }
}

/// Makes one [`ShardProcessor`] per shard. Any `Fn(&str) -> P` closure is a factory.
///
/// ```
/// # use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
/// # struct Counter { shard: String, n: usize }
/// # impl ShardProcessor for Counter {
/// #     async fn process_records(&mut self, i: ProcessRecordsInput) { self.n += i.records.len(); }
/// #     async fn shard_ended(&mut self, c: Checkpointer) { let _ = c.checkpoint().await; }
/// # }
/// fn takes_factory(_: impl kcl::ShardProcessorFactory) {}
/// takes_factory(|shard_id: &str| Counter { shard: shard_id.to_owned(), n: 0 });
/// ```
pub trait ShardProcessorFactory: Send + Sync + 'static {
    /// The processor type.
    type Processor: ShardProcessor;

    /// A processor for `shard_id`.
    fn create(&self, shard_id: &str) -> Self::Processor;
}

impl<F, P> ShardProcessorFactory for F
where
    F: Fn(&str) -> P + Send + Sync + 'static,
    P: ShardProcessor,
{
    type Processor = P;

    fn create(&self, shard_id: &str) -> P {
        self(shard_id)
    }
}
