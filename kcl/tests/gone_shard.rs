//! A shard that no longer exists (deleted by retention: GetShardIterator and GetRecords
//! answer ResourceNotFoundException) ends as a closed shard does: the processor's
//! `shard_ended`, then its children start; a gone shard without children leaves no lease
//! behind. It is not handed to the next worker to fail on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::Duration;

use common::{Env, Log, env, fast_config, numbered, put};
use testkit::{Fault, FaultProxy, Rule, streams};

fn not_found_for(shard: &str) -> Vec<Rule> {
    ["GetShardIterator", "GetRecords"]
        .into_iter()
        .map(|op| {
            Rule::new(Fault::Error {
                status: 400,
                error_type: "ResourceNotFoundException".into(),
            })
            .on(op)
            .when_body_contains(shard)
        })
        .collect()
}

/// A worker reading through a proxy that says `gone` does not exist. (ListShards still
/// lists it, which Kinesis would not: shard sync runs only at start-up here, so it does not
/// create the gone shard's lease again.)
async fn start_with_gone(
    e: &Env,
    app: &str,
    gone: &str,
    log: &Log,
) -> (common::Running, FaultProxy) {
    let proxy = FaultProxy::start(e.aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(not_found_for(gone));
    let mut config = fast_config(app, &e.stream, "w");
    config.shard_sync_interval = Duration::from_secs(600);
    let worker = kcl::Worker::new(
        config,
        testkit::kinesis_client(&proxy.endpoint()),
        e.dynamodb.clone(),
        log.factory("w"),
    )
    .unwrap();
    ((worker.handle(), tokio::spawn(worker.run())), proxy)
}

async fn lease_keys(e: &Env, app: &str) -> Vec<String> {
    common::raw_items(&e.dynamodb, app)
        .await
        .iter()
        .map(|i| i["leaseKey"].as_s().unwrap().clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_children_of_a_gone_parent_start() {
    let e = env("goneparent", 1).await;
    let app = "goneparent-app";
    put(&e.kinesis, &e.stream, &numbered("before", 0..50)).await;
    let parent = streams::list_shards(&e.kinesis, &e.stream)
        .await
        .unwrap()
        .remove(0);
    e.kinesis
        .split_shard()
        .stream_name(&e.stream)
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key((u128::MAX / 2 + 1).to_string())
        .send()
        .await
        .unwrap();
    streams::wait_active(&e.kinesis, &e.stream).await.unwrap();
    put(&e.kinesis, &e.stream, &numbered("after", 0..50)).await;

    let log = Log::default();
    let ((handle, task), _proxy) = start_with_gone(&e, app, parent.shard_id(), &log).await;
    log.wait_until("the children's records", |d| {
        d.iter().filter(|r| r.starts_with("after-")).count() == 50
    })
    .await;
    assert!(
        log.data().iter().all(|r| r.starts_with("after-")),
        "nothing can be read from a gone shard"
    );
    // The parent's lease is finished, then cleaned up like any finished parent.
    let keys = lease_keys(&e, app).await;
    let gone = parent.shard_id().to_owned();
    tokio::time::timeout(Duration::from_secs(10), async {
        while lease_keys(&e, app).await.contains(&gone) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the gone parent's lease stayed: {keys:?}"));
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_shard_without_children_ends_and_leaves_no_lease() {
    let e = env("goneleaf", 2).await;
    let app = "goneleaf-app";
    put(&e.kinesis, &e.stream, &numbered("r", 0..100)).await;
    let shards = streams::list_shards(&e.kinesis, &e.stream).await.unwrap();
    let gone = shards[1].shard_id().to_owned();
    let log = Log::default();
    let ((handle, task), proxy) = start_with_gone(&e, app, &gone, &log).await;
    let expected = log.clone();
    log.wait_until("the other shard's records", move |d| {
        !d.is_empty() && expected.entries().iter().all(|s| s.shard != gone)
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while lease_keys(&e, app)
            .await
            .contains(&shards[1].shard_id().to_owned())
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the gone shard's lease is deleted");
    // Ended once, not retried by worker after worker.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        proxy.faults_injected() <= 2,
        "{} not-found answers",
        proxy.faults_injected()
    );
    let status = handle.status();
    assert_eq!(status.consumer_errors, 0, "{status:?}");
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
