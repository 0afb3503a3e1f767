//! Bad input gets a typed error with the record back, and does not disturb other records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use kinesis_agg::{HashKeyError, RecordError};
use kpl::{ProducerConfig, PutErrorKind, Record, ValidationError};
use testkit::LocalAws;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_fail_alone() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "good", 2).await;
    let producer = common::producer(&aws.kinesis_endpoint(), ProducerConfig::default());
    let good = common::records("good", "g", 200);
    let mut handles = Vec::new();
    let bad = [
        (
            Record::new("good", "", "x"),
            ValidationError::PartitionKey(RecordError::EmptyPartitionKey),
        ),
        (
            Record::new("good", "é".repeat(257), "x"),
            ValidationError::PartitionKey(RecordError::PartitionKeyTooLong { chars: 257 }),
        ),
        (
            Record::new("good", "k", vec![0u8; 1024 * 1024]),
            ValidationError::TooLarge {
                size: 1024 * 1024 + 1,
                limit: 1024 * 1024,
            },
        ),
        (
            Record::new("good", "k", "x")
                .with_explicit_hash_key("340282366920938463463374607431768211456"),
            ValidationError::ExplicitHashKey(HashKeyError::OutOfRange),
        ),
        (
            Record::new("good", "k", "x").with_explicit_hash_key("-1"),
            ValidationError::ExplicitHashKey(HashKeyError::InvalidDigit { position: 0 }),
        ),
        (
            Record::new("no such/stream", "k", "x"),
            ValidationError::StreamName("no such/stream".into()),
        ),
    ];
    for (i, r) in good.iter().enumerate() {
        handles.push(producer.put(r.clone()).await.unwrap());
        if let Some((record, expected)) = bad.get(i % 40).filter(|_| i % 40 < bad.len() && i < 240)
        {
            let err = producer.put(record.clone()).await.unwrap_err();
            assert_eq!(err.kind, PutErrorKind::Validation(expected.clone()));
            assert_eq!(&err.record, record);
            assert!(!err.is_retryable());
            assert!(err.attempts.is_empty());
            let err = producer.try_put(record.clone()).unwrap_err();
            assert_eq!(err.kind, PutErrorKind::Validation(expected.clone()));
        }
    }
    let results = common::results(handles).await;
    common::assert_delivered_once(&good, &results, &common::read_all(&aws, "good").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_stream_fails_its_records_only() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "exists", 1).await;
    let producer = common::producer(&aws.kinesis_endpoint(), ProducerConfig::default());
    let good = common::records("exists", "e", 100);
    let missing = common::records("missing", "m", 20);
    let good_handles = common::put_all(&producer, &good).await;
    let missing_handles = common::put_all(&producer, &missing).await;
    for (h, record) in missing_handles.into_iter().zip(&missing) {
        let err = h.await.unwrap_err();
        assert_eq!(err.kind, PutErrorKind::StreamNotFound);
        assert_eq!(&err.record, record);
        assert!(!err.is_retryable());
    }
    let results = common::results(good_handles).await;
    common::assert_delivered_once(&good, &results, &common::read_all(&aws, "exists").await);
}

#[tokio::test]
async fn a_bad_config_is_refused_by_name() {
    let err = kpl::Producer::new(
        ProducerConfig::default().collection_max_count(0),
        testkit::kinesis_client("http://127.0.0.1:1"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("CollectionMaxCount"), "{err}");
}
