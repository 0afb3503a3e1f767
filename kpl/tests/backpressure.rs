//! With small bounds and a stalled server, memory stays bounded: `try_put` fails fast,
//! `put` waits, and both resume when room frees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use kpl::{ProducerConfig, PutErrorKind, Record};
use testkit::{FaultProxy, LocalAws};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_hold_while_the_server_is_stalled() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "slow", 2).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default()
        .max_outstanding_records(100)
        .max_outstanding_bytes(1024 * 1024)
        .record_max_buffered_time(Duration::from_millis(10))
        .request_timeout(Duration::from_secs(30));
    let producer = common::producer(&proxy.endpoint(), config);
    // Let the shard map load, then stall every request.
    common::results(vec![
        producer
            .put(Record::new("slow", "warm-up", "x"))
            .await
            .unwrap(),
    ])
    .await;
    proxy.stall();

    let mut handles = Vec::new();
    for i in 0..100 {
        handles.push(
            producer
                .try_put(Record::new("slow", format!("k{i}"), vec![b'x'; 1000]))
                .unwrap(),
        );
    }
    let refused = producer
        .try_put(Record::new("slow", "one-too-many", "y"))
        .unwrap_err();
    assert_eq!(refused.kind, PutErrorKind::Backpressure);
    assert_eq!(
        refused.record.partition_key, "one-too-many",
        "the record comes back"
    );
    assert!(refused.is_retryable());

    let blocked = tokio::spawn({
        let producer = producer.clone();
        async move {
            producer
                .put(Record::new("slow", "waiting", "z"))
                .await
                .unwrap()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !blocked.is_finished(),
        "put must wait while the bounds are reached"
    );
    let held = producer.outstanding();
    assert_eq!(held.records, 100);
    assert!(held.bytes <= 1024 * 1024);
    assert!(
        held.oldest_age
            .is_some_and(|a| a >= Duration::from_millis(250)),
        "{:?}",
        held.oldest_age
    );

    proxy.resume();
    let waiting = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("put resumed")
        .unwrap();
    assert!(waiting.is_ok());
    let results = common::results(handles).await;
    assert_eq!(results.len(), 100);
    producer.flush().await;
    let after = producer.outstanding();
    assert_eq!((after.records, after.bytes, after.oldest_age), (0, 0, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_larger_than_the_byte_bound_still_goes_alone() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "big", 1).await;
    let config = ProducerConfig::default()
        .max_user_record_size(512 * 1024)
        .max_outstanding_bytes(512 * 1024);
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let big = Record::new("big", "k", vec![7u8; 500 * 1024]);
    let small = Record::new("big", "j", "small");
    let a = producer.put(big.clone()).await.unwrap();
    let b = producer.put(small.clone()).await.unwrap();
    let results = common::results(vec![a, b]).await;
    common::assert_delivered_once(
        &[big, small],
        &results,
        &common::read_all(&aws, "big").await,
    );
}
