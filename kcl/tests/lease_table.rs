//! The lease table a worker creates and writes matches the Java KCL's: table layout,
//! attribute names and DynamoDB types (read back as raw items), checkpoint sentinels,
//! prepared checkpoints with state, parent and child shard ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeyType, ScalarAttributeType};
use bytes::Bytes;
use common::{env, fast_config, numbered, put};
use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
use testkit::streams;
use tokio::sync::watch;

fn kind(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::B(_) => "B",
        _ => "other",
    }
}

fn kinds(item: &HashMap<String, AttributeValue>) -> Vec<(String, &'static str)> {
    let mut v: Vec<_> = item.iter().map(|(k, v)| (k.clone(), kind(v))).collect();
    v.sort();
    v
}

/// Prepares a checkpoint with state on the first batch, commits on the second.
#[derive(Clone)]
struct TwoPhase {
    batches: Arc<Mutex<usize>>,
    done: watch::Sender<usize>,
}

impl ShardProcessor for TwoPhase {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let n = {
            let mut b = self.batches.lock().unwrap();
            *b += 1;
            *b
        };
        if n == 1 {
            let prepared = input
                .checkpointer
                .prepare_checkpoint(Some(Bytes::from_static(b"app-state")))
                .await
                .unwrap();
            assert_eq!(
                prepared.position(),
                &input.records.last().unwrap().position()
            );
        } else {
            input.checkpointer.checkpoint().await.unwrap();
        }
        self.done.send_replace(n);
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        checkpointer.checkpoint().await.unwrap();
        self.done.send_replace(1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_items_have_the_kcl_names_and_types() {
    let e = env("table", 1).await;
    let p = TwoPhase {
        batches: Arc::default(),
        done: watch::channel(0).0,
    };
    let mut done = p.done.subscribe();
    let mut config = fast_config("table-app", &e.stream, "w1");
    config.cleanup_leases_upon_shard_completion = false;
    let factory = {
        let p = p.clone();
        move |_: &str| p.clone()
    };
    let (handle, task) = common::start(&e, config, factory);

    put(&e.kinesis, &e.stream, &numbered("a", 0..10)).await;
    done.wait_for(|n| *n >= 1).await.unwrap();

    // The table: leaseKey S hash key, on demand.
    let table = e
        .dynamodb
        .describe_table()
        .table_name("table-app")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    assert_eq!(table.key_schema()[0].attribute_name(), "leaseKey");
    assert_eq!(table.key_schema()[0].key_type(), &KeyType::Hash);
    assert_eq!(table.key_schema().len(), 1);
    assert_eq!(
        table.attribute_definitions()[0].attribute_type(),
        &ScalarAttributeType::S
    );
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );

    // A held lease with a prepared checkpoint.
    let item = common::raw_items(&e.dynamodb, "table-app").await.remove(0);
    assert_eq!(
        kinds(&item),
        [
            ("checkpoint".into(), "S"),
            ("checkpointSubSequenceNumber".into(), "N"),
            ("endingHashKey".into(), "S"),
            // kcl's addition: the kcl worker whose take this is (the liveness watch).
            ("kclHolder".into(), "S"),
            ("leaseCounter".into(), "N"),
            ("leaseKey".into(), "S"),
            ("leaseOwner".into(), "S"),
            ("ownerSwitchesSinceCheckpoint".into(), "N"),
            ("pendingCheckpoint".into(), "S"),
            ("pendingCheckpointState".into(), "B"),
            ("pendingCheckpointSubSequenceNumber".into(), "N"),
            ("startingHashKey".into(), "S"),
        ]
    );
    assert_eq!(item["checkpoint"], AttributeValue::S("TRIM_HORIZON".into()));
    assert_eq!(item["leaseOwner"], AttributeValue::S("w1".into()));
    assert_eq!(item["kclHolder"], AttributeValue::S("w1".into()));
    assert_eq!(item["startingHashKey"], AttributeValue::S("0".into()));
    assert_eq!(
        item["endingHashKey"],
        AttributeValue::S(u128::MAX.to_string())
    );
    assert_eq!(
        item["pendingCheckpointState"].as_b().unwrap().as_ref(),
        b"app-state"
    );

    // The commit replaces the pending fields by the checkpoint.
    put(&e.kinesis, &e.stream, &numbered("b", 0..10)).await;
    done.wait_for(|n| *n >= 2).await.unwrap();
    let item = common::raw_items(&e.dynamodb, "table-app").await.remove(0);
    assert!(!item.contains_key("pendingCheckpoint"));
    assert!(!item.contains_key("pendingCheckpointState"));
    assert!(
        item["checkpoint"]
            .as_s()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit())
    );
    assert_eq!(
        item["checkpointSubSequenceNumber"],
        AttributeValue::N("0".into())
    );

    // Split: SHARD_END on the parent with childShardIds; children with parentShardId.
    let parent = item["leaseKey"].as_s().unwrap().clone();
    e.kinesis
        .split_shard()
        .stream_name(&e.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key("1000")
        .send()
        .await
        .unwrap();
    streams::wait_active(&e.kinesis, &e.stream).await.unwrap();
    done.wait_for(|n| *n >= 1000).await.unwrap();
    let items: HashMap<String, HashMap<String, AttributeValue>> =
        common::raw_items(&e.dynamodb, "table-app")
            .await
            .into_iter()
            .map(|i| (i["leaseKey"].as_s().unwrap().clone(), i))
            .collect();
    assert_eq!(items.len(), 3);
    let p = &items[&parent];
    assert_eq!(p["checkpoint"], AttributeValue::S("SHARD_END".into()));
    let children = p["childShardIds"].as_ss().unwrap().clone();
    assert_eq!(children.len(), 2);
    for c in &children {
        let child = &items[c];
        assert_eq!(
            child["parentShardId"],
            AttributeValue::Ss(vec![parent.clone()])
        );
        assert_eq!(kind(&child["startingHashKey"]), "S");
    }

    // A graceful shutdown releases: no owner, counter bumped. (The parent is left out: its
    // consumer may still be finishing its shard end when the held set is read, and a
    // finished lease is not released but kept as it ended.)
    let before: HashMap<String, u64> = items
        .iter()
        .map(|(k, i)| {
            (
                k.clone(),
                i["leaseCounter"].as_n().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let held = handle.status().held_leases;
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    for i in common::raw_items(&e.dynamodb, "table-app").await {
        let key = i["leaseKey"].as_s().unwrap();
        if held.contains(key) && *key != parent {
            assert!(!i.contains_key("leaseOwner"), "{key} released");
            let counter: u64 = i["leaseCounter"].as_n().unwrap().parse().unwrap();
            assert!(counter > before[key]);
        }
    }
}
