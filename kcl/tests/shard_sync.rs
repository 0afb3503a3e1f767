//! Shard sync on a table that an earlier sync left half-written (a worker that crashed
//! while creating the leases of a new application, or two workers starting it together):
//! the leases still missing are created for the oldest shards, and no descendant starts
//! before its parents are done, so every record is delivered and per-key order holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use common::{Log, env, fast_config, put};
use testkit::streams;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Records `k{key}:{n}`, round robin over 8 keys.
fn batch(range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| (format!("k{}", i % 8), format!("k{}:{}", i % 8, i / 8)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_table_is_completed_with_the_oldest_shards_first() {
    let e = env("halfsync", 2).await;
    let app = "halfsync-app";
    put(&e.kinesis, &e.stream, &batch(0..200)).await;
    // Split shard 0; the children get records too.
    let shards = streams::list_shards(&e.kinesis, &e.stream).await.unwrap();
    let (first, second) = (shards[0].clone(), shards[1].clone());
    let range = first.hash_key_range().unwrap();
    let start: u128 = range.starting_hash_key().parse().unwrap();
    let end: u128 = range.ending_hash_key().parse().unwrap();
    e.kinesis
        .split_shard()
        .stream_name(&e.stream)
        .shard_to_split(first.shard_id())
        .new_starting_hash_key((start + (end - start) / 2 + 1).to_string())
        .send()
        .await
        .unwrap();
    streams::wait_active(&e.kinesis, &e.stream).await.unwrap();
    put(&e.kinesis, &e.stream, &batch(200..400)).await;

    // A first worker created the table and the lease of the second root, then stopped.
    e.dynamodb
        .create_table()
        .table_name(app)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("leaseKey")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("leaseKey")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let h = second.hash_key_range().unwrap();
    e.dynamodb
        .put_item()
        .table_name(app)
        .item("leaseKey", s(second.shard_id()))
        .item("leaseCounter", AttributeValue::N("0".into()))
        .item("checkpoint", s("TRIM_HORIZON"))
        .item("checkpointSubSequenceNumber", AttributeValue::N("0".into()))
        .item(
            "ownerSwitchesSinceCheckpoint",
            AttributeValue::N("0".into()),
        )
        .item("startingHashKey", s(h.starting_hash_key()))
        .item("endingHashKey", s(h.ending_hash_key()))
        .send()
        .await
        .unwrap();

    let log = Log::default();
    let (handle, task) = common::start(&e, fast_config(app, &e.stream, "w"), log.factory("w"));
    log.wait_until("every record", |d| d.len() == 400).await;
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();

    // Per key, first deliveries are in production order: the split parent was read to its
    // end before its children.
    let mut next: HashMap<String, usize> = HashMap::new();
    for seen in log.entries() {
        let n: usize = seen.data.split(':').nth(1).unwrap().parse().unwrap();
        let expected = next.entry(seen.key.clone()).or_default();
        if n == *expected {
            *expected += 1;
        } else {
            assert!(
                n < *expected,
                "{} delivered before {}:{expected}",
                seen.data,
                seen.key
            );
        }
    }
    assert_eq!(next.values().sum::<usize>(), 400);
}
