//! The typed errors of a configuration.

use std::path::PathBuf;

/// A configuration that cannot be used; every variant names what is wrong and where
/// (`flow` is the flow's index in `flows`, from 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The text does not parse, or a value has the wrong type or name.
    #[error("{format} does not parse: {message}")]
    Parse {
        /// `JSON`, `TOML` or `configuration`.
        format: &'static str,
        /// The parser's message (it names the field).
        message: String,
    },
    /// No flow is configured.
    #[error("no flows: give a stream and file patterns, or a configuration with flows")]
    NoFlows,
    /// Something this crate does not do.
    #[error("flow {flow}: {what} is not supported")]
    Unsupported {
        /// The flow.
        flow: usize,
        /// What.
        what: String,
    },
    /// A number outside its range.
    #[error("flow {flow}: {field} = {value} is outside {range}")]
    OutOfRange {
        /// The flow.
        flow: usize,
        /// The option.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The accepted range.
        range: &'static str,
    },
    /// `filePattern` cannot be used.
    #[error("flow {flow}: filePattern {pattern:?}: {reason}")]
    FilePattern {
        /// The flow.
        flow: usize,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A regular expression does not compile.
    #[error("flow {flow}: {field} {pattern:?} is not a valid regular expression: {message}")]
    Regex {
        /// The flow.
        flow: usize,
        /// `multiLineStartPattern`, `delimiter` or `matchPattern`.
        field: &'static str,
        /// The expression.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// `customFieldNames` does not fit the log format (or is missing with `matchPattern`).
    #[error("flow {flow}: customFieldNames has {given} names, the format has {expected} fields")]
    FieldNames {
        /// The flow.
        flow: usize,
        /// Fields of the format (or groups of `matchPattern`).
        expected: usize,
        /// Names given.
        given: usize,
    },
    /// The stream name is not a Kinesis stream name.
    #[error("flow {flow}: kinesisStream {0:?} is not 1 to 128 characters of [a-zA-Z0-9_.-]", .name)]
    StreamName {
        /// The flow.
        flow: usize,
        /// The name.
        name: String,
    },
    /// Two flows have the same stream and pattern (they would share checkpoints).
    #[error("flows {first} and {second} both send {key}")]
    DuplicateFlow {
        /// The first.
        first: usize,
        /// The second.
        second: usize,
        /// Their key.
        key: String,
    },
    /// No checkpoint file is configured and no default location exists.
    #[error("no checkpoint file: set checkpointFile (--checkpoint-file), HOME or XDG_STATE_HOME")]
    NoCheckpointFile,
}

impl ConfigError {
    /// A configuration error never goes away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
