//! Every AWS call the tool makes itself goes through [`Retry::call`]: a timeout on each
//! attempt, and exponential backoff with jitter on what can be retried (the SDK's own
//! retries are off on these clients, so this is the one policy).

use std::future::Future;
use std::time::Duration;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

use super::failure::{Failure, FailureKind};

/// How a call is retried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retry {
    /// Longest wait for one attempt.
    pub(crate) timeout: Duration,
    /// Attempts for connection failures, 5xx and timeouts (consecutive).
    pub(crate) attempts: u32,
    /// Attempts while throttled; `None` retries throttling for ever (reading with
    /// `--follow`: throttling is the shard's normal pace, not an error).
    pub(crate) throttled_attempts: Option<u32>,
    /// First backoff; doubles with each attempt.
    pub(crate) base: Duration,
    /// Longest backoff.
    pub(crate) cap: Duration,
    /// Whether sending the request twice is harmless (reads, and writes that say so).
    pub(crate) idempotent: bool,
}

impl Retry {
    /// The policy for reads and other idempotent calls.
    pub(crate) fn new(timeout: Duration) -> Retry {
        Retry {
            timeout,
            attempts: 4,
            throttled_attempts: Some(20),
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            idempotent: true,
        }
    }

    /// The same policy for a request that must not be sent twice if it may have been
    /// carried out (CreateStream, SplitShard, ...): only throttling and connection
    /// failures are retried.
    pub(crate) fn not_idempotent(self) -> Retry {
        Retry {
            idempotent: false,
            ..self
        }
    }

    /// The same policy for a reader that rides out a flaky service: throttling retried
    /// for ever, other failures 10 times (about 16 s of backoff) before giving up.
    pub(crate) fn patient(self) -> Retry {
        Retry {
            throttled_attempts: None,
            attempts: 10,
            ..self
        }
    }

    /// Runs `request` (called again for each attempt) until it succeeds, fails for
    /// good, or the attempts are spent.
    pub(crate) async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        mut request: impl FnMut() -> Fut,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 0u32;
        let (mut failing, mut throttled) = (0u32, 0u32);
        loop {
            attempt += 1;
            let failure = match tokio::time::timeout(self.timeout, request()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => Failure::from_sdk(operation, e),
                Err(_) => Failure::timeout(operation, self.timeout),
            };
            let counter = if failure.kind == FailureKind::Throttled {
                &mut throttled
            } else {
                &mut failing
            };
            *counter += 1;
            let limit = match failure.kind {
                FailureKind::Throttled => self.throttled_attempts,
                _ => Some(self.attempts),
            };
            if !failure.is_retryable(self.idempotent) || limit.is_some_and(|l| *counter >= l) {
                return Err(Failure {
                    attempts: attempt,
                    ..failure
                });
            }
            tracing::debug!(operation, attempt, error = %failure.message, "retrying");
            tokio::time::sleep(self.backoff(*counter)).await;
        }
    }

    /// Full-jitter exponential backoff for the `n`th consecutive failure (n >= 1):
    /// uniform in [ceiling / 2, ceiling], ceiling = min(cap, base * 2^(n-1)).
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        let ceiling = self.base.saturating_mul(factor).min(self.cap);
        let half = ceiling / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=jitter_nanos))
    }
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
