//! Checking a configuration, and the checked form the flows run on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::bytes::Regex;

use super::{FlowConfig, InitialPosition, PartitionKeyOption, TailConfig};
use crate::discovery::SourcePattern;
use crate::processing::Chain;
use crate::record::MAX_KEY_LEN;

use super::ConfigError;

/// A checked flow, ready to run.
#[derive(Debug)]
pub(crate) struct PreparedFlow {
    pub(crate) key: String,
    pub(crate) stream: Arc<str>,
    pub(crate) pattern: SourcePattern,
    pub(crate) initial_position: InitialPosition,
    pub(crate) partition_key: PartitionKeyOption,
    pub(crate) skip_header_lines: usize,
    pub(crate) multi_line_start: Option<Regex>,
    pub(crate) terminator: Vec<u8>,
    pub(crate) chain: Chain,
    pub(crate) poll_interval: Duration,
    pub(crate) rotated_idle: Duration,
    pub(crate) max_buffer_age: Duration,
    /// Most data bytes of one record (the producer's record limit less the longest key).
    pub(crate) record_limit: usize,
    pub(crate) producer: kpl::ProducerConfig,
}

/// A checked configuration.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) checkpoint_file: PathBuf,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) flows: Vec<PreparedFlow>,
}

impl TailConfig {
    /// Checks every option; the error names the flow and the option.
    ///
    /// ```
    /// // Guarantee shown: a value outside the accepted range is refused by name.
    /// let mut flow = kinesis_tail::FlowConfig::new("/var/log/*.log", "logs");
    /// flow.max_buffer_size_records = 501;
    /// let err = kinesis_tail::TailConfig::new(vec![flow]).validate().unwrap_err();
    /// assert!(err.to_string().contains("maxBufferSizeRecords"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.prepare().map(|_| ())
    }

    pub(crate) fn prepare(&self) -> Result<Prepared, ConfigError> {
        if self.flows.is_empty() {
            return Err(ConfigError::NoFlows);
        }
        let mut flows: Vec<PreparedFlow> = Vec::with_capacity(self.flows.len());
        for (index, flow) in self.flows.iter().enumerate() {
            let prepared = prepare_flow(index, flow)?;
            if let Some(first) = flows.iter().position(|f| f.key == prepared.key) {
                return Err(ConfigError::DuplicateFlow {
                    first,
                    second: index,
                    key: prepared.key,
                });
            }
            flows.push(prepared);
        }
        let checkpoint_file = match &self.checkpoint_file {
            Some(path) => path.clone(),
            None => default_checkpoint_file().ok_or(ConfigError::NoCheckpointFile)?,
        };
        let range =
            |field, value, min, max, range| check(usize::MAX, field, value, min, max, range);
        range(
            "checkpointIntervalMillis",
            self.checkpoint_interval_millis,
            1,
            3_600_000,
            "1 to 3,600,000",
        )?;
        range(
            "shutdownTimeoutMillis",
            self.shutdown_timeout_millis,
            0,
            3_600_000,
            "0 to 3,600,000",
        )?;
        Ok(Prepared {
            checkpoint_file,
            checkpoint_interval: Duration::from_millis(self.checkpoint_interval_millis),
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_millis),
            flows,
        })
    }
}

fn default_checkpoint_file() -> Option<PathBuf> {
    let non_empty = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let state = non_empty("XDG_STATE_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".local/state")))?;
    Some(state.join("kinesis-tail").join("checkpoints.json"))
}

fn check(
    flow: usize,
    field: &'static str,
    value: u64,
    min: u64,
    max: u64,
    range: &'static str,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::OutOfRange {
        flow,
        field,
        value,
        range,
    })
}

fn widen(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn check_ranges(index: usize, flow: &FlowConfig) -> Result<(), ConfigError> {
    let c = |field, value, min, max, range| check(index, field, value, min, max, range);
    c(
        "maxBufferAgeMillis",
        flow.max_buffer_age_millis,
        1,
        60_000,
        "1 to 60,000",
    )?;
    c(
        "maxBufferSizeRecords",
        widen(flow.max_buffer_size_records),
        1,
        500,
        "1 to 500",
    )?;
    c(
        "maxBufferSizeBytes",
        widen(flow.max_buffer_size_bytes),
        52_224,
        5 << 20,
        "52,224 to 5,242,880",
    )?;
    c(
        "pollIntervalMillis",
        flow.poll_interval_millis,
        1,
        60_000,
        "1 to 60,000",
    )?;
    c(
        "rotatedFileIdleMillis",
        flow.rotated_file_idle_millis,
        0,
        86_400_000,
        "0 to 86,400,000",
    )?;
    c(
        "maxOutstandingRecords",
        widen(flow.max_outstanding_records),
        1,
        10_000_000,
        "1 to 10,000,000",
    )?;
    c(
        "maxOutstandingBytes",
        widen(flow.max_outstanding_bytes),
        1 << 20,
        1 << 34,
        "1 MiB to 16 GiB",
    )?;
    c(
        "skipHeaderLines",
        widen(flow.skip_header_lines),
        0,
        1_000_000,
        "0 to 1,000,000",
    )
}

fn prepare_flow(index: usize, flow: &FlowConfig) -> Result<PreparedFlow, ConfigError> {
    check_ranges(index, flow)?;
    if !valid_stream_name(&flow.kinesis_stream) {
        return Err(ConfigError::StreamName {
            flow: index,
            name: flow.kinesis_stream.clone(),
        });
    }
    let pattern =
        SourcePattern::parse(&flow.file_pattern).map_err(|reason| ConfigError::FilePattern {
            flow: index,
            pattern: flow.file_pattern.clone(),
            reason,
        })?;
    let multi_line_start = match flow
        .multi_line_start_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => Some(compile(
            index,
            "multiLineStartPattern",
            &format!("^(?:{p})"),
            p,
        )?),
    };
    let producer = producer_config(flow);
    let record_limit = producer.max_user_record_size - MAX_KEY_LEN;
    let terminator = flow.truncated_record_terminator.as_bytes().to_vec();
    if terminator.len() >= record_limit {
        let value = widen(terminator.len());
        return Err(ConfigError::OutOfRange {
            flow: index,
            field: "truncatedRecordTerminator",
            value,
            range: "shorter than the record limit (bytes)",
        });
    }
    Ok(PreparedFlow {
        key: flow.key(),
        stream: Arc::from(flow.kinesis_stream.as_str()),
        pattern,
        initial_position: flow.initial_position,
        partition_key: flow.partition_key_option,
        skip_header_lines: flow.skip_header_lines,
        multi_line_start,
        terminator,
        chain: Chain::build(index, &flow.data_processing_options)?,
        poll_interval: Duration::from_millis(flow.poll_interval_millis),
        rotated_idle: Duration::from_millis(flow.rotated_file_idle_millis),
        max_buffer_age: Duration::from_millis(flow.max_buffer_age_millis),
        record_limit,
        producer,
    })
}

/// The producer settings of a flow: the Agent's buffer options, our bounds, per-shard
/// order (a file's aggregated lines stay in order on each shard, across retries) and a TTL
/// long enough that the producer, not the agent, does the retrying.
fn producer_config(flow: &FlowConfig) -> kpl::ProducerConfig {
    kpl::ProducerConfig::default()
        .aggregation_enabled(flow.aggregation)
        .record_max_buffered_time(Duration::from_millis(flow.max_buffer_age_millis))
        .collection_max_count(flow.max_buffer_size_records)
        .collection_max_size(flow.max_buffer_size_bytes)
        .max_outstanding_records(flow.max_outstanding_records)
        .max_outstanding_bytes(flow.max_outstanding_bytes)
        .record_ttl(Duration::from_secs(24 * 3600))
        .ordering(kpl::Ordering::PerShard)
}

/// A regular expression over bytes (lines need not be UTF-8).
fn compile(
    flow: usize,
    field: &'static str,
    expression: &str,
    given: &str,
) -> Result<Regex, ConfigError> {
    Regex::new(expression).map_err(regex_error(flow, field, given))
}

/// The error of a regular expression that does not compile.
pub(crate) fn regex_error(
    flow: usize,
    field: &'static str,
    given: &str,
) -> impl FnOnce(regex::Error) -> ConfigError {
    let pattern = given.to_owned();
    move |e| ConfigError::Regex {
        flow,
        field,
        pattern,
        message: e.to_string(),
    }
}

fn valid_stream_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowConfig {
        FlowConfig::new("/var/log/*.log", "logs")
    }

    fn error(flow: FlowConfig) -> ConfigError {
        let mut config = TailConfig::new(vec![flow]);
        config.checkpoint_file = Some("/tmp/c.json".into());
        config.validate().unwrap_err()
    }

    #[test]
    fn each_bad_option_is_named() {
        let mut f = flow();
        f.max_buffer_age_millis = 0;
        assert!(matches!(
            error(f),
            ConfigError::OutOfRange {
                field: "maxBufferAgeMillis",
                ..
            }
        ));
        let mut f = flow();
        f.max_buffer_size_bytes = 100;
        assert!(matches!(
            error(f),
            ConfigError::OutOfRange {
                field: "maxBufferSizeBytes",
                ..
            }
        ));
        let mut f = flow();
        f.multi_line_start_pattern = Some("(unclosed".into());
        assert!(matches!(
            error(f),
            ConfigError::Regex {
                field: "multiLineStartPattern",
                ..
            }
        ));
        let mut f = flow();
        f.kinesis_stream = "no spaces".into();
        assert!(matches!(error(f), ConfigError::StreamName { .. }));
        let mut f = flow();
        f.file_pattern = "/var/*/app.log".into();
        assert!(matches!(error(f), ConfigError::FilePattern { .. }));
        let mut f = flow();
        f.truncated_record_terminator = "x".repeat(2 << 20);
        assert!(matches!(
            error(f),
            ConfigError::OutOfRange {
                field: "truncatedRecordTerminator",
                ..
            }
        ));
    }

    #[test]
    fn duplicate_flows_and_no_flows_are_refused() {
        let mut config = TailConfig::new(vec![flow(), flow()]);
        config.checkpoint_file = Some("/tmp/c.json".into());
        assert!(matches!(
            config.validate(),
            Err(ConfigError::DuplicateFlow {
                first: 0,
                second: 1,
                ..
            })
        ));
        assert_eq!(
            TailConfig::new(vec![]).validate(),
            Err(ConfigError::NoFlows)
        );
    }

    #[test]
    fn defaults_are_valid_and_reach_the_producer() {
        let mut config = TailConfig::new(vec![flow()]);
        config.checkpoint_file = Some("/tmp/c.json".into());
        let prepared = config.prepare().unwrap();
        let producer = &prepared.flows[0].producer;
        assert!(producer.validate().is_ok());
        assert_eq!(producer.record_max_buffered_time, Duration::from_secs(1));
        assert_eq!(producer.ordering, kpl::Ordering::PerShard);
        assert_eq!(prepared.flows[0].record_limit, (1 << 20) - MAX_KEY_LEN);
    }
}
