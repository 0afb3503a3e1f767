//! What the producer reports: what is outstanding, and what a shutdown could not deliver.

use std::sync::Arc;
use std::time::Duration;

use crate::record::Record;

/// What is put and not yet completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outstanding {
    /// User records.
    pub records: usize,
    /// Their bytes as counted against `max_outstanding_bytes`: data + partition key +
    /// [`RECORD_OVERHEAD_BYTES`](crate::RECORD_OVERHEAD_BYTES) each.
    pub bytes: usize,

    /// Age of the oldest one (updated every 10 ms), `None` when there is none.
    pub oldest_age: Option<Duration>,
}

/// What [`Producer::shutdown`](crate::Producer::shutdown) could not deliver.
///
/// ```no_run
/// # async fn demo(producer: kpl::Producer) {
/// let report = producer.shutdown(std::time::Duration::from_secs(10)).await;
/// for record in &report.unsent {
///     // never written (or in a request still in flight: perhaps written)
/// }
/// for written in &report.unverified {
///     // written to written.shard_id, but a KCL-style consumer may drop it there
/// }
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Records failed with [`PutErrorKind::ShutDown`](crate::PutErrorKind::ShutDown),
    /// handed back in put order (their handles got the same error), including those put
    /// and not yet taken in by their stream's pipeline. Records that were in a request
    /// still in flight may have been written.
    pub unsent: Vec<Record>,
    /// Records written to a shard other than the one predicted, whose hash range the
    /// producer could not check against a fresh shard map before the deadline: a consumer
    /// applying the KCL's hash range rule may drop them there. Their handles got
    /// [`PutErrorKind::ShutDown`](crate::PutErrorKind::ShutDown).
    pub unverified: Vec<UnverifiedRecord>,
    /// Whether everything completed before the deadline.
    pub flushed: bool,
}

/// A record written, but not verified to belong where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedRecord {
    /// The record.
    pub record: Record,
    /// The shard it was written to.
    pub shard_id: Arc<str>,
    /// The sequence number of the Kinesis record carrying it.
    pub sequence_number: Arc<str>,
}
