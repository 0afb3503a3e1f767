// The SDK's own error type is what these tests hand the retry loop.
#![allow(clippy::result_large_err)]

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_kinesis::error::ErrorMetadata;
use aws_sdk_kinesis::operation::list_streams::ListStreamsError;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

type Answer = Result<u32, SdkError<ListStreamsError, HttpResponse>>;

fn service_error(status: u16, code: &str) -> Answer {
    let meta = ErrorMetadata::builder()
        .code(code)
        .message("said the service")
        .build();
    let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
    Err(SdkError::service_error(
        ListStreamsError::generic(meta),
        raw,
    ))
}

/// A request failing `failures` times with `fail`, then answering 7; counts its calls.
fn flaky(
    failures: u32,
    fail: fn() -> Answer,
    hang: bool,
) -> (
    Arc<AtomicU32>,
    impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Answer> + Send>>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let request = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n < failures {
                if hang {
                    std::future::pending::<()>().await;
                }
                return fail();
            }
            Ok(7)
        }) as std::pin::Pin<Box<dyn Future<Output = Answer> + Send>>
    };
    (calls, request)
}

fn throttled() -> Answer {
    service_error(400, "ProvisionedThroughputExceededException")
}

fn server_error() -> Answer {
    service_error(500, "InternalFailure")
}

fn not_found() -> Answer {
    service_error(400, "ResourceNotFoundException")
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
    let r = Retry::new(Duration::from_secs(1));
    for n in 1..40 {
        let ceiling = (Duration::from_millis(100) * (1u32 << (n - 1).min(16))).min(r.cap);
        for _ in 0..20 {
            let d = r.backoff(n);
            assert!(d >= ceiling / 2 && d <= ceiling, "{n}: {d:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_until_its_attempts_are_spent() {
    let retry = Retry::new(Duration::from_secs(1));
    let (calls, request) = flaky(19, throttled, false);
    assert_eq!(retry.call("ListStreams", request).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 20);

    let (calls, request) = flaky(100, throttled, false);
    let failure = retry.call("ListStreams", request).await.unwrap_err();
    assert_eq!(
        (failure.kind, failure.attempts),
        (FailureKind::Throttled, 20)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 20);

    let (calls, request) = flaky(u32::MAX, throttled, false);
    let started = tokio::time::Instant::now();
    let patient = retry.patient();
    let outcome = tokio::time::timeout(
        Duration::from_secs(600),
        patient.call("GetRecords", request),
    )
    .await;
    assert!(
        outcome.is_err(),
        "a patient reader is still retrying after 10 minutes"
    );
    assert!(
        calls.load(Ordering::SeqCst) > 100,
        "{}",
        calls.load(Ordering::SeqCst)
    );
    assert!(started.elapsed() >= Duration::from_secs(600));
}

#[tokio::test(start_paused = true)]
async fn server_errors_and_timeouts_are_retried_only_for_idempotent_requests() {
    let retry = Retry::new(Duration::from_secs(1));
    let (calls, request) = flaky(3, server_error, false);
    assert_eq!(retry.call("ListShards", request).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    let (calls, request) = flaky(4, server_error, false);
    let failure = retry.call("ListShards", request).await.unwrap_err();
    assert_eq!(
        (failure.kind, failure.attempts),
        (FailureKind::Transient, 4)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    let (calls, request) = flaky(1, server_error, true);
    let failure = retry
        .not_idempotent()
        .call("CreateStream", request)
        .await
        .unwrap_err();
    assert_eq!(
        failure.kind,
        FailureKind::Timeout,
        "each attempt has the timeout"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "it may have been carried out: not sent again"
    );

    let (calls, request) = flaky(2, server_error, true);
    assert_eq!(retry.call("ListShards", request).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let retry = Retry::new(Duration::from_secs(1));
    let (calls, request) = flaky(1, not_found, false);
    let failure = retry
        .call("DescribeStreamSummary", request)
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::NotFound);
    assert_eq!(failure.message, "said the service");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
