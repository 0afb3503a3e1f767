//! A user record as delivered to a processor.

use std::time::SystemTime;

use bytes::Bytes;
use bytestring::ByteString;

use crate::{Position, SequenceNumber};

/// One user record: a plain Kinesis record, or one record out of a KPL aggregate (then
/// every record of the aggregate shares the Kinesis sequence number and is told apart by
/// its sub-sequence number). Data and keys are slices of the GetRecords response, never
/// copies.
///
/// ```
/// use kcl::{Position, Record, SequenceNumber};
/// let r = Record {
///     sequence_number: SequenceNumber::parse("42").unwrap(),
///     sub_sequence_number: 3,
///     partition_key: "user-1".into(),
///     explicit_hash_key: None,
///     data: bytes::Bytes::from_static(b"hello"),
///     approximate_arrival_timestamp: None,
///     aggregated: true,
/// };
/// assert_eq!(r.position(), Position::at("42", 3).unwrap());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The Kinesis record's sequence number.
    pub sequence_number: SequenceNumber,
    /// The index inside the aggregate; 0 for a plain record.
    pub sub_sequence_number: u64,
    /// The user record's partition key.
    pub partition_key: ByteString,
    /// The user record's explicit hash key (aggregated records only; Kinesis does not
    /// return the explicit hash key of a plain record).
    pub explicit_hash_key: Option<ByteString>,
    /// The payload.
    pub data: Bytes,
    /// When Kinesis accepted the (outer) record.
    pub approximate_arrival_timestamp: Option<SystemTime>,
    /// Whether the record came out of a KPL aggregate.
    pub aggregated: bool,
}

impl Record {
    /// The checkpoint position of this record.
    pub fn position(&self) -> Position {
        Position::At {
            seq: self.sequence_number.clone(),
            sub_seq: self.sub_sequence_number,
        }
    }
}
