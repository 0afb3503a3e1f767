//! Errors of record retrieval and shard listing.

use std::time::Duration;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error_class::{ErrorClass, classify};

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
    /// A server error (any 5xx), a dropped connection or an SDK-level timeout.
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
    /// A request Kinesis refuses for good (any other 4xx: validation, access denied, ...).
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

    /// Classifies an SDK error by its class and HTTP status; two codes have a meaning of
    /// their own: an expired iterator and a missing stream or shard.
    pub(crate) fn from_sdk<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = DisplayErrorContext(&e).to_string();
        if let SdkError::ServiceError(_) = &e {
            match e.code() {
                Some("ExpiredIteratorException") => {
                    return RetrievalError::ExpiredIterator { operation };
                }
                Some("ResourceNotFoundException") => {
                    return RetrievalError::NotFound { operation, message };
                }
                _ => {}
            }
        }
        match classify(&e) {
            ErrorClass::Throttled => RetrievalError::Throttled { operation, message },
            ErrorClass::Transient => RetrievalError::Transient { operation, message },
            ErrorClass::Refused => RetrievalError::Fatal { operation, message },
        }
    }
}
