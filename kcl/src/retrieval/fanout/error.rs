//! What went wrong with one subscription, told apart by what to do next. SubscribeToShard
//! fails in two places: `send()` returns the service's answer before the stream (what
//! ferrokinesis does, and AWS for most refusals), and the first `recv()` returns an
//! exception sent as the stream's first message (what kinesis-mock does, and AWS for a
//! takeover). Both are classified here the same way.

use std::time::Duration;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardError;
use aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError;

use crate::error_class::is_throttling_code;
use crate::retrieval::RetrievalError;

/// A failed subscription (or a failed attempt at one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FanOutError {
    /// ResourceInUseException: another subscription of this consumer to the shard is
    /// active (normal while a lease moves: the new subscription takes over after 5 s), or
    /// the consumer is not ACTIVE yet.
    #[error("{operation}: resource in use: {message}")]
    InUse {
        operation: &'static str,
        message: String,
    },
    /// No answer (`send()`) or no event (`recv()`) within the event timeout.
    #[error("{waiting_for}: nothing within {timeout:?}")]
    Stalled {
        waiting_for: &'static str,
        timeout: Duration,
    },
    /// Any other failure, classified as for polling.
    #[error(transparent)]
    Kinesis(RetrievalError),
}

impl FanOutError {
    /// Whether subscribing again may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            FanOutError::InUse { .. } | FanOutError::Stalled { .. } => true,
            FanOutError::Kinesis(e) => e.is_retryable(),
        }
    }

    /// ResourceNotFoundException: the shard, the stream or the consumer is missing.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, FanOutError::Kinesis(RetrievalError::NotFound { .. }))
    }

    /// A stall, for the metrics.
    pub(crate) fn is_stall(&self) -> bool {
        matches!(self, FanOutError::Stalled { .. })
    }

    /// An error of `send()`.
    pub(crate) fn from_send(e: SdkError<SubscribeToShardError, HttpResponse>) -> Self {
        if let SdkError::ServiceError(s) = &e
            && s.err().code() == Some("ResourceInUseException")
        {
            return FanOutError::InUse {
                operation: "SubscribeToShard",
                message: DisplayErrorContext(&e).to_string(),
            };
        }
        FanOutError::Kinesis(RetrievalError::from_sdk("SubscribeToShard", e))
    }

    /// An error of `recv()`: an exception in the stream, or a broken stream.
    /// (`R` is the SDK's raw event message, which it does not re-export.)
    pub(crate) fn from_stream<R: std::fmt::Debug>(
        e: SdkError<SubscribeToShardEventStreamError, R>,
    ) -> Self {
        let operation = "SubscribeToShardEvent";
        let message = DisplayErrorContext(&e).to_string();
        let code = match &e {
            SdkError::ServiceError(s) => exception_code(s.err()),
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => {
                return FanOutError::Kinesis(RetrievalError::Transient { operation, message });
            }
            _ => return FanOutError::Kinesis(RetrievalError::Fatal { operation, message }),
        };
        in_stream(operation, code.as_deref(), message)
    }
}

/// The code of an in-stream exception. The SDK leaves `code()` empty for the modelled
/// ones (their metadata carries only the message), so they are told by their variant;
/// an unmodelled one carries its `:exception-type` as its code.
fn exception_code(e: &SubscribeToShardEventStreamError) -> Option<String> {
    use SubscribeToShardEventStreamError as E;
    let modelled = match e {
        E::ResourceInUseException(_) => "ResourceInUseException",
        E::ResourceNotFoundException(_) => "ResourceNotFoundException",
        E::KmsThrottlingException(_) => "KMSThrottlingException",
        E::KmsDisabledException(_) => "KMSDisabledException",
        E::KmsInvalidStateException(_) => "KMSInvalidStateException",
        E::KmsAccessDeniedException(_) => "KMSAccessDeniedException",
        E::KmsNotFoundException(_) => "KMSNotFoundException",
        E::KmsOptInRequired(_) => "KMSOptInRequired",
        E::InternalFailureException(_) => "InternalFailureException",
        other => return other.code().map(str::to_owned),
    };
    Some(modelled.to_owned())
}

/// An exception sent in the stream, by its code (an event stream carries no HTTP status
/// of its own).
fn in_stream(operation: &'static str, code: Option<&str>, message: String) -> FanOutError {
    let error = match code {
        Some("ResourceInUseException") => return FanOutError::InUse { operation, message },
        Some("ResourceNotFoundException") => RetrievalError::NotFound { operation, message },
        Some(c) if is_throttling_code(c) => RetrievalError::Throttled { operation, message },
        // The KMS key is disabled, missing, not allowed or in a bad state: refused for good.
        Some(c) if c.starts_with("KMS") => RetrievalError::Fatal { operation, message },
        // InternalFailureException, and anything unlisted: the stream broke.
        _ => RetrievalError::Transient { operation, message },
    };
    FanOutError::Kinesis(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_stream_exceptions_are_classified_by_code() {
        let m = || "m".to_owned();
        assert!(matches!(
            in_stream("op", Some("ResourceInUseException"), m()),
            FanOutError::InUse { .. }
        ));
        assert!(in_stream("op", Some("ResourceNotFoundException"), m()).is_not_found());
        let throttled = in_stream("op", Some("KMSThrottlingException"), m());
        assert!(matches!(
            throttled,
            FanOutError::Kinesis(RetrievalError::Throttled { .. })
        ));
        let refused = in_stream("op", Some("KMSAccessDeniedException"), m());
        assert!(!refused.is_retryable());
        for code in [Some("InternalFailureException"), Some("SomethingNew"), None] {
            let e = in_stream("op", code, m());
            assert!(e.is_retryable(), "{code:?}");
            assert!(!e.is_not_found());
        }
        // The SDK's modelled in-stream exceptions have no code of their own.
        let in_use = SubscribeToShardEventStreamError::ResourceInUseException(
            aws_sdk_kinesis::types::error::ResourceInUseException::builder()
                .message("m")
                .build(),
        );
        assert_eq!(in_use.code(), None);
        assert_eq!(
            exception_code(&in_use).as_deref(),
            Some("ResourceInUseException")
        );
        let gone = SubscribeToShardEventStreamError::ResourceNotFoundException(
            aws_sdk_kinesis::types::error::ResourceNotFoundException::builder().build(),
        );
        assert!(in_stream("op", exception_code(&gone).as_deref(), m()).is_not_found());
        let stall = FanOutError::Stalled {
            waiting_for: "recv",
            timeout: Duration::from_secs(1),
        };
        assert!(stall.is_retryable() && stall.is_stall());
    }
}
