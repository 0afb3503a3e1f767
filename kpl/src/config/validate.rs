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

const MIB: usize = 1024 * 1024;

fn check<T: PartialOrd + std::fmt::Debug>(
    field: &'static str,
    value: T,
    min: T,
    max: T,
    range: &'static str,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::OutOfRange {
            field,
            value: format!("{value:?}"),
            range,
        });
    }
    Ok(())
}

impl ProducerConfig {
    /// Checks every field against its range; the error names the field and the range.
    ///
    /// ```
    /// let bad = kpl::ProducerConfig::default().collection_max_count(501);
    /// assert_eq!(
    ///     bad.validate().unwrap_err().to_string(),
    ///     "CollectionMaxCount = 501 is outside [1, 500]"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "AggregationMaxCount",
            self.aggregation_max_count,
            1,
            u64::MAX,
            "[1, 2^64-1]",
        )?;
        check(
            "MaxUserRecordSize",
            self.max_user_record_size,
            1,
            10 * MIB,
            "[1, 10 MiB]",
        )?;
        check(
            "AggregationMaxSize",
            self.aggregation_max_size,
            64,
            10 * MIB,
            "[64, 10 MiB]",
        )?;
        check(
            "CollectionMaxCount",
            self.collection_max_count,
            1,
            500,
            "[1, 500]",
        )?;
        check(
            "CollectionMaxSize",
            self.collection_max_size,
            52_224,
            10 * MIB,
            "[52224, 10 MiB]",
        )?;
        let ms = Duration::from_millis;
        check(
            "RecordMaxBufferedTime",
            self.record_max_buffered_time,
            ms(0),
            ms(60_000),
            "[0, 60000] ms",
        )?;
        check(
            "RecordTtl",
            self.record_ttl,
            ms(100),
            ms(86_400_000),
            "[100, 86400000] ms",
        )?;
        check(
            "RateLimit",
            self.rate_limit,
            1,
            u32::MAX,
            "[1, 4294967295] percent",
        )?;
        check("MaxConnections", self.max_connections, 1, 256, "[1, 256]")?;
        check(
            "RequestTimeout",
            self.request_timeout,
            ms(100),
            ms(600_000),
            "[100, 600000] ms",
        )?;
        check(
            "ConnectTimeout",
            self.connect_timeout,
            ms(100),
            ms(300_000),
            "[100, 300000] ms",
        )?;
        check(
            "ShardMapRefreshInterval",
            self.shard_map_refresh_interval,
            ms(1000),
            Duration::MAX,
            ">= 1000 ms",
        )?;
        check(
            "MaxOutstandingRecords",
            self.max_outstanding_records,
            1,
            usize::MAX >> 4,
            ">= 1",
        )?;
        check(
            "MaxOutstandingBytes",
            self.max_outstanding_bytes,
            self.max_user_record_size,
            usize::MAX >> 4,
            ">= MaxUserRecordSize",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(ConfigError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
