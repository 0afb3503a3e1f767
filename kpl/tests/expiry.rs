//! A record whose TTL passes anywhere (buffered, waiting for a stalled server, retrying)
//! fails as expired with its attempts, and nothing else is disturbed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use kpl::{ErrorCode, ProducerConfig, PutErrorKind, Record};
use testkit::{Fault, FaultProxy, LocalAws, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_retried_until_their_ttl_fail_as_expired() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "ttl", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default()
        .record_ttl(Duration::from_millis(600))
        .record_max_buffered_time(Duration::from_millis(20));
    let producer = common::producer(&proxy.endpoint(), config);
    common::results(vec![
        producer
            .put(Record::new("ttl", "warm-up", "x"))
            .await
            .unwrap(),
    ])
    .await;
    proxy.set_rules(vec![Rule::new(Fault::internal_failure()).on("PutRecords")]);
    let started = Instant::now();
    let handles = common::put_all(&producer, &common::records("ttl", "t", 50)).await;
    for h in handles {
        let err = h.await.unwrap_err();
        assert_eq!(err.kind, PutErrorKind::Expired);
        assert!(err.is_retryable());
        assert!(
            err.attempts.len() >= 2,
            "retried before expiring: {} attempts",
            err.attempts.len()
        );
        assert!(err.attempts.iter().all(|a| {
            a.error
                .as_ref()
                .is_some_and(|e| e.code == ErrorCode::InternalFailure)
        }));
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(550) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // Once the faults stop, records go through again.
    proxy.clear();
    let ok = producer
        .put(Record::new("ttl", "after", "y"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ok.attempts.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_held_by_a_stalled_server_expire() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "stall", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default()
        .record_ttl(Duration::from_millis(400))
        .request_timeout(Duration::from_millis(200))
        .max_connections(1);
    let producer = common::producer(&proxy.endpoint(), config);
    common::results(vec![
        producer
            .put(Record::new("stall", "warm-up", "x"))
            .await
            .unwrap(),
    ])
    .await;
    proxy.stall();
    let handles = common::put_all(&producer, &common::records("stall", "s", 30)).await;
    for h in handles {
        assert_eq!(h.await.unwrap_err().kind, PutErrorKind::Expired);
    }
    proxy.resume();
    assert_eq!(producer.outstanding().records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_retried_many_times_keeps_a_bounded_history() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "retried", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    // Retried every millisecond for a second: hundreds of attempts.
    let config = ProducerConfig::default()
        .record_ttl(Duration::from_secs(1))
        .record_max_buffered_time(Duration::from_millis(2));
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, "retried").await;
    proxy.set_rules(vec![
        Rule::new(Fault::fail_entries(1.0, "InternalFailure")).on("PutRecords"),
    ]);
    let handle = producer
        .put(Record::new("retried", "k", "v"))
        .await
        .unwrap();
    let err = handle.await.unwrap_err();
    assert_eq!(err.kind, PutErrorKind::Expired);
    assert!(
        err.attempts.total() > 20,
        "{} attempts",
        err.attempts.total()
    );
    assert!(
        err.attempts.len() <= kpl::Attempts::KEPT,
        "{} kept",
        err.attempts.len()
    );
    assert_eq!(
        err.attempts.len() + err.attempts.omitted() as usize,
        err.attempts.total()
    );
    // The first and the last ones are kept.
    let first = &err.attempts[0];
    assert!(
        first
            .error
            .as_ref()
            .is_some_and(|e| e.code == ErrorCode::InternalFailure)
    );
}
