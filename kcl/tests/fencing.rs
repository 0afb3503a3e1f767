//! Lease fencing: two workers racing for one lease end with exactly one owner; a stale
//! owner's checkpoint is refused after its lease was taken, and still refused after it
//! took the lease back (the per-acquisition concurrency token); the table stays
//! consistent throughout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Log, env, fast_config, numbered, put};
use kcl::CheckpointError;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_for_one_lease_end_with_one_owner() {
    let e = env("race", 1).await;
    let log = Log::default();
    let start =
        |id: &str| common::start(&e, fast_config("race-app", &e.stream, id), log.factory(id));
    let (a, ta) = start("a");
    let (b, tb) = start("b");
    put(&e.kinesis, &e.stream, &numbered("r", 0..50)).await;
    log.wait_until("every record", |d| d.len() == 50).await;
    let sets = common::wait_leases(&[&a, &b], Duration::from_secs(10), |s| {
        s.iter().map(BTreeSet::len).sum::<usize>() == 1
    })
    .await;
    let owner = if sets[0].len() == 1 { "a" } else { "b" };
    let item = common::raw_items(&e.dynamodb, "race-app").await.remove(0);
    assert_eq!(item["leaseOwner"], s(owner));
    // Both took turns at most a few times, and every record was delivered.
    assert_eq!(log.data().len(), 50);
    for (h, t) in [(a, ta), (b, tb)] {
        h.graceful_shutdown().await;
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_cannot_checkpoint_even_after_taking_the_lease_back() {
    let e = env("fence", 1).await;
    let log = Log::default();
    let (a, task) = common::start(
        &e,
        fast_config("fence-app", &e.stream, "a"),
        log.factory("a"),
    );
    put(&e.kinesis, &e.stream, &numbered("r", 0..20)).await;
    log.wait_until("the records", |d| d.len() == 20).await;
    let (shard, stale) = log.checkpointers.lock().unwrap().last().cloned().unwrap();
    let checkpoint_before = stale.last_checkpoint();

    // Another worker (say a Java KCL worker) steals the lease: owner and counter change.
    let item = common::raw_items(&e.dynamodb, "fence-app").await.remove(0);
    let counter: u64 = item["leaseCounter"].as_n().unwrap().parse().unwrap();
    e.dynamodb
        .update_item()
        .table_name("fence-app")
        .key("leaseKey", s(&shard))
        .update_expression(
            "SET leaseOwner = :o, leaseCounter = :n ADD ownerSwitchesSinceCheckpoint :one",
        )
        .condition_expression("leaseCounter = :c")
        .expression_attribute_values(":o", s("intruder"))
        .expression_attribute_values(":n", AttributeValue::N((counter + 1).to_string()))
        .expression_attribute_values(":c", AttributeValue::N(counter.to_string()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();

    // The stale processor tries to checkpoint a new record it was given.
    put(&e.kinesis, &e.stream, &numbered("late", 0..1)).await;
    log.wait_until("the late record", |d| d.contains("late-0"))
        .await;
    let err = stale.checkpoint().await.unwrap_err();
    assert_eq!(
        err,
        CheckpointError::LeaseLost {
            shard_id: shard.clone()
        }
    );
    assert!(!err.is_retryable());
    let item = common::raw_items(&e.dynamodb, "fence-app").await.remove(0);
    assert_eq!(
        item["leaseOwner"],
        s("intruder"),
        "the refused write changed nothing"
    );
    assert_eq!(
        item["leaseCounter"],
        AttributeValue::N((counter + 1).to_string())
    );
    assert_eq!(
        item["checkpoint"],
        s(&checkpoint_before.to_table().0),
        "the checkpoint is the one before the steal"
    );

    // The intruder never renews: after the failover time the lease expires and the
    // worker takes it back under a new acquisition. The old checkpointer stays refused.
    common::wait_leases(&[&a], Duration::from_secs(10), |s| s[0].contains(&shard)).await;
    let err = stale.checkpoint().await.unwrap_err();
    assert_eq!(
        err,
        CheckpointError::LeaseLost {
            shard_id: shard.clone()
        }
    );
    let item = common::raw_items(&e.dynamodb, "fence-app").await.remove(0);
    assert_eq!(item["leaseOwner"], s("a"));
    assert!(a.status().leases_lost >= 1);
    a.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}

/// On its first call, has another worker steal the lease (as a Java KCL worker would), then
/// checkpoints (refused: the lease is lost); counts the records of every call.
struct StolenDuringFirstCall {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    calls: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl kcl::ShardProcessor for StolenDuringFirstCall {
    async fn process_records(&mut self, input: kcl::ProcessRecordsInput) {
        let first = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(input.records.len());
            calls.len() == 1
        };
        if first {
            let item = common::raw_items(&self.dynamodb, &self.table)
                .await
                .remove(0);
            let counter: u64 = item["leaseCounter"].as_n().unwrap().parse().unwrap();
            self.dynamodb
                .update_item()
                .table_name(&self.table)
                .key("leaseKey", item["leaseKey"].clone())
                .update_expression("SET leaseOwner = :o, leaseCounter = :n")
                .condition_expression("leaseCounter = :c")
                .expression_attribute_values(":o", s("intruder"))
                .expression_attribute_values(":n", AttributeValue::N((counter + 1).to_string()))
                .expression_attribute_values(":c", AttributeValue::N(counter.to_string()))
                .send()
                .await
                .unwrap();
            let refused = input.checkpointer.checkpoint().await.unwrap_err();
            assert!(matches!(refused, CheckpointError::LeaseLost { .. }));
        }
    }

    async fn shard_ended(&mut self, checkpointer: kcl::Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_lost_its_lease_does_not_deliver_the_rest_of_its_batch() {
    let e = env("bounded", 1).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..1000)).await;
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut config = fast_config("bounded-app", &e.stream, "a");
    config.max_records_per_call = 10; // one GetRecords answer of 1,000 records: 100 calls
    let factory = {
        let (dynamodb, calls) = (e.dynamodb.clone(), calls.clone());
        move |_: &str| StolenDuringFirstCall {
            dynamodb: dynamodb.clone(),
            table: "bounded-app".into(),
            calls: calls.clone(),
        }
    };
    let (handle, task) = common::start(&e, config, factory);
    tokio::time::timeout(Duration::from_secs(30), async {
        while calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    // The intruder never renews: the lease comes back after the failover time; stop first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.shutdown();
    let _ = task.await.unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [10],
        "one bounded call, then nothing of the lost lease"
    );
}
