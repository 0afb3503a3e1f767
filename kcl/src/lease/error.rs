//! Errors of the lease table.

use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::codec::LeaseDecodeError;

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
    /// A server error, a dropped connection or an SDK-level timeout: worth retrying.
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
    /// A request DynamoDB refuses for good (validation, access denied, ...).
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

    /// Classifies an SDK error.
    pub(crate) fn from_sdk<E, R>(operation: &'static str, table: &str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = e.code().map(str::to_owned);
        let message = DisplayErrorContext(&e).to_string();
        match (&e, code.as_deref()) {
            (SdkError::ServiceError(_), Some("ConditionalCheckFailedException")) => {
                LeaseStoreError::ConditionFailed { operation }
            }
            (SdkError::ServiceError(_), Some("ResourceNotFoundException")) => {
                LeaseStoreError::TableMissing {
                    operation,
                    table: table.to_owned(),
                }
            }
            (
                SdkError::ServiceError(_),
                Some(
                    "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "Throttling",
                ),
            ) => LeaseStoreError::Throttled { operation, message },
            (
                SdkError::ServiceError(_),
                Some(
                    "InternalServerError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
                    | "ReplicatedWriteConflictException",
                ),
            )
            | (
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_),
                _,
            ) => LeaseStoreError::Transient { operation, message },
            _ => LeaseStoreError::Fatal { operation, message },
        }
    }
}
