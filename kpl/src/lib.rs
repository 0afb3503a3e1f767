//! The Kinesis producer library (KPL equivalent), in process: no daemon, bounded memory,
//! backpressure, a result per record with its sub-sequence number and attempts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kpl::{Producer, ProducerConfig, Record};
//!
//! let producer = Producer::from_env(ProducerConfig::from_env()?).await?;
//! let mut acks = Vec::new();
//! for i in 0..10_000 {
//!     // Waits only when the outstanding bounds are reached (backpressure).
//!     acks.push(producer.put(Record::new("orders", format!("customer-{i}"), "payload")).await?);
//! }
//! for ack in acks {
//!     match ack.await {
//!         Ok(r) => println!("{} {} #{}", r.shard_id, r.sequence_number, r.sub_sequence_number),
//!         Err(e) => eprintln!("failed after {} attempts: {e}; record handed back", e.attempts.len()),
//!     }
//! }
//! producer.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```
//!
//! The same on the embedded servers of `kinesis-testkit`, as a runnable example:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An acknowledged record is in the stream, on the shard and at the sequence number
//! // its result names.
//! let aws = testkit::LocalAws::start().await?;
//! let kinesis = aws.kinesis_client();
//! testkit::streams::create_stream(&kinesis, "orders", 2).await?;
//! let producer = kpl::Producer::new(kpl::ProducerConfig::default(), kinesis.clone())?;
//! let ack = producer.put(kpl::Record::new("orders", "customer-1", "hello")).await?;
//! let written = ack.await?;
//! producer.shutdown(std::time::Duration::from_secs(5)).await;
//! let stream = testkit::streams::read_stream(&kinesis, "orders").await?;
//! assert!(stream.iter().any(|(shard, record)| {
//!     *shard == *written.shard_id && record.sequence_number() == &*written.sequence_number
//! }));
//! # Ok(()) }
//! ```
//!
//! # Pipeline
//!
//! Each stream has one task owning its pipeline; records flow one way through plain
//! stages, and only that task knows their order:
//!
//! 1. **intake**: validation (at `put`), the hash key (explicit, or the MD5 of the partition
//!    key, computed for a batch of records in SIMD lanes), the predicted shard (ListShards
//!    map, binary search on ending hash keys);
//! 2. **aggregation**: one open aggregate per shard (never two shards in one), finished when
//!    full or at its deadline (put + `record_max_buffered_time`);
//! 3. **lanes**: one queue per shard of the Kinesis records ready to go, behind token
//!    buckets for records and bytes at `rate_limit` % of the shard limits (cut a little
//!    when the shard throttles, at most once a second, and given back slowly, so the
//!    limit settles on what the shard takes); retries pass them too;
//! 4. **collector**: PutRecords requests of at most 500 records / 5 MiB, sent when full, at
//!    their earliest deadline, or when one shard holds 256 KiB;
//! 5. **sender**: at most `max_connections` requests in flight; the aggregates of a request
//!    are sealed (MD5) together;
//! 6. **outcome**: written records complete; throttled, failed or timed-out ones go back to the
//!    front due in `record_max_buffered_time / 2`; records written to a shard their hash keys
//!    do not belong to (the map was stale) are checked against the fresh map and sent again
//!    if a KCL-style consumer would drop them; a record whose TTL passes fails as expired,
//!    wherever it waits (the driver's ledger lists every place).
//!
//! Without a shard map (ListShards stalls, every listing has a timeout, or keeps failing),
//! records go out alone with their own hash keys as explicit hash keys, as the KPL's do.
//!
//! Backpressure: `max_outstanding_records` and `max_outstanding_bytes` bound what is put
//! and not yet completed; `put` waits for room (and the pipeline then sends what it holds
//! at once), `try_put` fails fast. `flush` resolves when everything put before it is
//! complete; `shutdown` flushes until a deadline, then hands back what is left.
//!
//! Ordering: with [`Ordering::PerShard`], each shard's lane lets its next Kinesis record go
//! only when the one before is written or back at its front, so a shard has at most one
//! Kinesis record in flight and a failed one is retried ahead of anything newer, through
//! the same rate limit: records of a partition key (with the same explicit hash key, if
//! any) arrive in the order they were put. Exceptions: records sent again because the map
//! was stale go to the new shards after newer ones may have; a request that timed out may
//! still be applied late, so a copy of a record may follow newer ones (at least once).

// A `PutError` carries the record back by design (nothing is lost with an error); it is
// larger than clippy likes for an `Err`, and boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod batch;
mod budget;
mod completion;
mod config;
mod driver;
mod error;
mod handle;
mod io;
mod metrics;
mod pending;
mod producer;
mod record;
mod report;
mod sink;
mod stages;
#[cfg(test)]
mod testing;
mod validate;

pub use batch::BatchHandle;
pub use config::{
    ConfigError, ENV_PREFIX, MetricsGranularity, MetricsLevel, Ordering, ProducerConfig,
};
pub use error::{ErrorClass, ErrorCode, PutError, PutErrorKind, ValidationError};
pub use handle::PutHandle;
pub use kinesis_agg as agg;

/// The hash map of the pipeline's hot paths (foldhash: fast; keys are shard ids and
/// stream names chosen by the service and the application, not by an attacker).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use budget::RECORD_OVERHEAD_BYTES;
pub use metrics::names as metric_names;
pub use producer::Producer;
pub use record::{Attempt, AttemptError, Attempts, PutResult, Record};
pub use report::{Outstanding, ShutdownReport, UnverifiedRecord};
pub use sink::PutSink;
