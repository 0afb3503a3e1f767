//! The Kinesis producer library (KPL equivalent), in process.
//!
//! Work in progress.

// A `PutError` carries the record back by design (nothing is lost with an error); it is
// larger than clippy likes for an `Err`, and boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod aggregation;
mod budget;
mod collector;
mod config;
mod driver;
mod error;
mod handle;
mod limiter;
mod listing;
mod metrics;
mod pending;
mod producer;
mod record;
mod refresh;
mod retrier;
mod sender;
mod shard_map;
mod sink;
#[cfg(test)]
mod testing;
mod validate;

pub use config::{
    ConfigError, ENV_PREFIX, MetricsGranularity, MetricsLevel, Ordering, ProducerConfig,
};
pub use error::{ErrorCode, PutError, PutErrorKind, ValidationError};
pub use handle::PutHandle;
pub use kinesis_agg as agg;

/// The hash map of the pipeline's hot paths (foldhash: fast; keys are shard ids and
/// stream names chosen by the service and the application, not by an attacker).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use metrics::names as metric_names;
pub use producer::{Outstanding, Producer, RECORD_OVERHEAD_BYTES, ShutdownReport};
pub use record::{Attempt, AttemptError, Attempts, PutResult, Record};
pub use sink::PutSink;
