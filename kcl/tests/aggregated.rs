//! KPL-aggregated records (made with the aggregation crate) are de-aggregated and
//! checkpointed with sub-sequence numbers; a restart resumes inside an aggregate without
//! losing or re-delivering already-checkpointed sub-records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use common::{env, fast_config};
use kcl::agg::{Aggregator, UserRecord};
use kcl::{Checkpointer, ProcessRecordsInput, Record, RetrievalMode, ShardProcessor};
use tokio::sync::watch;

/// 5 aggregates of 10 user records each: `u{i}` with key `pk{i}`.
async fn put_aggregates(kinesis: &aws_sdk_kinesis::Client, stream: &str) {
    let mut entries = Vec::new();
    for a in 0..5 {
        let mut agg = Aggregator::default();
        for j in 0..10 {
            let i = a * 10 + j;
            agg.try_add(UserRecord::new(format!("pk{i}"), format!("u{i}")).unwrap())
                .unwrap();
        }
        let r = agg.finish().unwrap();
        assert!(r.aggregated);
        entries.push(
            PutRecordsRequestEntry::builder()
                .partition_key(&r.partition_key)
                .explicit_hash_key(r.explicit_hash_key_decimal())
                .data(Blob::new(r.data.to_vec()))
                .build()
                .unwrap(),
        );
    }
    kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
}

/// Collects records; checkpoints once, at user record `u25` (the 6th sub-record of the
/// 3rd aggregate).
#[derive(Clone)]
struct MidAggregate {
    got: Arc<Mutex<Vec<Record>>>,
    count: watch::Sender<usize>,
}

impl ShardProcessor for MidAggregate {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        for r in &input.records {
            if r.data == "u25" {
                input
                    .checkpointer
                    .checkpoint_at(&r.sequence_number, r.sub_sequence_number)
                    .await
                    .unwrap();
            }
        }
        let mut got = self.got.lock().unwrap();
        got.extend(input.records);
        self.count.send_replace(got.len());
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        checkpointer.checkpoint().await.unwrap();
    }
}

async fn run_until(config: kcl::Config, e: &common::Env, want: usize) -> Vec<Record> {
    let p = MidAggregate {
        got: Arc::default(),
        count: watch::channel(0).0,
    };
    let mut count = p.count.subscribe();
    let factory = {
        let p = p.clone();
        move |_: &str| p.clone()
    };
    let (handle, task) = common::start(e, config, factory);
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        count.wait_for(|n| *n >= want),
    )
    .await
    .expect("records in time")
    .unwrap();
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
    p.got.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_inside_an_aggregate() {
    restart_inside_an_aggregate(RetrievalMode::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_inside_an_aggregate_with_fan_out() {
    restart_inside_an_aggregate(RetrievalMode::fan_out()).await;
}

async fn restart_inside_an_aggregate(mode: RetrievalMode) {
    let e = env("agg", 1).await;
    put_aggregates(&e.kinesis, &e.stream).await;
    let config = |worker: &str| {
        let mut c = fast_config("agg-app", &e.stream, worker);
        c.retrieval_mode = mode.clone();
        c
    };

    let first = run_until(config("a"), &e, 50).await;
    assert_eq!(first.len(), 50);
    for (i, r) in first.iter().enumerate() {
        assert_eq!(r.data, format!("u{i}").as_bytes());
        assert_eq!(r.partition_key, format!("pk{i}").as_str());
        assert_eq!(r.sub_sequence_number, (i % 10) as u64);
        assert!(r.aggregated);
        assert!(r.approximate_arrival_timestamp.is_some());
    }
    let at = &first[25];

    // The table holds the checkpoint inside the aggregate, and no owner (released).
    let item = common::raw_items(&e.dynamodb, "agg-app").await.remove(0);
    assert_eq!(
        item["checkpoint"],
        AttributeValue::S(at.sequence_number.to_string())
    );
    assert_eq!(
        item["checkpointSubSequenceNumber"],
        AttributeValue::N("5".into())
    );
    assert!(!item.contains_key("leaseOwner"));

    // A new worker resumes right after u25, inside the same aggregate.
    let second = run_until(config("b"), &e, 24).await;
    let data: Vec<String> = second
        .iter()
        .map(|r| String::from_utf8(r.data.to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (26..50).map(|i| format!("u{i}")).collect();
    assert_eq!(data, expected);
    assert_eq!(second[0].sequence_number, at.sequence_number);
    assert_eq!(second[0].sub_sequence_number, 6);
}
