//! Resharding during consumption (a split, then a merge of the children): every record
//! is processed, per-key order holds, children start only after their parents finished,
//! and finished leases are cleaned up once their children started.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use common::{Log, env, fast_config, put};
use kcl::RetrievalMode;
use testkit::streams;

/// Records `k{key}:{n}` for n in `range`, round robin over 20 keys.
fn batch(range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| (format!("k{}", i % 20), format!("k{}:{}", i % 20, i / 20)))
        .collect()
}

async fn open_shards(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<aws_sdk_kinesis::types::Shard> {
    streams::list_shards(kinesis, stream)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| {
            s.sequence_number_range()
                .unwrap()
                .ending_sequence_number()
                .is_none()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_then_merge_keeps_every_record_and_per_key_order() {
    split_then_merge(RetrievalMode::Polling).await;
}

/// With fan-out, shard end comes from the events' child shards (ferrokinesis names a
/// merge's child with one parent at the adjacent parent's end: ListShards is asked then;
/// kinesis-mock never ends a closed shard's subscription: the idle probe finds the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_then_merge_keeps_every_record_and_per_key_order_with_fan_out() {
    split_then_merge(RetrievalMode::fan_out()).await;
}

async fn split_then_merge(mode: RetrievalMode) {
    let e = env("reshard", 1).await;
    let log = Log::default();
    let mut config = fast_config("reshard-app", &e.stream, "w");
    config.retrieval_mode = mode;
    // kinesis-mock never signals shard end on a subscription: an idle one probes.
    config.fan_out.shard_end_probe_interval = Duration::from_millis(500);
    let (handle, task) = common::start(&e, config, log.factory("w"));

    put(&e.kinesis, &e.stream, &batch(0..400)).await;
    log.wait_until("the first records", |d| !d.is_empty()).await;

    // Split the only shard in the middle of the key space.
    let parent = open_shards(&e.kinesis, &e.stream).await.remove(0);
    e.kinesis
        .split_shard()
        .stream_name(&e.stream)
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key((u128::MAX / 2 + 1).to_string())
        .send()
        .await
        .unwrap();
    streams::wait_active(&e.kinesis, &e.stream).await.unwrap();
    put(&e.kinesis, &e.stream, &batch(400..800)).await;

    // Merge the two children back.
    let mut children = open_shards(&e.kinesis, &e.stream).await;
    children.sort_by_key(|s| s.hash_key_range().unwrap().starting_hash_key().len());
    assert_eq!(children.len(), 2);
    e.kinesis
        .merge_shards()
        .stream_name(&e.stream)
        .shard_to_merge(children[0].shard_id())
        .adjacent_shard_to_merge(children[1].shard_id())
        .send()
        .await
        .unwrap();
    streams::wait_active(&e.kinesis, &e.stream).await.unwrap();
    put(&e.kinesis, &e.stream, &batch(800..1200)).await;

    let all: BTreeSet<String> = batch(0..1200).into_iter().map(|(_, d)| d).collect();
    log.wait_until("every record", |d| d.len() == 1200).await;
    assert_eq!(log.data(), all);

    let entries = log.entries();
    // Per-key order: first deliveries of each key's records come in put order.
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut seen = BTreeSet::new();
    for s in &entries {
        if !seen.insert(s.data.clone()) {
            continue;
        }
        let n: usize = s.data.split(':').nth(1).unwrap().parse().unwrap();
        let expected = next.entry(s.key.clone()).or_insert(0);
        assert_eq!(
            n, *expected,
            "key {} out of order: got {} expected {}",
            s.key, n, expected
        );
        *expected += 1;
    }
    // Children after parents: a shard's first delivery follows its parents' last.
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in entries.iter().enumerate() {
        first.entry(&s.shard).or_insert(i);
        last.insert(&s.shard, i);
    }
    let shards = streams::list_shards(&e.kinesis, &e.stream).await.unwrap();
    assert_eq!(shards.len(), 4);
    for shard in &shards {
        for p in [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
            .into_iter()
            .flatten()
        {
            if let (Some(child_first), Some(parent_last)) =
                (first.get(shard.shard_id()), last.get(p))
            {
                assert!(
                    child_first > parent_last,
                    "{} started before its parent {p} ended",
                    shard.shard_id()
                );
            }
        }
    }

    // Finished leases are deleted once their children started: only the merged shard's
    // lease is left in the end.
    let merged = open_shards(&e.kinesis, &e.stream).await.remove(0);
    let mut keys = Vec::new();
    for _ in 0..100 {
        keys = common::raw_items(&e.dynamodb, "reshard-app")
            .await
            .iter()
            .map(|i| i["leaseKey"].as_s().unwrap().clone())
            .collect();
        if keys == [merged.shard_id().to_owned()] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(keys, [merged.shard_id().to_owned()]);
    assert_eq!(handle.status().consumer_errors, 0);
    // With no lease lost, nothing was delivered twice.
    assert_eq!(entries.len(), 1200, "no record delivered twice");
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
