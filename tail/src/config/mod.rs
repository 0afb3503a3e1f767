//! The agent's configuration: flows with the Kinesis Agent's option names (and a few of our
//! own where the Agent has none), loaded from TOML or JSON or built from command-line flags.

mod args;
mod error;
mod load;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use args::{PositionArg, TailArgs};
pub use error::ConfigError;
pub(crate) use validate::{PreparedFlow, regex_error};

/// Where a file seen for the first time starts to be read.
///
/// Applies only to files present when a flow first starts (no checkpoint of the flow yet);
/// files that appear later are always read from their start, as are files that appeared
/// while the agent was down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InitialPosition {
    /// From the first byte.
    StartOfFile,
    /// After the last complete line (the Agent's default).
    #[default]
    EndOfFile,
}

/// How a record's partition key is chosen (the Agent's `partitionKeyOption`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PartitionKeyOption {
    /// A random key per record: records spread evenly over the shards (the Agent's default).
    #[default]
    Random,
    /// The lowercase hex MD5 of the record's data as sent (after processing and
    /// truncation): identical records go to the same shard.
    Deterministic,
}

/// A log format of `LOGTOJSON` (the Agent's `logFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogFormat {
    /// Apache common log format: host, ident, authuser, datetime, request, response, bytes.
    #[serde(rename = "COMMONAPACHELOG")]
    CommonApacheLog,
    /// Apache combined log format: the common fields, then referer and agent.
    #[serde(rename = "COMBINEDAPACHELOG")]
    CombinedApacheLog,
    /// Apache error log: timestamp, module, severity, processid, threadid, client, message.
    #[serde(rename = "APACHEERRORLOG")]
    ApacheErrorLog,
    /// Syslog lines as rsyslog writes them (RFC 3164 timestamps): timestamp, hostname,
    /// program, processid, message.
    #[serde(rename = "SYSLOG")]
    Syslog,
    /// The same with RFC 3339 timestamps.
    #[serde(rename = "RFC3339SYSLOG")]
    Rfc3339Syslog,
}

/// What `LOGTOJSON` does with a line its format does not match (our option `onParseFailure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OnParseFailure {
    /// Send nothing for it, count it as skipped (the Agent's behaviour).
    #[default]
    Skip,
    /// Send the line unchanged.
    SendRaw,
}

/// An option of `SINGLELINE` (the Agent's `parseOptions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SingleLineOption {
    /// Keep each line's leading and trailing whitespace.
    NoTrim,
    /// Join the lines with the two characters `\n` instead of nothing.
    EscapeNewLine,
}

/// One step of `dataProcessingOptions`, applied in order to each record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "optionName", deny_unknown_fields)]
pub enum ProcessingOption {
    /// Joins a multi-line record into one line (each line trimmed unless `NO_TRIM`).
    #[serde(rename = "SINGLELINE", rename_all = "camelCase")]
    SingleLine {
        /// `NO_TRIM`, `ESCAPE_NEW_LINE`.
        #[serde(default)]
        parse_options: Vec<SingleLineOption>,
    },
    /// Delimited values to a JSON object with the given field names.
    #[serde(rename = "CSVTOJSON", rename_all = "camelCase")]
    CsvToJson {
        /// The field names, in column order.
        custom_field_names: Vec<String>,
        /// The delimiter, a regular expression as in the Agent (`,` by default; `\t`, `\|`).
        #[serde(default = "default_delimiter")]
        delimiter: String,
    },
    /// A log line to a JSON object.
    #[serde(rename = "LOGTOJSON", rename_all = "camelCase")]
    LogToJson {
        /// The format.
        log_format: LogFormat,
        /// Our own pattern instead of the format's (then `customFieldNames` names its groups).
        #[serde(default)]
        match_pattern: Option<String>,
        /// Field names replacing the format's (as many as it has).
        #[serde(default)]
        custom_field_names: Option<Vec<String>>,
        /// Our option: what to do with a line that does not match.
        #[serde(default)]
        on_parse_failure: OnParseFailure,
    },
}

fn default_delimiter() -> String {
    ",".to_owned()
}

/// One flow: the files of one pattern to one stream.
///
/// ```
/// // Guarantee shown: Agent-style names and defaults, checked by `validate`.
/// let flow: kinesis_tail::FlowConfig = serde_json::from_str(
///     r#"{"filePattern": "/var/log/app/*.log", "kinesisStream": "logs"}"#).unwrap();
/// assert_eq!(flow.initial_position, kinesis_tail::InitialPosition::EndOfFile);
/// assert_eq!(flow.truncated_record_terminator, "\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowConfig {
    /// Files to ship: a directory (no wildcards) and a file-name glob (`*`, `?`, `[a-z]`,
    /// `{a,b}`). Names ending `.gz`, `.bz2`, `.zip`, `.xz`, `.zst` are never read.
    pub file_pattern: String,
    /// The stream.
    pub kinesis_stream: String,
    /// `START_OF_FILE` or `END_OF_FILE` (default).
    #[serde(default)]
    pub initial_position: InitialPosition,
    /// Longest time a record is buffered before it is sent, in ms. Default 1,000 (the
    /// Agent's is 60,000); 1 to 60,000 (the producer's `RecordMaxBufferedTime` bound).
    #[serde(default = "defaults::buffer_age")]
    pub max_buffer_age_millis: u64,
    /// Most records per PutRecords request. Default 500; 1 to 500.
    #[serde(default = "defaults::buffer_records")]
    pub max_buffer_size_records: usize,
    /// Most bytes per PutRecords request. Default 5 MiB; 52,224 to 5 MiB.
    #[serde(default = "defaults::buffer_bytes")]
    pub max_buffer_size_bytes: usize,
    /// `RANDOM` (default) or `DETERMINISTIC`.
    #[serde(default)]
    pub partition_key_option: PartitionKeyOption,
    /// Lines skipped at the start of each file (CSV headers). Default 0.
    #[serde(default)]
    pub skip_header_lines: usize,
    /// A record starts at each line this regular expression matches at its start; other
    /// lines join the record before them. Default: every line is a record.
    #[serde(default)]
    pub multi_line_start_pattern: Option<String>,
    /// Ends a record cut to the record limit. Default `"\n"`.
    #[serde(default = "defaults::terminator")]
    pub truncated_record_terminator: String,
    /// Processing steps, in order.
    #[serde(default)]
    pub data_processing_options: Vec<ProcessingOption>,
    /// Ours: how often files are looked at (listing, growth, rotation), in ms. Default 250.
    #[serde(default = "defaults::poll")]
    pub poll_interval_millis: u64,
    /// Ours: a file that no longer matches the pattern (rotated away, deleted) is read to its
    /// end and closed once it has not grown for this long, in ms. Default 5,000.
    #[serde(default = "defaults::rotated_idle")]
    pub rotated_file_idle_millis: u64,
    /// Ours: KPL aggregation of records. Default true.
    #[serde(default = "defaults::yes")]
    pub aggregation: bool,
    /// Ours: most records read and not yet acknowledged (the producer's bound). Default 100,000.
    #[serde(default = "defaults::outstanding_records")]
    pub max_outstanding_records: usize,
    /// Ours: most bytes read and not yet acknowledged (the producer's memory bound, each
    /// record counted with its bookkeeping). Default 64 MiB.
    #[serde(default = "defaults::outstanding_bytes")]
    pub max_outstanding_bytes: usize,
}

impl FlowConfig {
    /// A flow with every option at its default.
    ///
    /// ```
    /// // Guarantee shown: a flow from two values is valid as it is.
    /// let flow = kinesis_tail::FlowConfig::new("logs/*.log", "logs");
    /// assert_eq!(flow.poll_interval_millis, 250);
    /// ```
    pub fn new(file_pattern: impl Into<String>, kinesis_stream: impl Into<String>) -> FlowConfig {
        FlowConfig {
            file_pattern: file_pattern.into(),
            kinesis_stream: kinesis_stream.into(),
            initial_position: InitialPosition::default(),
            max_buffer_age_millis: defaults::buffer_age(),
            max_buffer_size_records: defaults::buffer_records(),
            max_buffer_size_bytes: defaults::buffer_bytes(),
            partition_key_option: PartitionKeyOption::default(),
            skip_header_lines: 0,
            multi_line_start_pattern: None,
            truncated_record_terminator: defaults::terminator(),
            data_processing_options: Vec::new(),
            poll_interval_millis: defaults::poll(),
            rotated_file_idle_millis: defaults::rotated_idle(),
            aggregation: true,
            max_outstanding_records: defaults::outstanding_records(),
            max_outstanding_bytes: defaults::outstanding_bytes(),
        }
    }

    /// The flow's key in the checkpoint file: `kinesis:STREAM:PATTERN` (the Agent's flow id).
    pub fn key(&self) -> String {
        format!("kinesis:{}:{}", self.kinesis_stream, self.file_pattern)
    }
}

/// The whole configuration: flows and the agent-wide settings.
///
/// ```
/// // Guarantee shown: the Agent's JSON layout loads as it is; general settings of the Agent
/// // that concern its own AWS plumbing are kept aside, not refused.
/// let config = kinesis_tail::TailConfig::from_json(r#"{
///     "cloudwatch.emitMetrics": false,
///     "checkpointFile": "/tmp/tail-checkpoints.json",
///     "flows": [{"filePattern": "/var/log/app/*.log", "kinesisStream": "logs",
///                "dataProcessingOptions": [{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG"}]}]
/// }"#).unwrap();
/// assert_eq!(config.flows.len(), 1);
/// assert!(config.ignored.contains_key("cloudwatch.emitMetrics"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TailConfig {
    /// The checkpoint file (the Agent's name). Default
    /// `$XDG_STATE_HOME/kinesis-tail/checkpoints.json`, else
    /// `$HOME/.local/state/kinesis-tail/checkpoints.json`.
    #[serde(default)]
    pub checkpoint_file: Option<PathBuf>,
    /// Ours: how often the checkpoint file is rewritten when it changed, in ms. Default 1,000.
    #[serde(default = "defaults::checkpoint_interval")]
    pub checkpoint_interval_millis: u64,
    /// How long a shutdown waits for records in flight, in ms (the Agent's name). Default 10,000.
    #[serde(default = "defaults::shutdown_timeout")]
    pub shutdown_timeout_millis: u64,
    /// The flows.
    pub flows: Vec<FlowConfig>,
    /// Top-level settings of the Agent this crate has no use for (CloudWatch, endpoints,
    /// credentials: the standard AWS configuration applies), kept to be reported.
    #[serde(flatten, skip_serializing)]
    pub ignored: BTreeMap<String, serde_json::Value>,
}

impl TailConfig {
    /// A configuration of `flows` with the default settings.
    pub fn new(flows: Vec<FlowConfig>) -> TailConfig {
        TailConfig {
            checkpoint_file: None,
            checkpoint_interval_millis: defaults::checkpoint_interval(),
            shutdown_timeout_millis: defaults::shutdown_timeout(),
            flows,
            ignored: BTreeMap::new(),
        }
    }
}

mod defaults {
    pub(super) fn buffer_age() -> u64 {
        1_000
    }
    pub(super) fn buffer_records() -> usize {
        500
    }
    pub(super) fn buffer_bytes() -> usize {
        5 * 1024 * 1024
    }
    pub(super) fn terminator() -> String {
        "\n".to_owned()
    }
    pub(super) fn poll() -> u64 {
        250
    }
    pub(super) fn rotated_idle() -> u64 {
        5_000
    }
    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn outstanding_records() -> usize {
        100_000
    }
    pub(super) fn outstanding_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub(super) fn checkpoint_interval() -> u64 {
        1_000
    }
    pub(super) fn shutdown_timeout() -> u64 {
        10_000
    }
}
