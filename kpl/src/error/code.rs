//! What an attempt failed with, typed, and its class: what retrying can do about it.
//!
//! A whole-request error is classified by its HTTP status first (any 5xx is the server's
//! and retried, whatever its code), then by the error's class (the throttling family of
//! codes is retried, a request timeout is retried); any other 4xx is a definite client
//! error and fails the records with its code. A per-entry error of PutRecords has no
//! status: throttling and KMS throttling are retried, the KMS and access families fail,
//! anything else (InternalFailure, and codes Kinesis may add) is retried.

/// What retrying can do about an error.
///
/// ```
/// use kpl::{ErrorClass, ErrorCode};
/// assert_eq!(ErrorCode::from_response(Some(503), Some("AnythingAtAll")).class(), ErrorClass::Transient);
/// assert_eq!(ErrorCode::from_response(Some(400), Some("ThrottlingException")).class(), ErrorClass::Throttling);
/// assert_eq!(ErrorCode::from_response(Some(400), Some("AccessDeniedException")).class(), ErrorClass::Client);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Too much was asked (a shard's limits, an API's rate): retried, later.
    Throttling,
    /// The server failed or the outcome is unknown (5xx, timeouts, resets): retried.
    Transient,
    /// The request itself is refused (validation, access, a missing stream, KMS keys):
    /// retrying cannot help, the records fail with the code.
    Client,
}

/// A service or transport error code, typed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `ProvisionedThroughputExceededException`: the shard's limits were exceeded.
    Throttled,
    /// `InternalFailure` (per entry) or an HTTP 5xx naming it.
    InternalFailure,
    /// `KMSThrottlingException`.
    KmsThrottled,
    /// The request did not complete within the request timeout (it may have succeeded).
    Timeout,
    /// The connection failed or was reset (the request may have succeeded).
    Network,
    /// `ResourceNotFoundException`: the stream does not exist.
    StreamNotFound,
    /// The record was written to a shard its hash key does not belong to and is re-sent.
    WrongShard,
    /// Another error of the throttling class (`ThrottlingException`,
    /// `LimitExceededException`, HTTP 429, ...), as the service named it: retried.
    Throttling(String),
    /// Another server-side or transient error (any HTTP 5xx, `RequestTimeout`, a code
    /// Kinesis may add to per-entry results), as named: retried.
    Transient(String),
    /// A client error retrying cannot fix (HTTP 4xx: validation, access denied, KMS key
    /// errors, ...), as the service named it: the records fail with it.
    Other(String),
}

impl ErrorCode {
    /// The code as Kinesis names it (or a descriptive name for client-side codes).
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Throttled => "ProvisionedThroughputExceededException",
            ErrorCode::InternalFailure => "InternalFailure",
            ErrorCode::KmsThrottled => "KMSThrottlingException",
            ErrorCode::Timeout => "Timeout",
            ErrorCode::Network => "Network",
            ErrorCode::StreamNotFound => "ResourceNotFoundException",
            ErrorCode::WrongShard => "WrongShard",
            ErrorCode::Throttling(code) | ErrorCode::Transient(code) | ErrorCode::Other(code) => {
                code
            }
        }
    }

    /// The code of a whole-request error answered with HTTP `status` and error `code`
    /// (either may be missing: an error body without a type, a response without a status).
    ///
    /// ```
    /// use kpl::ErrorCode;
    /// assert_eq!(ErrorCode::from_response(Some(400), Some("ProvisionedThroughputExceededException")), ErrorCode::Throttled);
    /// assert_eq!(ErrorCode::from_response(Some(500), Some("NewException")), ErrorCode::Transient("NewException".into()));
    /// assert_eq!(ErrorCode::from_response(Some(502), None), ErrorCode::Transient("HTTP 502".into()));
    /// assert!(!ErrorCode::from_response(Some(400), Some("ValidationException")).is_retryable());
    /// ```
    pub fn from_response(status: Option<u16>, code: Option<&str>) -> ErrorCode {
        let name = || code.map_or_else(|| status_name(status), str::to_owned);
        if let Some(known) = code.and_then(known) {
            return known;
        }
        let code_str = code.unwrap_or_default();
        match status {
            Some(429) => ErrorCode::Throttling(name()),
            Some(s) if s >= 500 => ErrorCode::Transient(name()),
            _ if throttling_family(code_str) => ErrorCode::Throttling(name()),
            _ if timeout_family(code_str) => ErrorCode::Transient(name()),
            Some(s) if (400..500).contains(&s) => ErrorCode::Other(name()),
            // No status: nothing says the request was refused.
            _ => ErrorCode::Transient(name()),
        }
    }

    /// The code of one failed PutRecords entry (the request itself succeeded).
    ///
    /// ```
    /// use kpl::ErrorCode;
    /// assert_eq!(ErrorCode::from_entry("InternalFailure"), ErrorCode::InternalFailure);
    /// assert!(ErrorCode::from_entry("SomethingKinesisAddsLater").is_retryable());
    /// assert!(!ErrorCode::from_entry("KMSAccessDeniedException").is_retryable());
    /// ```
    pub fn from_entry(code: &str) -> ErrorCode {
        if let Some(known) = known(code) {
            return known;
        }
        if throttling_family(code) {
            ErrorCode::Throttling(code.to_owned())
        } else if client_family(code) {
            ErrorCode::Other(code.to_owned())
        } else {
            ErrorCode::Transient(code.to_owned())
        }
    }

    /// The code for a service error code string without a status (as a per-entry error).
    ///
    /// ```
    /// use kpl::ErrorCode;
    /// assert_eq!(ErrorCode::from_service("ProvisionedThroughputExceededException"), ErrorCode::Throttled);
    /// assert!(!ErrorCode::from_service("AccessDeniedException").is_retryable());
    /// ```
    pub fn from_service(code: &str) -> ErrorCode {
        ErrorCode::from_entry(code)
    }

    /// What retrying can do about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            ErrorCode::Throttled | ErrorCode::KmsThrottled | ErrorCode::Throttling(_) => {
                ErrorClass::Throttling
            }
            ErrorCode::InternalFailure
            | ErrorCode::Timeout
            | ErrorCode::Network
            | ErrorCode::WrongShard
            | ErrorCode::Transient(_) => ErrorClass::Transient,
            ErrorCode::StreamNotFound | ErrorCode::Other(_) => ErrorClass::Client,
        }
    }

    /// Whether sending again can succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() != ErrorClass::Client
    }
}

/// The codes the producer acts on by name (the limiter, the shard map): identities, not
/// classes.
fn known(code: &str) -> Option<ErrorCode> {
    match code {
        "ProvisionedThroughputExceededException" => Some(ErrorCode::Throttled),
        "KMSThrottlingException" => Some(ErrorCode::KmsThrottled),
        "ResourceNotFoundException" => Some(ErrorCode::StreamNotFound),
        "InternalFailure" | "InternalFailureException" => Some(ErrorCode::InternalFailure),
        _ => None,
    }
}

/// The throttling family: `*Throttl*`, `*LimitExceeded*`, `*TooManyRequests*`,
/// `*ThroughputExceeded*`, `SlowDown`.
fn throttling_family(code: &str) -> bool {
    [
        "Throttl",
        "LimitExceeded",
        "TooManyRequests",
        "ThroughputExceeded",
        "SlowDown",
    ]
    .iter()
    .any(|family| code.contains(family))
}

/// The timeout family: `RequestTimeout`, `RequestTimeoutException`, `*TimedOut*`.
fn timeout_family(code: &str) -> bool {
    code.starts_with("RequestTimeout") || code.contains("TimedOut")
}

/// The client family of per-entry codes: KMS key errors, access, validation, not found.
fn client_family(code: &str) -> bool {
    code.starts_with("KMS")
        || [
            "AccessDenied",
            "Validation",
            "NotFound",
            "Invalid",
            "Unrecognized",
        ]
        .iter()
        .any(|family| code.contains(family))
}

/// `HTTP 502` for a response without an error type.
fn status_name(status: Option<u16>) -> String {
    status.map_or_else(|| "Unknown".to_owned(), |s| format!("HTTP {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_decides_then_the_class_of_the_code() {
        let r = ErrorCode::from_response;
        for status in [500, 501, 502, 503, 504, 599] {
            for code in [None, Some("X"), Some("ValidationException")] {
                assert_eq!(r(Some(status), code).class(), ErrorClass::Transient);
            }
        }
        assert_eq!(
            r(Some(500), Some("InternalFailure")),
            ErrorCode::InternalFailure
        );
        for code in [
            "ThrottlingException",
            "LimitExceededException",
            "RequestLimitExceeded",
        ] {
            assert_eq!(r(Some(400), Some(code)), ErrorCode::Throttling(code.into()));
        }
        assert_eq!(r(Some(429), None), ErrorCode::Throttling("HTTP 429".into()));
        assert_eq!(
            r(Some(400), Some("RequestTimeout")).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            r(Some(408), Some("RequestTimeoutException")).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            r(Some(400), Some("ProvisionedThroughputExceededException")),
            ErrorCode::Throttled
        );
        assert_eq!(
            r(Some(400), Some("KMSThrottlingException")),
            ErrorCode::KmsThrottled
        );
        assert_eq!(
            r(Some(400), Some("ResourceNotFoundException")),
            ErrorCode::StreamNotFound
        );
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "KMSDisabledException",
            "X",
        ] {
            assert_eq!(r(Some(400), Some(code)), ErrorCode::Other(code.into()));
        }
        assert_eq!(r(Some(403), None), ErrorCode::Other("HTTP 403".into()));
        assert_eq!(r(None, None).class(), ErrorClass::Transient);
    }

    #[test]
    fn per_entry_codes_are_retried_unless_of_the_client_family() {
        let e = ErrorCode::from_entry;
        assert_eq!(
            e("ProvisionedThroughputExceededException"),
            ErrorCode::Throttled
        );
        assert_eq!(e("InternalFailure"), ErrorCode::InternalFailure);
        assert_eq!(e("KMSThrottlingException").class(), ErrorClass::Throttling);
        assert_eq!(
            e("SomethingNew"),
            ErrorCode::Transient("SomethingNew".into())
        );
        for code in [
            "KMSAccessDeniedException",
            "KMSNotFoundException",
            "KMSInvalidStateException",
            "KMSOptInRequired",
            "AccessDeniedException",
        ] {
            assert_eq!(e(code).class(), ErrorClass::Client, "{code}");
        }
    }
}
