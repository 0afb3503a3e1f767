//! Errors of the producer: typed, with `is_retryable()`, carrying the record back.

mod code;

pub use code::{ErrorClass, ErrorCode};

use kinesis_agg::{HashKeyError, RecordError};

use crate::record::{AttemptError, Attempts, Record};

/// Why a record cannot be put at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Stream names are 1 to 128 characters of `[a-zA-Z0-9_.-]`.
    #[error("invalid stream name {0:?}")]
    StreamName(String),
    /// The partition key is empty or longer than 256 characters.
    #[error("{0}")]
    PartitionKey(#[from] RecordError),
    /// The explicit hash key is not a decimal number in [0, 2^128 - 1].
    #[error("{0}")]
    ExplicitHashKey(#[from] HashKeyError),
    /// Data + partition key exceed `max_user_record_size`.
    #[error("record of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Data + partition key bytes.
        size: usize,
        /// The configured `max_user_record_size`.
        limit: usize,
    },
}

/// What went wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutErrorKind {
    /// The record is invalid; nothing was sent.
    #[error("invalid record: {0}")]
    Validation(#[from] ValidationError),
    /// `try_put` found the outstanding records or bytes at their bound.
    #[error("the producer is at its outstanding records/bytes bound")]
    Backpressure,
    /// The record's TTL passed before it could be written.
    #[error("record expired after its TTL")]
    Expired,
    /// The shard throttled it and `fail_if_throttled` is set.
    #[error("throttled (fail_if_throttled)")]
    Throttled,
    /// The stream does not exist.
    #[error("stream not found")]
    StreamNotFound,
    /// Kinesis refused it with an error that retrying cannot fix.
    #[error("service error {}: {}", .0.code.as_str(), .0.message)]
    Service(AttemptError),
    /// The producer is shut down, or shut down before the record was written.
    #[error("producer shut down")]
    ShutDown,
}

/// A record that was not written, handed back with its attempts.
///
/// ```
/// # async fn demo(producer: kpl::Producer) {
/// let err = producer.put(kpl::Record::new("orders", "", "no key")).await.unwrap_err();
/// assert!(matches!(err.kind, kpl::PutErrorKind::Validation(_)));
/// assert!(!err.is_retryable());
/// let record = err.record; // nothing is lost
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (stream {}, partition key {:?}, {} attempts)", record.stream, record.partition_key, attempts.len())]
pub struct PutError {
    /// What went wrong.
    pub kind: PutErrorKind,
    /// The record, unchanged.
    pub record: Record,
    /// The attempts made (empty when nothing was sent).
    pub attempts: Attempts,
}

impl PutError {
    pub(crate) fn new(kind: PutErrorKind, record: Record, attempts: Attempts) -> PutError {
        PutError {
            kind,
            record,
            attempts,
        }
    }

    /// Whether putting the same record again may succeed (backpressure, expiry, throttling,
    /// a shut-down producer replaced by a new one); validation and permanent service errors
    /// will not.
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            PutErrorKind::Backpressure
            | PutErrorKind::Expired
            | PutErrorKind::Throttled
            | PutErrorKind::ShutDown => true,
            PutErrorKind::Service(e) => e.code.is_retryable(),
            PutErrorKind::Validation(_) | PutErrorKind::StreamNotFound => false,
        }
    }
}
