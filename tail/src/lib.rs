//! `kinesis tail`: the Kinesis Agent's job (ship log files to a Kinesis data stream) as a
//! library, without the Agent's gaps.
//!
//! - **Flows** with the Agent's option names (`filePattern`, `kinesisStream`,
//!   `initialPosition`, `maxBufferAgeMillis`, `maxBufferSizeRecords`, `maxBufferSizeBytes`,
//!   `partitionKeyOption`, `skipHeaderLines`, `multiLineStartPattern`,
//!   `truncatedRecordTerminator`, `dataProcessingOptions`), from TOML or JSON
//!   ([`TailConfig`]) or from flags ([`TailArgs`]), checked with typed errors ([`ConfigError`]).
//! - **Rotation**: files are known by device + inode plus fingerprints of their bytes (the
//!   first KiB and the 256 bytes before the read position), so rename rotation, new
//!   (timestamped) files, copytruncate (the copy is recognized and read on from where the
//!   original was) and a file truncated and refilled (which the Agent misses) are all
//!   followed. Directories are polled (`pollIntervalMillis`, default 250 ms; no inotify).
//! - **Checkpoints** per file in one local file, written atomically, advanced only over
//!   lines whose records were all acknowledged, in order: after a crash, nothing is lost and
//!   only lines after the last checkpoint are sent twice.
//! - **Bounded memory**: the producer's bounds (`maxOutstandingRecords`,
//!   `maxOutstandingBytes`); reading waits for room. Lines longer than the record limit are
//!   cut with the terminator and counted.
//! - **Processing**: `SINGLELINE`, `CSVTOJSON`, `LOGTOJSON` (`COMMONAPACHELOG`,
//!   `COMBINEDAPACHELOG`, `APACHEERRORLOG`, `SYSLOG`, `RFC3339SYSLOG`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Guarantee shown: one call runs every flow until the signal, then returns per-file counts.
//! let config = kinesis_tail::TailConfig::from_path("/etc/kinesis-tail.toml".as_ref())?;
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let summary = kinesis_tail::run(config, aws_sdk_kinesis::Client::new(&sdk), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! }).await?;
//! for flow in &summary.flows {
//!     for file in &flow.files {
//!         println!("{}: {} lines, {} sent, {} truncated", file.path.display(), file.lines_read, file.records_sent, file.records_truncated);
//!     }
//! }
//! # Ok(()) }
//! ```

mod board;
mod checkpoint;
mod config;
mod deliver;
mod discovery;
mod error;
mod flow;
mod framing;
mod glob;
mod identity;
mod ledger;
mod processing;
mod reader;
mod record;
mod resume;
mod run;
mod source;
mod stats;
mod tracker;

pub use checkpoint::CheckpointError;
pub use config::{
    ConfigError, FlowConfig, InitialPosition, LogFormat, OnParseFailure, PartitionKeyOption,
    PositionArg, ProcessingOption, SingleLineOption, TailArgs, TailConfig,
};
pub use error::TailError;
pub use run::run;
pub use stats::{FileSummary, FlowSummary, Summary, names as metric_names};
