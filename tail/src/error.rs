//! The errors that stop `run`.

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;

/// Why the agent stopped (or could not start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TailError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The checkpoint file cannot be used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A flow's stream does not exist.
    #[error("stream {stream} not found")]
    StreamNotFound {
        /// The stream.
        stream: String,
    },
    /// Kinesis could not be asked about a stream (no credentials, access denied, network).
    #[error("cannot describe stream {stream}: {message}")]
    Kinesis {
        /// The stream.
        stream: String,
        /// The SDK's message.
        message: String,
        /// Whether trying again may succeed (network, throttling, 5xx).
        retryable: bool,
    },
    /// Kinesis refused a record for a reason retrying cannot fix (access denied, stream
    /// deleted). Its line and everything after it stay unacknowledged: a restart sends them.
    #[error("stream {stream}: a record of {path} was refused: {message}")]
    Put {
        /// The stream.
        stream: String,
        /// The file.
        path: String,
        /// The producer's error.
        message: String,
    },
    /// The producer could not be built from the flow's settings.
    #[error("producer configuration: {0}")]
    Producer(#[from] kpl::ConfigError),
}

impl TailError {
    /// Whether running again, unchanged, may succeed.
    ///
    /// ```
    /// // Guarantee shown: configuration mistakes are final, network trouble is not.
    /// use kinesis_tail::{ConfigError, TailError};
    /// assert!(!TailError::Config(ConfigError::NoFlows).is_retryable());
    /// let network = TailError::Kinesis { stream: "s".into(), message: "timeout".into(), retryable: true };
    /// assert!(network.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            TailError::Config(e) => e.is_retryable(),
            TailError::Checkpoint(e) => e.is_retryable(),
            TailError::Kinesis { retryable, .. } => *retryable,
            TailError::StreamNotFound { .. } | TailError::Put { .. } | TailError::Producer(_) => {
                false
            }
        }
    }
}
