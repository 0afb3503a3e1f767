//! Without a shard map (ListShards stalls or keeps failing), nothing waits forever: each
//! listing has a timeout, records waiting for a first map go out alone with their own
//! hash keys (the KPL's fallback), and records written to a shard the map did not predict
//! are sent again alone when no fresh map can be had, or expire with their TTL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use kpl::{Ordering, Producer, ProducerConfig};
use testkit::{Fault, FaultProxy, LocalAws, Rule};

fn stall() -> Fault {
    Fault::Delay(Duration::from_secs(3600))
}

/// Puts `n` records and waits for every result, at most `within`.
async fn deliver(aws: &LocalAws, producer: &Producer, stream: &str, n: usize, within: Duration) {
    let sent = common::records(stream, "r", n);
    let handles = common::put_all(producer, &sent).await;
    let results = tokio::time::timeout(within, common::results(handles))
        .await
        .expect("every record completes in time");
    // The first copies of aggregates that landed on the wrong child are dropped by the
    // hash range rule (and were sent again): what a consumer delivers is what counts. An
    // aggregate that happened to hold only records of its child is delivered too, and its
    // records again after being sent alone: without a map, at least once is the promise.
    let delivered = delivered(aws, stream).await;
    common::assert_delivered_at_least_once(&sent, &results, &delivered);
}

/// What a KCL consumer delivers of the stream, the warm-up record aside.
async fn delivered(aws: &LocalAws, stream: &str) -> Vec<common::Read> {
    let (read, _dropped) = common::read_filtered(aws, stream).await;
    read.into_iter().filter(|r| &r.data[..] != b"x").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_listing_that_stalls_does_not_hold_records_back() {
    for ordering in [Ordering::Unordered, Ordering::PerShard] {
        let aws = LocalAws::start().await.unwrap();
        common::stream(&aws, "stalled", 2).await;
        let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
        proxy.set_rules(vec![Rule::new(stall()).on("ListShards")]);
        // A TTL of 2 s: the records must go before it, without a map.
        let config = ProducerConfig::default()
            .ordering(ordering)
            .record_ttl(Duration::from_secs(2))
            .record_max_buffered_time(Duration::from_millis(20));
        let producer = common::producer(&proxy.endpoint(), config);
        deliver(&aws, &producer, "stalled", 200, Duration::from_secs(5)).await;
    }
}

/// A stream whose map the producer has, then split, with ListShards answering `fault`.
async fn split_behind_the_producers_back(fault: Fault) -> (LocalAws, FaultProxy, Producer) {
    let config = ProducerConfig::default()
        .record_ttl(Duration::from_secs(3))
        .request_timeout(Duration::from_millis(500))
        .record_max_buffered_time(Duration::from_millis(20));
    split_with(fault, config).await
}

async fn split_with(fault: Fault, config: ProducerConfig) -> (LocalAws, FaultProxy, Producer) {
    let aws = LocalAws::start().await.unwrap();
    let name = "split";
    common::stream(&aws, name, 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, name).await;
    proxy.set_rules(vec![Rule::new(fault).on("ListShards")]);
    common::split_first_shard(&aws, name).await;
    (aws, proxy, producer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_awaiting_verification_complete_while_listing_fails() {
    // Aggregates predicted for the closed parent land on a child, unverified; no listing
    // succeeds to verify them.
    let (aws, _proxy, producer) = split_behind_the_producers_back(Fault::internal_failure()).await;
    deliver(&aws, &producer, "split", 300, Duration::from_secs(6)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_listing_times_out_and_flush_resolves() {
    let (aws, _proxy, producer) = split_behind_the_producers_back(stall()).await;
    let sent = common::records("split", "f", 300);
    let handles = common::put_all(&producer, &sent).await;
    tokio::time::timeout(Duration::from_secs(6), producer.flush())
        .await
        .expect("flush resolves though ListShards stalls");
    let results = common::results(handles).await;
    let delivered = delivered(&aws, "split").await;
    common::assert_delivered_at_least_once(&sent, &results, &delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_awaiting_verification_expire_with_their_ttl() {
    // The listing stalls for its whole timeout (3 s), past the records' TTL (1 s).
    let config = ProducerConfig::default()
        .record_ttl(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(3))
        .record_max_buffered_time(Duration::from_millis(20));
    let (_aws, _proxy, producer) = split_with(stall(), config).await;
    let handles = common::put_all(&producer, &common::records("split", "t", 100)).await;
    let outcomes = tokio::time::timeout(
        Duration::from_millis(2500),
        futures::future::join_all(handles),
    )
    .await
    .expect("every record completes within its TTL, and some slack");
    let expired: Vec<_> = outcomes.into_iter().filter_map(Result::err).collect();
    assert!(
        !expired.is_empty(),
        "written to a child, unverified, they expire"
    );
    for e in expired {
        assert_eq!(e.kind, kpl::PutErrorKind::Expired);
        let last = e.attempts.last().and_then(|a| a.error.as_ref()).unwrap();
        assert_eq!(last.code, kpl::ErrorCode::WrongShard, "{}", last.message);
    }
}
