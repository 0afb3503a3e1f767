//! The protobuf messages of the aggregation format (`aggregation.proto`), derived with prost.
//!
//! The encoder and decoder of this crate read and write the wire format directly
//! (exact sizes, zero-copy slices); these types are the schema, for callers that
//! want the plain messages and for checking the fast paths against prost.

use bytes::Bytes;

/// `AggregatedRecord`: the key tables and the records.
///
/// ```
/// use kinesis_agg::messages::{AggregatedRecord, Record};
/// use prost::Message;
///
/// let msg = AggregatedRecord {
///     partition_key_table: vec!["k".into()],
///     explicit_hash_key_table: vec![],
///     records: vec![Record { partition_key_index: 0, explicit_hash_key_index: None,
///                            data: "hi".into(), tags: vec![] }],
/// };
/// let bytes = msg.encode_to_vec();
/// assert_eq!(AggregatedRecord::decode(bytes.as_slice()).unwrap(), msg);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct AggregatedRecord {
    /// Partition keys referenced by index from the records.
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    /// Explicit hash keys (decimal) referenced by index from the records.
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    /// The user records.
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// `Record`: one user record inside an aggregate.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    /// Index into `partition_key_table` (required).
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    /// Index into `explicit_hash_key_table`, when the record has an explicit hash key.
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    /// The user record's data (required).
    #[prost(bytes = "bytes", required, tag = "3")]
    pub data: Bytes,
    /// Tags; the KPL never writes them and the KCL ignores them.
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// `Tag`: a key and optional value attached to a record.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tag {
    /// The tag's key (required).
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// The tag's value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}
