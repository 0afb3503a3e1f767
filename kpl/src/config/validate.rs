//! Range checks of the configuration.

use std::time::Duration;

use super::ProducerConfig;

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field outside its range.
    #[error("{field} = {value} is outside {range}")]
    OutOfRange {
        /// The field (KPL name).
        field: &'static str,
        /// The value given.
        value: String,
        /// The accepted range.
        range: &'static str,
    },
    /// The TOML text or an environment variable does not parse.
    #[error("configuration does not parse: {0}")]
    Parse(String),
}

impl ConfigError {
    /// Configuration errors never go away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// One range check; values are widened to u128 (durations in milliseconds).
struct Bound {
    field: &'static str,
    value: u128,
    min: u128,
    max: u128,
    range: &'static str,
}

impl Bound {
    fn check(self) -> Result<(), ConfigError> {
        if self.value < self.min || self.value > self.max {
            let (field, value, range) = (self.field, self.value.to_string(), self.range);
            return Err(ConfigError::OutOfRange {
                field,
                value,
                range,
            });
        }
        Ok(())
    }
}

fn b(
    field: &'static str,
    value: impl Into<u128>,
    min: u128,
    max: u128,
    range: &'static str,
) -> Bound {
    Bound {
        field,
        value: value.into(),
        min,
        max,
        range,
    }
}

fn size(n: usize) -> u128 {
    n as u128
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

impl ProducerConfig {
    /// Checks every field against its range; the error names the field and the range.
    /// Every duration has an upper bound (at most a day), so no deadline computed from one
    /// can overflow `Instant` arithmetic.
    ///
    /// ```
    /// let bad = kpl::ProducerConfig::default().collection_max_count(501);
    /// assert_eq!(
    ///     bad.validate().unwrap_err().to_string(),
    ///     "CollectionMaxCount = 501 is outside [1, 500]"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mib = 1024 * 1024;
        let unbounded = u128::MAX;
        [
            b(
                "AggregationMaxCount",
                self.aggregation_max_count,
                1,
                unbounded,
                "[1, 2^64-1]",
            ),
            b(
                "MaxUserRecordSize",
                size(self.max_user_record_size),
                1,
                10 * mib,
                "[1, 10 MiB]",
            ),
            b(
                "AggregationMaxSize",
                size(self.aggregation_max_size),
                64,
                size(self.max_user_record_size),
                "[64, MaxUserRecordSize] (an aggregate is one Kinesis record)",
            ),
            b(
                "CollectionMaxCount",
                size(self.collection_max_count),
                1,
                500,
                "[1, 500]",
            ),
            b(
                "CollectionMaxSize",
                size(self.collection_max_size),
                52_224,
                5 * mib,
                "[52224, 5 MiB] (PutRecords' limit)",
            ),
            b(
                "RecordMaxBufferedTime",
                ms(self.record_max_buffered_time),
                0,
                60_000,
                "[0, 60000] ms",
            ),
            b(
                "RecordTtl",
                ms(self.record_ttl),
                100,
                86_400_000,
                "[100, 86400000] ms",
            ),
            b(
                "RateLimit",
                self.rate_limit,
                1,
                unbounded,
                "[1, 4294967295] percent",
            ),
            b(
                "MaxConnections",
                size(self.max_connections),
                1,
                256,
                "[1, 256]",
            ),
            b(
                "RequestTimeout",
                ms(self.request_timeout),
                100,
                600_000,
                "[100, 600000] ms",
            ),
            b(
                "ConnectTimeout",
                ms(self.connect_timeout),
                100,
                300_000,
                "[100, 300000] ms",
            ),
            b(
                "ShardMapRefreshInterval",
                ms(self.shard_map_refresh_interval),
                1000,
                86_400_000,
                "[1000, 86400000] ms",
            ),
            b(
                "MaxOutstandingRecords",
                size(self.max_outstanding_records),
                1,
                unbounded,
                ">= 1",
            ),
            b(
                "MaxOutstandingBytes",
                size(self.max_outstanding_bytes),
                size(self.max_user_record_size),
                unbounded,
                ">= MaxUserRecordSize",
            ),
        ]
        .into_iter()
        .try_for_each(Bound::check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn defaults_are_valid_and_the_kpls() {
        let c = ProducerConfig::default();
        c.validate().unwrap();
        assert_eq!(c.aggregation_max_size, 51_200);
        assert_eq!(c.collection_max_size, 5_242_880);
        assert_eq!(c.record_max_buffered_time, Duration::from_millis(100));
        assert_eq!(c.record_ttl, Duration::from_secs(30));
        assert_eq!(c.rate_limit, 150);
        assert_eq!(c.max_connections, 24);
        assert_eq!(c.request_timeout, Duration::from_secs(6));
        assert_eq!(c.max_user_record_size, 1_048_576);
    }

    #[test]
    fn each_range_is_checked_by_name() {
        let cases: Vec<(ProducerConfig, &str)> = vec![
            (
                ProducerConfig::default().aggregation_max_count(0),
                "AggregationMaxCount",
            ),
            (
                ProducerConfig::default().aggregation_max_size(63),
                "AggregationMaxSize",
            ),
            (
                ProducerConfig::default().collection_max_count(0),
                "CollectionMaxCount",
            ),
            (
                ProducerConfig::default().collection_max_size(11 * MIB),
                "CollectionMaxSize",
            ),
            (
                // 7: an aggregate is a Kinesis record: at most the record limit.
                ProducerConfig::default().aggregation_max_size(MIB + 1),
                "AggregationMaxSize",
            ),
            (
                // 7: PutRecords takes at most 5 MiB.
                ProducerConfig::default().collection_max_size(5 * MIB + 1),
                "CollectionMaxSize",
            ),
            (
                ProducerConfig::default().record_ttl(Duration::from_millis(99)),
                "RecordTtl",
            ),
            (ProducerConfig::default().rate_limit(0), "RateLimit"),
            (
                ProducerConfig::default().max_connections(257),
                "MaxConnections",
            ),
            (
                ProducerConfig::default().request_timeout(Duration::from_millis(10)),
                "RequestTimeout",
            ),
            (
                ProducerConfig::default().max_user_record_size(10 * MIB + 1),
                "MaxUserRecordSize",
            ),
            (
                ProducerConfig::default().max_outstanding_records(0),
                "MaxOutstandingRecords",
            ),
            (
                ProducerConfig::default().max_outstanding_bytes(1000),
                "MaxOutstandingBytes",
            ),
            (
                ProducerConfig::default().shard_map_refresh_interval(Duration::from_millis(10)),
                "ShardMapRefreshInterval",
            ),
            (
                // `Instant + Duration::MAX` overflows: every duration has an upper bound.
                ProducerConfig::default().shard_map_refresh_interval(Duration::MAX),
                "ShardMapRefreshInterval",
            ),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(ConfigError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
