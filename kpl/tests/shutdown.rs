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
use testkit::{Fault, FaultProxy, LocalAws, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_what_was_not_written() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "stuck", 2).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let producer = common::producer(&proxy.endpoint(), ProducerConfig::default());
    common::warm_up(&producer, "stuck").await;
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

// One thread: the puts, the flush and the abort reach the driver together, before it runs.
#[tokio::test]
async fn records_taken_in_but_not_yet_routed_are_in_the_report() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "queued", 2).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    // Without aggregation every record is a Kinesis record at once, between two stages.
    let config = ProducerConfig::default().aggregation_enabled(false);
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, "queued").await;
    proxy.stall();
    let sent = common::records("queued", "q", 50);
    let handles = common::put_all(&producer, &sent).await;
    let report = producer.shutdown(Duration::ZERO).await;
    let mut unsent = report.unsent.clone();
    unsent.sort_by(|a, b| a.data.cmp(&b.data));
    let mut expected = sent.clone();
    expected.sort_by(|a, b| a.data.cmp(&b.data));
    assert_eq!(unsent, expected, "every record handed back in the report");
    for h in handles {
        assert_eq!(h.await.unwrap_err().kind, PutErrorKind::ShutDown);
    }
    proxy.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_but_not_verified_are_marked_in_the_report() {
    let aws = LocalAws::start().await.unwrap();
    let name = "unverified";
    common::stream(&aws, name, 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default().record_max_buffered_time(Duration::from_millis(10));
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, name).await;
    // The shard splits; the listing that would tell where records belong stalls.
    proxy.set_rules(vec![
        Rule::new(Fault::Delay(Duration::from_secs(3600))).on("ListShards"),
    ]);
    let parent = common::split_first_shard(&aws, name).await;
    let sent = common::records(name, "u", 200);
    let handles = common::put_all(&producer, &sent).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = producer.shutdown(Duration::from_millis(100)).await;
    assert!(
        !report.unverified.is_empty(),
        "aggregates landed on a child, unverified"
    );
    for u in &report.unverified {
        assert_ne!(&*u.shard_id, parent, "written to a child");
        assert!(sent.contains(&u.record));
    }
    let reported = report.unsent.len() + report.unverified.len();
    let failed = futures::future::join_all(handles)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.kind == PutErrorKind::ShutDown))
        .count();
    assert_eq!(
        reported, failed,
        "the report lists every record that failed with ShutDown"
    );
}
