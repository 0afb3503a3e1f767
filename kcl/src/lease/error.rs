//! Errors of the lease table.

use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::codec::LeaseDecodeError;
use crate::error_class::{ErrorClass, classify};

/// A lease table operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseStoreError {
    /// The conditional write was refused: someone else changed the lease (or the item
    /// exists / does not exist).
    #[error("{operation}: the lease changed under us (conditional check failed)")]
    ConditionFailed {
        /// The operation.
        operation: &'static str,
    },
    /// The lease table does not exist.
    #[error("{operation}: lease table {table} does not exist")]
    TableMissing {
        /// The operation.
        operation: &'static str,
        /// The table.
        table: String,
    },
    /// DynamoDB throttled the request.
    #[error("{operation}: throttled: {message}")]
    Throttled {
        /// The operation.
        operation: &'static str,
        /// The SDK error.
        message: String,
    },
    /// A server error (any 5xx), a dropped connection or an SDK-level timeout: worth
    /// retrying; the write may have been applied.
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
    /// A request DynamoDB refuses for good (any other 4xx: validation, access denied, an
    /// expired token, ...).
    #[error("{operation}: {message}")]
    Fatal {
        /// The operation.
        operation: &'static str,
        /// The SDK error.
        message: String,
    },
    /// An item of the table is not a readable lease.
    #[error("lease {key}: {source}")]
    Decode {
        /// The item's leaseKey, or `?`.
        key: String,
        /// What is wrong.
        source: LeaseDecodeError,
    },
}

impl LeaseStoreError {
    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LeaseStoreError::Throttled { .. }
                | LeaseStoreError::Transient { .. }
                | LeaseStoreError::Timeout { .. }
        )
    }

    /// Whether the lease changed under us (a failed condition).
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, LeaseStoreError::ConditionFailed { .. })
    }

    /// Whether the write may have been applied although it failed (a server error, no
    /// answer in time, a dropped connection): the table has to be read to know.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            LeaseStoreError::Transient { .. } | LeaseStoreError::Timeout { .. }
        )
    }

    /// Classifies an SDK error by its class and HTTP status; two codes have a meaning of
    /// their own: a failed condition and a missing table.
    pub(crate) fn from_sdk<E>(
        operation: &'static str,
        table: &str,
        e: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if let SdkError::ServiceError(_) = &e {
            match e.code() {
                Some("ConditionalCheckFailedException") => {
                    return LeaseStoreError::ConditionFailed { operation };
                }
                Some("ResourceNotFoundException") => {
                    return LeaseStoreError::TableMissing {
                        operation,
                        table: table.to_owned(),
                    };
                }
                _ => {}
            }
        }
        let message = DisplayErrorContext(&e).to_string();
        match classify(&e) {
            ErrorClass::Throttled => LeaseStoreError::Throttled { operation, message },
            ErrorClass::Transient => LeaseStoreError::Transient { operation, message },
            ErrorClass::Refused => LeaseStoreError::Fatal { operation, message },
        }
    }
}
