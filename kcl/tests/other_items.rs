//! Items of the lease table that are not readable leases of this stream: a lease item that
//! cannot be read is present and unfinished (its parent is not cleaned up, it is never
//! taken); items of other kinds (KCL 3.x entities, a multi-stream application's leases) are
//! never taken, stolen, counted or deleted.
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

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Env, Log, env, fast_config, numbered, put};
use testkit::streams;

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn put_item(e: &Env, table: &str, item: Item) {
    e.dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

async fn item(e: &Env, table: &str, key: &str) -> Option<Item> {
    e.dynamodb
        .get_item()
        .table_name(table)
        .key("leaseKey", s(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Runs a worker until what it delivered satisfies `until` and `settle` more taker and
/// cleanup passes went by, then stops it.
async fn run_worker(
    e: &Env,
    app: &str,
    until: impl Fn(&BTreeSet<String>) -> bool,
    settle: Duration,
) -> kcl::WorkerStatus {
    let log = Log::default();
    let (handle, task) = common::start(e, fast_config(app, &e.stream, "w"), log.factory("w"));
    log.wait_until("the records", until).await;
    tokio::time::sleep(settle).await;
    let status = handle.status();
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_of_other_kinds_and_other_streams_are_left_alone() {
    let e = env("others", 1).await;
    let app = "others-app";
    put(&e.kinesis, &e.stream, &numbered("r", 0..20)).await;
    // The first worker creates the table; then a shared table gains items that are not ours.
    run_worker(&e, app, |d| d.len() == 20, Duration::ZERO).await;
    let multi = "123456789012:orders:1700000000:shardId-000000000000";
    let finished_multi = "123456789012:orders:1700000000:shardId-000000000001";
    put_item(
        &e,
        app,
        HashMap::from([
            ("leaseKey".into(), s(multi)),
            ("leaseCounter".into(), n(4)),
            ("checkpoint".into(), s("TRIM_HORIZON")),
            ("checkpointSubSequenceNumber".into(), n(0)),
            ("ownerSwitchesSinceCheckpoint".into(), n(0)),
        ]),
    )
    .await;
    put_item(
        &e,
        app,
        HashMap::from([
            ("leaseKey".into(), s(finished_multi)),
            ("leaseCounter".into(), n(9)),
            ("checkpoint".into(), s("SHARD_END")),
            ("checkpointSubSequenceNumber".into(), n(0)),
            (
                "childShardIds".into(),
                AttributeValue::Ss(vec![multi.into()]),
            ),
        ]),
    )
    .await;
    put_item(
        &e,
        app,
        HashMap::from([
            ("leaseKey".into(), s("worker-metrics-1")),
            ("entityType".into(), s("WORKER_METRIC_STATS")),
            ("leaseCounter".into(), n(1)),
        ]),
    )
    .await;
    let before: Vec<Option<Item>> = [multi, finished_multi, "worker-metrics-1"]
        .iter()
        .map(|k| futures::executor::block_on(item(&e, app, k)))
        .collect();

    put(&e.kinesis, &e.stream, &numbered("more", 0..20)).await;
    let status = run_worker(&e, app, |d| d.len() == 20, Duration::from_secs(1)).await;
    assert_eq!(
        status.available_leases, 0,
        "nothing of theirs counted: {status:?}"
    );
    assert_eq!(status.leases_taken, 1, "{status:?}");
    for (key, was) in [multi, finished_multi, "worker-metrics-1"]
        .iter()
        .zip(before)
    {
        assert_eq!(item(&e, app, key).await, was, "{key} changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_child_keeps_its_finished_parent() {
    let e = env("unreadable", 1).await;
    let app = "unreadable-app";
    put(&e.kinesis, &e.stream, &numbered("r", 0..40)).await;
    run_worker(&e, app, |d| d.len() == 40, Duration::ZERO).await;
    // Split the shard; one child's lease item exists but cannot be read.
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
    let children: Vec<String> = streams::list_shards(&e.kinesis, &e.stream)
        .await
        .unwrap()
        .iter()
        .filter(|s| s.parent_shard_id() == Some(parent.shard_id()))
        .map(|s| s.shard_id().to_owned())
        .collect();
    assert_eq!(children.len(), 2);
    let broken: Item = HashMap::from([
        ("leaseKey".into(), s(&children[0])),
        ("leaseCounter".into(), s("not a number")),
        ("checkpoint".into(), s("TRIM_HORIZON")),
    ]);
    put_item(&e, app, broken.clone()).await;

    // The parent is read to its end, the other child starts and checkpoints its records;
    // cleanup passes run.
    put(&e.kinesis, &e.stream, &numbered("after", 0..40)).await;
    let started = |d: &BTreeSet<String>| d.iter().any(|r| r.starts_with("after-"));
    let status = run_worker(&e, app, started, Duration::from_secs(2)).await;
    let parent_item = item(&e, app, parent.shard_id())
        .await
        .expect("the parent of a child that cannot be read is kept");
    assert_eq!(parent_item["checkpoint"], s("SHARD_END"));
    assert_eq!(
        item(&e, app, &children[0]).await,
        Some(broken),
        "never taken"
    );
    assert!(!status.held_leases.contains(&children[0]), "{status:?}");
}
