//! Errors of record retrieval and shard listing.

use std::time::Duration;

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// A Kinesis call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetrievalError {
    /// The shard iterator expired (5 minutes after it was issued).
    #[error("{operation}: the shard iterator expired")]
    ExpiredIterator {
        /// The operation.
        operation: &'static str,
    },
    /// Kinesis throttled the call (ProvisionedThroughputExceeded, LimitExceeded, KMS throttling).
    #[error("{operation}: throttled: {message}")]
    Throttled {
        /// The operation.
        operation: &'static str,
        /// The SDK error.
        message: String,
    },
    /// A server error, a dropped connection or an SDK-level timeout.
    #[error("{operation}: transient failure: {message}")]
    Transient {
        /// The operation.
        operation: &'static str,
        /// The SDK error.
        message: String,
    },
    /// No answer within the request timeout.
    #[error("{operation}: no answer within {timeout:?}")]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// The timeout.
        timeout: Duration,
    },
    /// The stream or shard does not exist (any more).
    #[error("{operation}: stream or shard not found: {message}")]
    NotFound {
        /// The operation.
        operation: &'static str,
        /// The SDK error.
        message: String,
    },
    /// A request Kinesis refuses for good (validation, access denied, ...).
    #[error("{operation}: {message}")]
    Fatal {
        /// The operation.
        operation: &'static str,
        /// The SDK error.
        message: String,
    },
}

impl RetrievalError {
    /// Whether trying again (with a new iterator for an expired one) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RetrievalError::ExpiredIterator { .. }
                | RetrievalError::Throttled { .. }
                | RetrievalError::Transient { .. }
                | RetrievalError::Timeout { .. }
        )
    }

    pub(crate) fn from_sdk<E, R>(operation: &'static str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = e.code().map(str::to_owned);
        let message = DisplayErrorContext(&e).to_string();
        match (&e, code.as_deref()) {
            (SdkError::ServiceError(_), Some("ExpiredIteratorException")) => {
                RetrievalError::ExpiredIterator { operation }
            }
            (
                SdkError::ServiceError(_),
                Some(
                    "ProvisionedThroughputExceededException"
                    | "LimitExceededException"
                    | "KMSThrottlingException"
                    | "ThrottlingException",
                ),
            ) => RetrievalError::Throttled { operation, message },
            (SdkError::ServiceError(_), Some("ResourceNotFoundException")) => {
                RetrievalError::NotFound { operation, message }
            }
            (
                SdkError::ServiceError(_),
                Some("InternalFailure" | "ServiceUnavailable" | "InternalFailureException"),
            )
            | (
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_),
                _,
            ) => RetrievalError::Transient { operation, message },
            _ => RetrievalError::Fatal { operation, message },
        }
    }
}
