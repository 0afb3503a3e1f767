//! What can stop a command, each with a message a person can act on (one line, printed
//! by `main` as `kinesis: error: ...`, exit status 1).

use std::time::Duration;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// No region from `--region`, the environment or the profile.
    #[error("no AWS region: set AWS_REGION (or a profile's region), or pass --region")]
    NoRegion,
    /// The credential chain found nothing.
    #[error(
        "no AWS credentials ({detail}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --profile (for local servers any values do)"
    )]
    NoCredentials {
        /// What the credential chain said.
        detail: String,
    },
    /// The service refused the credentials (unknown key, bad signature, expired token).
    #[error(
        "{service} refused the credentials ({operation}): {message}; check AWS_ACCESS_KEY_ID / AWS_PROFILE, and the clock"
    )]
    BadCredentials {
        /// Kinesis or DynamoDB.
        service: &'static str,
        /// The API operation.
        operation: &'static str,
        /// The service's message.
        message: String,
    },
    /// The caller may not do this.
    #[error("access denied: {operation} on {resource}: {message}")]
    AccessDenied {
        /// The API operation.
        operation: &'static str,
        /// The stream, table or account.
        resource: String,
        /// The service's message.
        message: String,
    },
    /// The stream does not exist.
    #[error(
        "stream {stream:?} not found in {region} at {endpoint}; `kinesis stream list` shows the streams there"
    )]
    StreamNotFound {
        /// The stream name.
        stream: String,
        /// The region asked.
        region: String,
        /// The endpoint asked.
        endpoint: String,
    },
    /// A shard named on the command line is not in the stream.
    #[error(
        "shard {shard:?} is not in stream {stream:?}; `kinesis stream describe {stream}` lists its shards"
    )]
    ShardNotFound {
        /// The stream.
        stream: String,
        /// The shard asked for.
        shard: String,
    },
    /// The stream (or a resource) is in the way: it exists, or is being changed.
    #[error("{operation} on {resource}: {message}")]
    InUse {
        /// The API operation.
        operation: &'static str,
        /// The stream.
        resource: String,
        /// The service's message.
        message: String,
    },
    /// Nothing answered at the endpoint.
    #[error(
        "cannot connect to {service} at {endpoint}: {message}; check --endpoint-url / AWS_ENDPOINT_URL_{env_service} and that the server runs"
    )]
    CannotConnect {
        /// Kinesis or DynamoDB.
        service: &'static str,
        /// `KINESIS` or `DYNAMODB`, for the variable's name.
        env_service: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The innermost cause.
        message: String,
    },
    /// No answer within `--timeout`.
    #[error(
        "{operation}: no answer from {service} at {endpoint} within {timeout:?}; --timeout raises the limit"
    )]
    Timeout {
        /// Kinesis or DynamoDB.
        service: &'static str,
        /// The API operation.
        operation: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The limit.
        timeout: Duration,
    },
    /// Still throttled after every retry.
    #[error("{operation}: throttled by {service} after {attempts} attempts: {message}")]
    Throttled {
        /// Kinesis or DynamoDB.
        service: &'static str,
        /// The API operation.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last message.
        message: String,
    },
    /// The service refused the request's arguments.
    #[error("{operation}: {message}")]
    InvalidArgument {
        /// The API operation.
        operation: &'static str,
        /// The service's message.
        message: String,
    },
    /// Any other service or SDK error.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The API operation.
        operation: &'static str,
        /// The error and its causes.
        message: String,
    },
    /// Bad input clap cannot see (a combination of options, a value in a file).
    #[error("{0}")]
    Usage(String),
    /// A file or stdin/stdout could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`reading input.txt`).
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Records were not written (`produce`); the summary said which and where they went.
    #[error("{failed} of {total} records were not written{where_}")]
    RecordsFailed {
        /// Records failed.
        failed: u64,
        /// Records read.
        total: u64,
        /// ` (written to FILE)` or empty.
        where_: String,
    },
    /// The producer's settings (`KPL_*` variables) are invalid.
    #[error("producer settings: {0}")]
    ProducerConfig(#[from] kpl::ConfigError),
    /// The consumer's settings are invalid.
    #[error("consumer settings: {0}")]
    ConsumerConfig(#[from] kcl::ConfigError),
    /// The consumer stopped with an error.
    #[error("consumer: {0}")]
    Worker(kcl::WorkerError),
    /// `--wait` gave up.
    #[error(
        "stream {stream:?} is still {status} after {waited:?}; --wait-timeout raises the limit"
    )]
    WaitTimedOut {
        /// The stream.
        stream: String,
        /// Its last status.
        status: String,
        /// How long we waited.
        waited: Duration,
    },
    /// `kinesis local` could not start its servers.
    #[error("{0}")]
    Local(#[from] testkit::LocalAwsError),
}

impl CliError {
    /// An I/O error while `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}
