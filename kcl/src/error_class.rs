//! What kind of failure an AWS SDK error is, judged by its class (service error, timeout,
//! dispatch or response failure), its HTTP status and whether its code is a throttling
//! code, the way the SDK's own retry classifiers judge it: never by a list of every code a
//! service might return.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// The kind of an SDK failure.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// The service refused the request for load (throttling codes, HTTP 429): not applied,
    /// worth retrying after a pause.
    Throttled,
    /// A server error (HTTP 5xx, whatever its code) or a request without an answer
    /// (timeout, dropped connection, unreadable response): the request may or may not
    /// have been applied; worth retrying.
    Transient,
    /// The service refused the request for good (any other 4xx), or it could not be built.
    Refused,
}

/// Error codes that mean "slow down" in every AWS service (the set the SDKs' retry
/// classifiers share).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "KMSThrottlingException",
];

/// Whether `code` is a throttling code.
pub(crate) fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// The class of a failure with error `code` and HTTP `status` (a service answer).
pub(crate) fn classify_answer(code: Option<&str>, status: u16) -> ErrorClass {
    if status == 429 || code.is_some_and(is_throttling_code) {
        ErrorClass::Throttled
    } else if status >= 500 {
        ErrorClass::Transient
    } else {
        ErrorClass::Refused
    }
}

/// The class of an SDK error (the Kinesis and DynamoDB SDKs share these types).
pub(crate) fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> ErrorClass {
    match e {
        SdkError::ServiceError(service) => {
            classify_answer(service.err().code(), service.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Transient
        }
        _ => ErrorClass::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_by_code_or_429_server_errors_by_status_the_rest_refused() {
        let t = ErrorClass::Throttled;
        assert_eq!(
            classify_answer(Some("ProvisionedThroughputExceededException"), 400),
            t
        );
        assert_eq!(classify_answer(Some("ThrottlingException"), 400), t);
        assert_eq!(classify_answer(Some("KMSThrottlingException"), 400), t);
        assert_eq!(classify_answer(None, 429), t);
        // A 5xx is transient whatever its code, listed or not.
        for code in [
            Some("InternalServerError"),
            Some("SomethingNobodyListedException"),
            None,
        ] {
            assert_eq!(classify_answer(code, 500), ErrorClass::Transient);
            assert_eq!(classify_answer(code, 503), ErrorClass::Transient);
        }
        for code in [
            "AccessDeniedException",
            "ValidationException",
            "ExpiredTokenException",
            "UnrecognizedClientException",
        ] {
            assert_eq!(
                classify_answer(Some(code), 400),
                ErrorClass::Refused,
                "{code}"
            );
        }
    }
}
