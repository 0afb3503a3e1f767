//! Faults: injected DynamoDB errors at a low rate cause no lease thrash (no lease lost,
//! no owner change) and no lost record; Kinesis throttling and expired iterators are
//! recovered from without loss or duplicates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{Log, fast_config, numbered, put};
use kcl::Worker;
use testkit::{
    Fault, FaultProxy, LocalAws, LocalAwsOptions, Rule, sdk_config_without_retries, streams,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_rate_dynamodb_errors_cause_no_lease_thrash() {
    let aws = LocalAws::start().await.unwrap();
    let kinesis = aws.kinesis_client();
    streams::create_stream(&kinesis, "flaky", 6).await.unwrap();
    let proxy = FaultProxy::start(aws.dynamodb_addr()).await.unwrap();
    // The SDK's own retries are off: every injected fault reaches the library.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&proxy.endpoint()));
    let log = Log::default();
    // A failover time of 3 s keeps the ratios of the defaults (renewal every second, lease
    // writes timing out after half a second): on this shared 2-core machine a 1 s failover
    // (166 ms per write) also measures how slow the local server is at moments.
    let failover = Duration::from_secs(3);
    let start = |id: &str| {
        let w = Worker::new(
            fast_config("flaky-app", "flaky", id).with_failover_time(failover),
            kinesis.clone(),
            dynamodb.clone(),
            log.factory(id),
        )
        .unwrap();
        let h = w.handle();
        (h, tokio::spawn(w.run()))
    };
    let workers: Vec<_> = ["a", "b", "c"].iter().map(|id| start(id)).collect();
    let handles: Vec<&kcl::WorkerHandle> = workers.iter().map(|(h, _)| h).collect();
    let balanced = common::wait_leases(&handles, Duration::from_secs(30), |s| {
        s.iter().all(|x| x.len() == 2)
    })
    .await;
    let lost_before: Vec<u64> = handles.iter().map(|h| h.status().leases_lost).collect();

    // 5% throttling and 5% server errors on every DynamoDB call, for 2 failover times.
    proxy.set_rules(vec![
        Rule::new(Fault::dynamodb_throttled()).with_probability(0.05),
        Rule::new(Fault::dynamodb_internal_error()).with_probability(0.05),
    ]);
    let producing = numbered("r", 0..600);
    for chunk in producing.chunks(50) {
        put(&kinesis, "flaky", chunk).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(2 * failover).await;
    let faults = proxy.faults_injected();
    proxy.clear();

    let after: Vec<BTreeSet<String>> = handles.iter().map(|h| h.status().held_leases).collect();
    let lost_after: Vec<u64> = handles.iter().map(|h| h.status().leases_lost).collect();
    println!("faults injected: {faults}; leases before {balanced:?} after {after:?}");
    assert!(faults > 10, "faults were injected ({faults})");
    assert_eq!(lost_after, lost_before, "no lease was lost");
    assert_eq!(after, balanced, "no lease changed owner");
    log.wait_until("every record", |d| d.len() == 600).await;
    for (h, t) in workers {
        h.graceful_shutdown().await;
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_expired_iterators_lose_and_repeat_nothing() {
    let mut options = LocalAwsOptions::default();
    options.kinesis.iterator_ttl_seconds = 1;
    let aws = LocalAws::start_with(options).await.unwrap();
    let kinesis = aws.kinesis_client();
    streams::create_stream(&kinesis, "slow", 1).await.unwrap();
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(vec![
        Rule::new(Fault::kinesis_throttled())
            .on("GetRecords")
            .with_probability(0.3),
    ]);
    let reader = aws_sdk_kinesis::Client::new(&sdk_config_without_retries(&proxy.endpoint()));
    let log = Log::default();
    let mut config = fast_config("slow-app", "slow", "w");
    // Caught up, the reader idles longer than the iterator lives: every read after an
    // idle period meets an expired iterator.
    config.idle_time_between_reads = Duration::from_millis(1500);
    let w = Worker::new(config, reader, aws.dynamodb_client(), log.factory("w")).unwrap();
    let h = w.handle();
    let task = tokio::spawn(w.run());
    put(&kinesis, "slow", &numbered("a", 0..100)).await;
    log.wait_until("the first batch", |d| d.len() == 100).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    put(&kinesis, "slow", &numbered("b", 0..100)).await;
    log.wait_until("the second batch", |d| d.len() == 200).await;
    let entries = log.entries();
    assert_eq!(entries.len(), 200, "no record delivered twice");
    let order: Vec<&str> = entries.iter().map(|s| s.data.as_str()).collect();
    let mut expected: Vec<String> = numbered("a", 0..100).into_iter().map(|(_, d)| d).collect();
    expected.extend(numbered("b", 0..100).into_iter().map(|(_, d)| d));
    assert_eq!(order, expected, "in shard order");
    assert!(proxy.faults_injected() > 0);
    let counts: HashMap<&str, usize> = entries.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.shard.as_str()).or_default() += 1;
        m
    });
    assert_eq!(counts.len(), 1);
    h.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
