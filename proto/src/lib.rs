//! The KPL aggregation wire format.
//!
//! An aggregated Kinesis record packs many user records into one: the magic
//! `F3 89 9A C2`, a protobuf `AggregatedRecord` (deduplicated partition key and explicit
//! hash key tables, then the records), and the MD5 of that protobuf. This crate writes
//! and reads it byte-compatibly with the AWS KPL (producer) and KCL (consumer):
//!
//! - [`Aggregator`] packs [`UserRecord`]s with an exact running size, so no emitted
//!   record is ever over the limit, and emits [`EncodedRecord`]s for PutRecords.
//! - [`Deaggregator`] turns Kinesis records back into [`SubRecord`]s without copying
//!   their data, passes anything that is not a valid aggregate through unchanged, and
//!   applies the KCL's shard hash range rule when given a [`HashRange`].
//! - [`HashKey`] is the 128-bit key space position (MD5 of a partition key, or an
//!   explicit hash key).
//!
//! ```
//! use kinesis_agg::{Aggregator, Deaggregated, Deaggregator, UserRecord};
//!
//! let mut agg = Aggregator::default();
//! for i in 0..3 {
//!     agg.try_add(UserRecord::new(format!("key-{i}"), format!("payload {i}")).unwrap()).unwrap();
//! }
//! let kinesis_record = agg.finish().unwrap();
//! assert_eq!(kinesis_record.partition_key, "a");
//!
//! let Deaggregated::Aggregated(aggregate) = Deaggregator::new().deaggregate(kinesis_record.data)
//! else { panic!("not an aggregate") };
//! let third = aggregate.records().nth(2).unwrap();
//! assert_eq!((third.data.as_ref(), third.sub_sequence_number), (&b"payload 2"[..], 2));
//! ```

mod aggregator;
mod config;
mod deaggregator;
mod decoder;
mod encoded;
mod hash_key;
mod hash_range;
mod key_table;
mod md5;
pub mod messages;
mod parse;
mod unsealed;
mod user_record;
mod wire;

pub use aggregator::{AddError, Aggregator, Refusal};
pub use config::{
    AggregatorConfig, ConfigError, DEFAULT_MAX_COUNT, DEFAULT_MAX_SIZE, MAX_MAX_SIZE, SingleRecord,
};
pub use deaggregator::{Deaggregated, Deaggregator};
pub use decoder::{Aggregate, IntoRecords, Records, SubRecord};
pub use encoded::EncodedRecord;
pub use hash_key::{HashKey, HashKeyError};
pub use hash_range::{HashRange, HashRangeError};
pub use unsealed::Unsealed;
pub use user_record::{
    InvalidRecord, MAX_PARTITION_KEY_CHARS, RecordError, UserRecord, check_partition_key,
};
pub use wire::{AGGREGATE_PARTITION_KEY, DIGEST_LEN, FRAME_OVERHEAD, MAGIC};
