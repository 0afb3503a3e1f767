//! The producer's configuration: the KPL's names and defaults, plus the bounds and the
//! ordering mode this crate adds.

mod load;
mod validate;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::ENV_PREFIX;
pub use validate::ConfigError;

/// How records of one shard are ordered on the stream.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Ordering {
    /// As the KPL: requests to a shard may overlap and a retried record may land after
    /// newer ones. Fastest.
    #[default]
    Unordered,
    /// At most one PutRecords in flight per shard, carrying at most one Kinesis record of
    /// that shard, and a failed record is retried before anything newer of its shard: records
    /// with the same partition key (and explicit hash key) arrive in the order they were put,
    /// even across retries. Without a shard map, records go alone, one per hash key at a
    /// time. Resharding and late copies of timed-out requests aside (see the crate's docs).
    PerShard,
}

/// How much the producer reports through the `metrics` crate (the KPL's `MetricsLevel`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub enum MetricsLevel {
    /// Nothing.
    None,
    /// Counters of records and errors.
    Summary,
    /// Everything, histograms included.
    #[default]
    Detailed,
}

/// The label set of metrics (the KPL's `MetricsGranularity`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub enum MetricsGranularity {
    /// No labels.
    Global,
    /// A `stream` label.
    Stream,
    /// `stream` and `shard` labels.
    #[default]
    Shard,
}

/// The KPL writes these values in lower case (`MetricsLevel = detailed`); any case is
/// accepted, with or without `_` and `-` between words (`PerShard`, `per_shard`).
macro_rules! lenient_enum {
    ($ty:ident { $($variant:ident),* $(,)? }) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let wanted = normalized(&text);
                $(
                    if wanted == normalized(stringify!($variant)) {
                        return Ok($ty::$variant);
                    }
                )*
                Err(serde::de::Error::unknown_variant(&text, &[$(stringify!($variant)),*]))
            }
        }
    };
}

/// Lower case, without `_`, `-` and spaces.
fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

lenient_enum!(Ordering {
    Unordered,
    PerShard
});
lenient_enum!(MetricsLevel {
    None,
    Summary,
    Detailed
});
lenient_enum!(MetricsGranularity {
    Global,
    Stream,
    Shard
});

/// Producer configuration. Field names follow the KPL's `KinesisProducerConfiguration`
/// (in serde, TOML and environment variables as `AggregationMaxSize`, `KPL_AGGREGATION_MAX_SIZE`;
/// durations in milliseconds there), with the KPL's defaults.
///
/// ```
/// use std::time::Duration;
/// use kpl::ProducerConfig;
///
/// let config = ProducerConfig::default()
///     .record_max_buffered_time(Duration::from_millis(50))
///     .max_outstanding_bytes(32 << 20);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.collection_max_count, 500);
///
/// let from_toml = ProducerConfig::from_toml("RecordMaxBufferedTime = 50\nRateLimit = 100").unwrap();
/// assert_eq!(from_toml.record_max_buffered_time, Duration::from_millis(50));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct ProducerConfig {
    /// Pack user records into aggregated Kinesis records. Default true.
    pub aggregation_enabled: bool,
    /// Most user records per aggregate. Default 4,294,967,295.
    pub aggregation_max_count: u64,
    /// Most bytes per aggregate (data + outer partition key); larger user records are sent
    /// alone. Default 51,200; 64 to `max_user_record_size` (an aggregate is one Kinesis
    /// record).
    pub aggregation_max_size: usize,
    /// Most Kinesis records per PutRecords. Default 500; 1 to 500.
    pub collection_max_count: usize,
    /// Most bytes (data + partition keys) per PutRecords. Default 5 MiB; 52,224 to 5 MiB
    /// (PutRecords' limit; a record larger than this goes in a request of its own).
    pub collection_max_size: usize,
    /// How long a record may wait to be sent. Default 100 ms; at most 60 s.
    #[serde(with = "load::millis")]
    pub record_max_buffered_time: Duration,
    /// After this the record fails as expired. Default 30 s; 100 ms to 24 h.
    #[serde(rename = "RecordTtl", with = "load::millis")]
    pub record_ttl: Duration,
    /// Per-shard send rate, percent of the shard limits (1,000 records/s, 1 MiB/s). Default 150.
    pub rate_limit: u32,
    /// Most PutRecords requests in flight over all streams. Default 24; 1 to 256.
    pub max_connections: usize,
    /// Timeout of one PutRecords request (a timed-out request may have succeeded).
    /// Default 6 s; 100 ms to 600 s.
    #[serde(with = "load::millis")]
    pub request_timeout: Duration,
    /// Connect timeout of the HTTP client when the producer builds it. Default 6 s.
    #[serde(with = "load::millis")]
    pub connect_timeout: Duration,
    /// Fail a throttled record at once instead of retrying it. Default false.
    pub fail_if_throttled: bool,
    /// Largest user record (data + partition key), checked before anything is sent.
    /// Default 1 MiB; at most 10 MiB (raise the stream's MaxRecordSize to match).
    pub max_user_record_size: usize,
    /// How often the shard map is refreshed without cause. Default 60 s; 1 s to 24 h.
    #[serde(with = "load::millis")]
    pub shard_map_refresh_interval: Duration,
    /// Backpressure bound: most user records put and not yet completed. Default 100,000.
    pub max_outstanding_records: usize,
    /// Backpressure bound: most bytes put and not yet completed, each record counted as
    /// data + partition key + [`RECORD_OVERHEAD_BYTES`](crate::RECORD_OVERHEAD_BYTES) of
    /// bookkeeping, so that it bounds the producer's memory. Default 64 MiB; at least
    /// `max_user_record_size`.
    pub max_outstanding_bytes: usize,
    /// Per-shard ordering. Default `Unordered`, as the KPL.
    pub ordering: Ordering,
    /// Metrics reported. Default `Detailed`.
    pub metrics_level: MetricsLevel,
    /// Metric labels. Default `Shard`.
    pub metrics_granularity: MetricsGranularity,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            aggregation_enabled: true,
            aggregation_max_count: u64::from(u32::MAX),
            aggregation_max_size: 51_200,
            collection_max_count: 500,
            collection_max_size: 5 * 1024 * 1024,
            record_max_buffered_time: Duration::from_millis(100),
            record_ttl: Duration::from_secs(30),
            rate_limit: 150,
            max_connections: 24,
            request_timeout: Duration::from_secs(6),
            connect_timeout: Duration::from_secs(6),
            fail_if_throttled: false,
            max_user_record_size: 1024 * 1024,
            shard_map_refresh_interval: Duration::from_secs(60),
            max_outstanding_records: 100_000,
            max_outstanding_bytes: 64 * 1024 * 1024,
            ordering: Ordering::Unordered,
            metrics_level: MetricsLevel::Detailed,
            metrics_granularity: MetricsGranularity::Shard,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {
        impl ProducerConfig {
            $(
                $(#[$doc])*
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets `aggregation_enabled`.
    aggregation_enabled: bool,
    /// Sets `aggregation_max_count`.
    aggregation_max_count: u64,
    /// Sets `aggregation_max_size`.
    aggregation_max_size: usize,
    /// Sets `collection_max_count`.
    collection_max_count: usize,
    /// Sets `collection_max_size`.
    collection_max_size: usize,
    /// Sets `record_max_buffered_time`.
    record_max_buffered_time: Duration,
    /// Sets `record_ttl`.
    record_ttl: Duration,
    /// Sets `rate_limit`.
    rate_limit: u32,
    /// Sets `max_connections`.
    max_connections: usize,
    /// Sets `request_timeout`.
    request_timeout: Duration,
    /// Sets `connect_timeout`.
    connect_timeout: Duration,
    /// Sets `fail_if_throttled`.
    fail_if_throttled: bool,
    /// Sets `max_user_record_size`.
    max_user_record_size: usize,
    /// Sets `shard_map_refresh_interval`.
    shard_map_refresh_interval: Duration,
    /// Sets `max_outstanding_records`.
    max_outstanding_records: usize,
    /// Sets `max_outstanding_bytes`.
    max_outstanding_bytes: usize,
    /// Sets `ordering`.
    ordering: Ordering,
    /// Sets `metrics_level`.
    metrics_level: MetricsLevel,
    /// Sets `metrics_granularity`.
    metrics_granularity: MetricsGranularity,
}
