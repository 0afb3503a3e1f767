//! Shutdown with a deadline hands back every record not written; a clean shutdown flushes.
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
async fn shutdown_hands_back_what_was_not_written() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "stuck", 2).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let producer = common::producer(&proxy.endpoint(), ProducerConfig::default());
    common::results(vec![
        producer
            .put(Record::new("stuck", "warm-up", "x"))
            .await
            .unwrap(),
    ])
    .await;
    proxy.stall();
    let sent = common::records("stuck", "s", 300);
    let handles = common::put_all(&producer, &sent).await;

    let report = producer.shutdown(Duration::from_millis(300)).await;
    assert!(!report.flushed);
    let mut unsent = report.unsent.clone();
    unsent.sort_by(|a, b| a.data.cmp(&b.data));
    let mut expected = sent.clone();
    expected.sort_by(|a, b| a.data.cmp(&b.data));
    assert_eq!(unsent, expected, "every record comes back, unchanged");
    for (h, record) in handles.into_iter().zip(&sent) {
        let err = h.await.unwrap_err();
        assert_eq!(err.kind, PutErrorKind::ShutDown);
        assert_eq!(&err.record, record);
    }
    let late = producer
        .put(Record::new("stuck", "late", "x"))
        .await
        .unwrap_err();
    assert_eq!(late.kind, PutErrorKind::ShutDown);
    assert_eq!(late.record.partition_key, "late");
    proxy.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_shutdown_flushes_everything() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "clean", 2).await;
    let config = ProducerConfig::default().record_max_buffered_time(Duration::from_secs(20));
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let sent = common::records("clean", "c", 1000);
    let handles = common::put_all(&producer, &sent).await;
    let report = producer.shutdown(Duration::from_secs(10)).await;
    assert!(report.flushed && report.unsent.is_empty());
    let results = common::results(handles).await;
    common::assert_delivered_once(&sent, &results, &common::read_all(&aws, "clean").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_producer_still_completes_its_records() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "dropped", 1).await;
    let producer = common::producer(&aws.kinesis_endpoint(), ProducerConfig::default());
    let sent = common::records("dropped", "d", 200);
    let handles = common::put_all(&producer, &sent).await;
    drop(producer);
    let results = tokio::time::timeout(Duration::from_secs(10), common::results(handles))
        .await
        .unwrap();
    common::assert_delivered_once(&sent, &results, &common::read_all(&aws, "dropped").await);
}
