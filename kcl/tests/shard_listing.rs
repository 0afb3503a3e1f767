//! Shard sync pages through ListShards: with pages of two shards, a worker on a fresh table
//! (ShardFilter at TRIM_HORIZON on the first page, NextToken alone on the others) creates a
//! lease for every shard and processes every record.
//!
//! The embedded ferrokinesis answers a ListShards request that carries only a NextToken with
//! an error (it looks the stream up by the missing name), so this test needs a server that
//! pages as AWS does: `.ci/run` runs it against kinesis-mock through `TESTKIT_KINESIS_ENDPOINT`
//! (`cargo test -p kinesis-kcl --test shard_listing -- --include-ignored`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Log, env, fast_config, put, wait_leases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ListShards pagination (NextToken alone), which ferrokinesis lacks; .ci/run runs it against kinesis-mock"]
async fn shard_sync_follows_every_list_shards_page() {
    let e = env("listing", 5).await;
    let records: Vec<(String, String)> = (0..300)
        .map(|i| (format!("key-{i}"), format!("record-{i}")))
        .collect();
    put(&e.kinesis, &e.stream, &records).await;

    let log = Log::default();
    let mut config = fast_config("listing-app", &e.stream, "w");
    config.list_shards_page_size = Some(2);
    let (handle, task) = common::start(&e, config, log.factory("w"));

    let held = wait_leases(&[&handle], Duration::from_secs(30), |sets| {
        sets[0].len() == 5
    })
    .await;
    log.wait_until("every record", |d| d.len() == records.len())
        .await;
    let want: BTreeSet<String> = records.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(log.data(), want);

    let listed: BTreeSet<String> = testkit::streams::list_shards(&e.kinesis, &e.stream)
        .await
        .unwrap()
        .iter()
        .map(|s| s.shard_id().to_owned())
        .collect();
    assert_eq!(held[0], listed, "a lease for every shard, over three pages");
    let items = common::raw_items(&e.dynamodb, "listing-app").await;
    assert_eq!(items.len(), 5);

    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
