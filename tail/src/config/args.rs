//! The command-line form: `kinesis tail --stream S 'logs/*.log'` or `--config FILE`.

use std::path::PathBuf;

use super::{
    ConfigError, FlowConfig, InitialPosition, LogFormat, OnParseFailure, PartitionKeyOption,
    ProcessingOption, TailConfig,
};

/// Where files present at the first start are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PositionArg {
    /// From their first byte (`START_OF_FILE`).
    Start,
    /// After their last complete line (`END_OF_FILE`).
    End,
}

/// The arguments of `kinesis tail`: one flow per file pattern from flags, or the flows of a
/// configuration file (TOML or JSON, the Kinesis Agent's option names).
///
/// ```
/// // Guarantee shown: flags make the same validated configuration a file would.
/// use clap::Parser;
/// #[derive(clap::Parser)]
/// struct Cli { #[command(flatten)] tail: kinesis_tail::TailArgs }
/// let cli = Cli::parse_from(["kinesis-tail", "--stream", "logs", "--from", "start",
///     "--checkpoint-file", "/tmp/ckpt.json", "/var/log/app/*.log"]);
/// let config = cli.tail.to_config().unwrap();
/// assert_eq!(config.flows[0].kinesis_stream, "logs");
/// assert_eq!(config.flows[0].initial_position, kinesis_tail::InitialPosition::StartOfFile);
/// ```
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    kinesis tail --stream logs 'logs/*.log'\n  \
    kinesis tail --stream access --log-format COMBINEDAPACHELOG '/var/log/nginx/access.log'\n  \
    kinesis tail --config /etc/kinesis-tail.toml\n\n\
    Quote patterns: the agent expands them itself, and keeps doing so as files appear.")]
pub struct TailArgs {
    /// File patterns, one flow each: a directory and a file-name glob.
    #[arg(value_name = "PATTERN", required_unless_present = "config")]
    pub patterns: Vec<String>,
    /// The stream the patterns' lines go to.
    #[arg(long, short = 's', required_unless_present = "config")]
    pub stream: Option<String>,
    /// A configuration file with flows (TOML or JSON, the Kinesis Agent's names).
    #[arg(long, short = 'c', conflicts_with_all = ["patterns", "stream"])]
    pub config: Option<PathBuf>,
    /// The checkpoint file (overrides the configuration's `checkpointFile`).
    #[arg(long)]
    pub checkpoint_file: Option<PathBuf>,
    /// Where files present at the first start are read from.
    #[arg(long, value_enum, default_value = "end")]
    pub from: PositionArg,
    /// Partition keys: the MD5 of each record instead of random keys.
    #[arg(long)]
    pub deterministic_keys: bool,
    /// A record starts at each line this regular expression matches.
    #[arg(long, value_name = "REGEX")]
    pub multi_line_start: Option<String>,
    /// Lines skipped at the start of each file.
    #[arg(long, default_value_t = 0)]
    pub skip_header_lines: usize,
    /// Lines to JSON: COMMONAPACHELOG, COMBINEDAPACHELOG, APACHEERRORLOG, SYSLOG, RFC3339SYSLOG.
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
    /// Delimited lines to JSON with these comma-separated field names.
    #[arg(long, value_name = "NAMES", conflicts_with = "log_format")]
    pub csv_fields: Option<String>,
    /// The delimiter of --csv-fields (a regular expression).
    #[arg(long, default_value = ",", requires = "csv_fields")]
    pub csv_delimiter: String,
    /// How often files are looked at, in ms.
    #[arg(long, value_name = "MS")]
    pub poll_interval_ms: Option<u64>,
    /// Longest time a record waits to be sent, in ms.
    #[arg(long, value_name = "MS")]
    pub max_buffer_age_ms: Option<u64>,
    /// How long a rotated-away file is kept open after it stopped growing, in ms.
    #[arg(long, value_name = "MS")]
    pub rotated_file_idle_ms: Option<u64>,
    /// How often the checkpoint file is written, in ms.
    #[arg(long, value_name = "MS")]
    pub checkpoint_interval_ms: Option<u64>,
    /// How long a shutdown waits for records in flight, in ms.
    #[arg(long, value_name = "MS")]
    pub shutdown_timeout_ms: Option<u64>,
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    serde_json::from_value(serde_json::Value::String(text.to_ascii_uppercase()))
        .map_err(|_| format!("{text:?} is not one of COMMONAPACHELOG, COMBINEDAPACHELOG, APACHEERRORLOG, SYSLOG, RFC3339SYSLOG"))
}

impl TailArgs {
    /// The validated configuration these arguments describe.
    pub fn to_config(&self) -> Result<TailConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => TailConfig::from_path(path)?,
            None => TailConfig::new(self.flows()),
        };
        if let Some(path) = &self.checkpoint_file {
            config.checkpoint_file = Some(path.clone());
        }
        if let Some(ms) = self.checkpoint_interval_ms {
            config.checkpoint_interval_millis = ms;
        }
        if let Some(ms) = self.shutdown_timeout_ms {
            config.shutdown_timeout_millis = ms;
        }
        config.validate()?;
        Ok(config)
    }

    fn flows(&self) -> Vec<FlowConfig> {
        let stream = self.stream.clone().unwrap_or_default();
        self.patterns
            .iter()
            .map(|p| self.flow(p, &stream))
            .collect()
    }

    fn flow(&self, pattern: &str, stream: &str) -> FlowConfig {
        let mut flow = FlowConfig::new(pattern, stream);
        flow.initial_position = match self.from {
            PositionArg::Start => InitialPosition::StartOfFile,
            PositionArg::End => InitialPosition::EndOfFile,
        };
        if self.deterministic_keys {
            flow.partition_key_option = PartitionKeyOption::Deterministic;
        }
        flow.multi_line_start_pattern = self.multi_line_start.clone();
        flow.skip_header_lines = self.skip_header_lines;
        if let Some(format) = self.log_format {
            flow.data_processing_options
                .push(ProcessingOption::LogToJson {
                    log_format: format,
                    match_pattern: None,
                    custom_field_names: None,
                    on_parse_failure: OnParseFailure::Skip,
                });
        }
        if let Some(names) = &self.csv_fields {
            flow.data_processing_options
                .push(ProcessingOption::CsvToJson {
                    custom_field_names: names.split(',').map(|n| n.trim().to_owned()).collect(),
                    delimiter: self.csv_delimiter.clone(),
                });
        }
        let set = |target: &mut u64, value: Option<u64>| *target = value.unwrap_or(*target);
        set(&mut flow.poll_interval_millis, self.poll_interval_ms);
        set(&mut flow.max_buffer_age_millis, self.max_buffer_age_ms);
        set(
            &mut flow.rotated_file_idle_millis,
            self.rotated_file_idle_ms,
        );
        flow
    }
}
