//! Connections are shared by every stream of a producer: a stream that waited for one and
//! then had nothing to send gives it back at once (with `max_connections = 1`, keeping it
//! would stop every other stream for good).
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
async fn a_stream_that_waited_for_a_connection_and_went_idle_does_not_keep_it() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "busy", 1).await;
    common::stream(&aws, "idle", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let config = ProducerConfig::default()
        .max_connections(1)
        .record_max_buffered_time(Duration::from_millis(1))
        .record_ttl(Duration::from_millis(400));
    let producer = common::producer(&proxy.endpoint(), config);
    for stream in ["busy", "idle"] {
        common::warm_up(&producer, stream).await;
    }
    // "busy" holds the only connection for 800 ms ...
    proxy.set_rules(vec![
        Rule::new(Fault::Delay(Duration::from_millis(800)))
            .on("PutRecords")
            .at_most(1),
    ]);
    let sent_before = proxy.requests();
    let slow = producer
        .put(Record::new("busy", "slow", "x"))
        .await
        .unwrap();
    while proxy.requests() == sent_before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... while "idle" waits for it until its record expires (400 ms), then has nothing to send.
    let expired = producer
        .put(Record::new("idle", "late", "x"))
        .await
        .unwrap();
    assert_eq!(expired.await.unwrap_err().kind, PutErrorKind::Expired);
    slow.await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The connection is free again: "busy" writes.
    let after = producer
        .put(Record::new("busy", "after", "x"))
        .await
        .unwrap();
    let after = tokio::time::timeout(Duration::from_secs(5), after)
        .await
        .unwrap();
    assert!(
        after.is_ok(),
        "the connection was kept by the idle stream: {after:?}"
    );
}
