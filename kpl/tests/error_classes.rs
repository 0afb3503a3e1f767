//! Whole-request errors are classified by HTTP status and error class, not by a list of
//! codes: throttling-class errors, any 5xx (listed code or not), request timeouts and
//! transport failures are retried until the TTL; only definite client errors (validation,
//! access denied, not found, KMS errors) fail records, with their code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use kpl::{ErrorCode, ProducerConfig, PutErrorKind, Record};
use testkit::{Fault, FaultProxy, LocalAws, Rule};

fn error(status: u16, error_type: &str) -> Fault {
    Fault::Error {
        status,
        error_type: error_type.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_classes_are_retried_and_client_errors_fail_with_their_code() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "classes", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default()
        .record_max_buffered_time(Duration::from_millis(1))
        .record_ttl(Duration::from_secs(20));
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, "classes").await;
    let retried = [
        error(500, "SomethingNewBrokeException"),
        error(502, "BadGateway"),
        error(503, "ServiceUnavailableException"),
        error(504, "GatewayTimeout"),
        error(400, "ThrottlingException"),
        error(400, "LimitExceededException"),
        error(429, "TooManyRequestsException"),
        error(400, "RequestTimeout"),
        error(408, "RequestTimeoutException"),
        Fault::ErrorAfterForward {
            status: 500,
            error_type: "UnlistedInternalException".into(),
        },
        Fault::Reset,
    ];
    for (i, fault) in retried.iter().enumerate() {
        proxy.set_rules(vec![Rule::new(fault.clone()).on("PutRecords").at_most(1)]);
        let record = Record::new("classes", format!("r{i}"), format!("retried-{i}"));
        let written = producer.put(record).await.unwrap().await;
        let written = written.unwrap_or_else(|e| panic!("{fault:?} failed the record: {e}"));
        assert_eq!(
            written.attempts.len(),
            2,
            "{fault:?}: a failed attempt, then written"
        );
    }
    let failed = [
        (error(400, "ValidationException"), "ValidationException"),
        (error(400, "AccessDeniedException"), "AccessDeniedException"),
        (
            error(400, "KMSAccessDeniedException"),
            "KMSAccessDeniedException",
        ),
        (error(400, "KMSDisabledException"), "KMSDisabledException"),
        (
            error(403, "UnrecognizedClientException"),
            "UnrecognizedClientException",
        ),
    ];
    for (i, (fault, code)) in failed.iter().enumerate() {
        proxy.set_rules(vec![Rule::new(fault.clone()).on("PutRecords").at_most(1)]);
        let record = Record::new("classes", format!("f{i}"), format!("failed-{i}"));
        let err = producer
            .put(record.clone())
            .await
            .unwrap()
            .await
            .unwrap_err();
        match &err.kind {
            PutErrorKind::Service(e) => assert_eq!(e.code, ErrorCode::Other((*code).into())),
            other => panic!("{fault:?}: {other:?}"),
        }
        assert!(!err.is_retryable());
        assert_eq!((err.attempts.len(), &err.record), (1, &record));
    }
    proxy.set_rules(vec![
        Rule::new(error(400, "ResourceNotFoundException"))
            .on("PutRecords")
            .at_most(1),
    ]);
    let err = producer
        .put(Record::new("classes", "nf", "x"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(err.kind, PutErrorKind::StreamNotFound);
}
