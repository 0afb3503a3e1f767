//! Counters per file and the summary `run` returns; each count also goes to the `metrics`
//! crate (`TailLinesRead`, `TailRecordsSent`, `TailRecordsFailed`, `TailRecordsTruncated`,
//! `TailRecordsSkipped`, with a `stream` label), like the producer's metrics.

use std::path::PathBuf;

use serde::Serialize;

/// Metric names.
pub mod names {
    /// Lines read from files.
    pub const LINES_READ: &str = "TailLinesRead";
    /// Records acknowledged by Kinesis.
    pub const RECORDS_SENT: &str = "TailRecordsSent";
    /// Records given up on (invalid for Kinesis).
    pub const RECORDS_FAILED: &str = "TailRecordsFailed";
    /// Records cut to the record limit.
    pub const RECORDS_TRUNCATED: &str = "TailRecordsTruncated";
    /// Records not sent: `LOGTOJSON` found no record of its format.
    pub const RECORDS_SKIPPED: &str = "TailRecordsSkipped";
}

/// What happened to one file's content (a file truncated and refilled counts as two).
///
/// ```
/// // Guarantee shown: every line read is accounted for as sent, skipped, a header or
/// // still in flight; failures and truncations are counted apart.
/// let f = kinesis_tail::FileSummary::default();
/// assert_eq!(f.lines_read, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// The file's last known path.
    pub path: PathBuf,
    /// Lines read (header lines included).
    pub lines_read: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Records handed to the producer.
    pub records_put: u64,
    /// Records acknowledged.
    pub records_sent: u64,
    /// Records given up on.
    pub records_failed: u64,
    /// Records cut to the record limit (with the terminator).
    pub records_truncated: u64,
    /// Records `LOGTOJSON` could not parse and did not send.
    pub records_skipped: u64,
    /// Header lines skipped.
    pub header_lines: u64,
    /// The offset acknowledged up to.
    pub committed_offset: u64,
    /// Times the content of this file was found truncated or replaced.
    pub truncations: u64,
    /// Whether the rest of the content could not be read (truncated with no copy found,
    /// or rotated away while the agent was down and not found again).
    pub lost: bool,
}

/// What one flow did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowSummary {
    /// The flow's key (`kinesis:STREAM:PATTERN`).
    pub flow: String,
    /// Each file seen, in the order first seen.
    pub files: Vec<FileSummary>,
}

/// What `run` did, per flow and file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The flows.
    pub flows: Vec<FlowSummary>,
}

impl Summary {
    /// Lines read over every file.
    pub fn lines_read(&self) -> u64 {
        self.files().map(|f| f.lines_read).sum()
    }

    /// Records acknowledged over every file.
    pub fn records_sent(&self) -> u64 {
        self.files().map(|f| f.records_sent).sum()
    }

    /// Records given up on over every file.
    pub fn records_failed(&self) -> u64 {
        self.files().map(|f| f.records_failed).sum()
    }

    /// Records truncated over every file.
    pub fn records_truncated(&self) -> u64 {
        self.files().map(|f| f.records_truncated).sum()
    }

    fn files(&self) -> impl Iterator<Item = &FileSummary> {
        self.flows.iter().flat_map(|f| &f.files)
    }
}

/// Adds to a file's counter and to the metric of the same meaning.
pub(crate) fn count(stream: &str, name: &'static str, field: &mut u64, n: u64) {
    *field += n;
    if n > 0 {
        metrics::counter!(name, "stream" => stream.to_owned()).increment(n);
    }
}
