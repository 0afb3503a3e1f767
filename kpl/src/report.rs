//! What the producer reports: what is outstanding, and what a shutdown could not deliver.

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
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Records failed with [`PutErrorKind::ShutDown`](crate::PutErrorKind::ShutDown), handed back (their handles got the
    /// same error). Records that were in a request still in flight may have been written.
    pub unsent: Vec<Record>,
    /// Whether everything completed before the deadline.
    pub flushed: bool,
}
