//! One failed AWS call, classified: by the SDK's error class first (no answer, no
//! connection, a broken response), then for service errors by HTTP status and the AWS
//! error code's class (throttling, not found, in use, access, arguments).

use std::time::Duration;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

/// What kind of failure a call had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Throttling or a rate limit (ProvisionedThroughputExceeded, LimitExceeded, 429).
    Throttled,
    /// A 5xx, or a response cut off: the request may have been carried out.
    Transient,
    /// No answer in time: the request may have been carried out.
    Timeout,
    /// The connection could not be made: the request was not sent.
    CannotConnect,
    /// The stream, shard or table does not exist.
    NotFound,
    /// The resource exists already or is being changed.
    InUse,
    /// The caller may not do this.
    AccessDenied,
    /// The credentials were refused.
    BadCredentials,
    /// The shard iterator expired.
    ExpiredIterator,
    /// The request's arguments were refused.
    InvalidArgument,
    /// Anything else.
    Other,
}

/// A failed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The class.
    pub(crate) kind: FailureKind,
    /// The API operation.
    pub(crate) operation: &'static str,
    /// The service's message, or the innermost cause.
    pub(crate) message: String,
    /// Attempts made (set by the retry loop).
    pub(crate) attempts: u32,
    /// The timeout, for [`FailureKind::Timeout`].
    pub(crate) timeout: Option<Duration>,
}

impl Failure {
    /// No answer within `timeout`.
    pub(crate) fn timeout(operation: &'static str, timeout: Duration) -> Failure {
        Failure {
            kind: FailureKind::Timeout,
            operation,
            message: format!("no answer within {timeout:?}"),
            attempts: 1,
            timeout: Some(timeout),
        }
    }

    /// Classifies an SDK error of `operation`.
    pub(crate) fn from_sdk<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (kind, message) = match &e {
            SdkError::TimeoutError(_) => (FailureKind::Timeout, innermost(&e)),
            SdkError::DispatchFailure(_) if connecting(&e) => {
                (FailureKind::CannotConnect, innermost(&e))
            }
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() || d.is_other() => {
                (FailureKind::Transient, innermost(&e))
            }
            SdkError::ResponseError(_) => (FailureKind::Transient, innermost(&e)),
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = s.err().code().unwrap_or_default();
                let message = s.err().message().unwrap_or(code).to_owned();
                (service_kind(status, code), message)
            }
            _ => (FailureKind::Other, innermost(&e)),
        };
        Failure {
            kind,
            operation,
            message,
            attempts: 1,
            timeout: None,
        }
    }

    /// Whether the request can be sent again at all: throttling, rate limits and
    /// connection failures never reached the service's effect; 5xx and timeouts may have,
    /// so only idempotent requests retry them.
    pub(crate) fn is_retryable(&self, idempotent: bool) -> bool {
        match self.kind {
            FailureKind::Throttled | FailureKind::CannotConnect => true,
            FailureKind::Transient | FailureKind::Timeout => idempotent,
            _ => false,
        }
    }
}

/// The class of a service error from its HTTP status and AWS error code. Codes are
/// matched by their class's suffix or name, as AWS spells them across services
/// (`...ThroughputExceededException`, `ThrottlingException`, `...NotFoundException`).
fn service_kind(status: u16, code: &str) -> FailureKind {
    // DynamoDB prefixes codes with a namespace: `com.amazonaws.dynamodb.v20120810#...`.
    let code = code.rsplit('#').next().unwrap_or(code);
    match code {
        "ExpiredIteratorException" => FailureKind::ExpiredIterator,
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId" => FailureKind::BadCredentials,
        _ if code.contains("Throttl")
            || code.ends_with("ThroughputExceededException")
            || code == "LimitExceededException"
            || code == "RequestLimitExceeded"
            || status == 429 =>
        {
            FailureKind::Throttled
        }
        _ if code.ends_with("NotFoundException") => FailureKind::NotFound,
        "ResourceInUseException" => FailureKind::InUse,
        _ if code.starts_with("AccessDenied") || status == 403 => FailureKind::AccessDenied,
        "InvalidArgumentException" | "ValidationException" => FailureKind::InvalidArgument,
        _ if status >= 500 => FailureKind::Transient,
        _ => FailureKind::Other,
    }
}

/// Whether a dispatch failure happened while connecting (the request was not sent): the
/// connector's connect errors (hyper-util names them `tcp connect error` and `dns error`),
/// or an I/O error that only a connect can have. A reset or a closed connection after the
/// request went out is not this: the service may have acted on it.
fn connecting(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;
    let mut next = Some(e);
    while let Some(current) = next {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            )
        {
            return true;
        }
        let text = current.to_string();
        if text.starts_with("tcp connect error")
            || text.starts_with("dns error")
            || text.starts_with("client error (Connect)")
        {
            return true;
        }
        next = current.source();
    }
    false
}

/// The innermost cause of an error, which says what happened (`Connection refused (os
/// error 111)`), rather than the SDK's outer `dispatch failure`.
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_are_classified_by_status_and_code_class() {
        use FailureKind::*;
        let cases = [
            (400, "ProvisionedThroughputExceededException", Throttled),
            (
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                Throttled,
            ),
            (400, "ThrottlingException", Throttled),
            (400, "LimitExceededException", Throttled),
            (429, "Whatever", Throttled),
            (400, "ResourceNotFoundException", NotFound),
            (400, "ResourceInUseException", InUse),
            (400, "AccessDeniedException", AccessDenied),
            (403, "Forbidden", AccessDenied),
            (400, "UnrecognizedClientException", BadCredentials),
            (403, "InvalidSignatureException", BadCredentials),
            (400, "ExpiredIteratorException", ExpiredIterator),
            (400, "InvalidArgumentException", InvalidArgument),
            (500, "InternalFailure", Transient),
            (503, "SomethingNew", Transient),
            (400, "KMSDisabledException", Other),
        ];
        for (status, code, kind) in cases {
            assert_eq!(service_kind(status, code), kind, "{status} {code}");
        }
    }

    #[test]
    fn only_idempotent_requests_retry_what_may_have_been_carried_out() {
        let mut f = Failure::timeout("CreateStream", Duration::from_secs(1));
        assert!(!f.is_retryable(false));
        assert!(f.is_retryable(true));
        f.kind = FailureKind::Throttled;
        assert!(f.is_retryable(false));
        f.kind = FailureKind::NotFound;
        assert!(!f.is_retryable(true));
    }
}
