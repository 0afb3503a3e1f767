//! Limits of an aggregator.

/// 1 MiB: the default Kinesis record limit (data + partition key).
pub const DEFAULT_MAX_SIZE: usize = 1024 * 1024;
/// 10 MiB: the largest record limit a stream can be raised to.
pub const MAX_MAX_SIZE: usize = 10 * 1024 * 1024;
/// The KPL's default for user records per aggregate (4294967295).
pub const DEFAULT_MAX_COUNT: u64 = u32::MAX as u64;

/// How an aggregate holding exactly one user record is emitted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum SingleRecord {
    /// As the KPL does: the user record itself, raw data with its own partition key.
    #[default]
    Raw,
    /// Always in the aggregated format, even for one record.
    Aggregated,
}

/// Limits of one aggregated record.
///
/// ```
/// use kinesis_agg::AggregatorConfig;
///
/// let kpl_like = AggregatorConfig { max_size: 51_200, ..AggregatorConfig::default() };
/// assert!(kpl_like.validate().is_ok());
/// let too_big = AggregatorConfig { max_size: 11 << 20, ..AggregatorConfig::default() };
/// assert!(too_big.validate().is_err());
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Largest record emitted, counted as Kinesis counts it: data + outer partition key.
    /// 1 MiB by default, at most 10 MiB.
    pub max_size: usize,
    /// Most user records in one aggregate (at least 1).
    pub max_count: u64,
    /// How a lone user record is emitted.
    pub single_record: SingleRecord,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            max_size: DEFAULT_MAX_SIZE,
            max_count: DEFAULT_MAX_COUNT,
            single_record: SingleRecord::Raw,
        }
    }
}

/// A configuration value outside its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `max_size` must lie in [1, 10 MiB].
    #[error("max_size {0} is outside [1, 10485760]")]
    MaxSize(usize),
    /// `max_count` must be at least 1.
    #[error("max_count must be at least 1")]
    MaxCount,
}

impl AggregatorConfig {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_size == 0 || self.max_size > MAX_MAX_SIZE {
            return Err(ConfigError::MaxSize(self.max_size));
        }
        if self.max_count == 0 {
            return Err(ConfigError::MaxCount);
        }
        Ok(())
    }
}
