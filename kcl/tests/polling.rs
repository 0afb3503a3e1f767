//! Polling pace and memory: a consumer catching up paces every GetRecords call (no more
//! than one per `idle_time_between_reads`, not only after empty answers), and the bytes
//! prefetched over all the shards of a worker stay under `max_prefetch_bytes` (plus one
//! GetRecords response per shard) while processors are slow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Log, env, fast_config, numbered, put};
use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
use testkit::{Fault, FaultProxy, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_catching_up_paces_every_call() {
    let e = env("pace", 1).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..1000)).await;
    let proxy = FaultProxy::start(e.aws.kinesis_addr()).await.unwrap();
    // A delay of nothing: each GetRecords passes unchanged and is counted.
    proxy.set_rules(vec![
        Rule::new(Fault::Delay(Duration::ZERO)).on("GetRecords"),
    ]);
    let mut config = fast_config("pace-app", &e.stream, "w");
    config.max_records = 10; // a backlog of 100 calls
    config.idle_time_between_reads = Duration::from_millis(200);
    let log = Log::default();
    let worker = kcl::Worker::new(
        config,
        testkit::kinesis_client(&proxy.endpoint()),
        e.dynamodb.clone(),
        log.factory("w"),
    )
    .unwrap();
    let (handle, task) = (worker.handle(), tokio::spawn(worker.run()));
    log.wait_until("the first records", |d| !d.is_empty()).await;
    let (calls, started) = (proxy.faults_injected(), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = started.elapsed();
    let more = proxy.faults_injected() - calls;
    let allowed = (window.as_millis() / 200) as u64 + 1;
    assert!(
        more <= allowed,
        "{more} GetRecords calls in {window:?}, at most {allowed} at one per 200 ms"
    );
    assert!(
        log.data().len() < 1000,
        "still catching up after the window"
    );
    handle.shutdown();
    let _ = task.await.unwrap();
}

/// Never finishes its first batch until released.
struct Stuck(Arc<tokio::sync::Notify>);

impl ShardProcessor for Stuck {
    async fn process_records(&mut self, _input: ProcessRecordsInput) {
        self.0.notified().await;
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetched_bytes_are_bounded_per_worker_across_shards() {
    let e = env("prefetch", 4).await;
    let payload = "x".repeat(1000);
    let records: Vec<(String, String)> = (0..1200)
        .map(|i| (format!("key-{i}"), format!("{i}-{payload}")))
        .collect();
    put(&e.kinesis, &e.stream, &records).await;
    let mut config = fast_config("prefetch-app", &e.stream, "w");
    config.max_records = 100; // about 100 KB per response
    config.idle_time_between_reads = Duration::from_millis(10);
    config.max_prefetch_bytes = 256 * 1024;
    let release = Arc::new(tokio::sync::Notify::new());
    let factory = {
        let release = release.clone();
        move |_: &str| Stuck(release.clone())
    };
    let (handle, task) = common::start(&e, config, factory);
    // Each shard's own bound (3 batches, 8 MiB) would let it queue about 300 KB.
    let bound = 256 * 1024 + 4 * 101 * 1024;
    let mut most = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        most = most.max(handle.status().prefetched_bytes);
    }
    assert!(most > 0, "something was prefetched");
    assert!(
        most <= bound,
        "{most} bytes prefetched over the 4 shards; the bound is {bound}"
    );
    handle.shutdown();
    release.notify_waiters();
    let _ = task.await.unwrap();
}
