//! Backpressure with fan-out: each shard's events wait in a bounded buffer (by events and
//! bytes); a shard whose processor is stuck is not read further, and holds up no other
//! shard of the worker. Checked over what happened: the other shard's records all arrive
//! while one is stuck, the bytes held stay within the bounds, and once the stuck
//! processor goes on, every record arrives once and in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;
mod fan_out_support;

use std::time::Duration;

use common::{Log, Recorder, put};
use fan_out_support::{assert_each_record_once_in_order, fan_config, fan_env};
use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
use testkit::LocalAwsOptions;
use tokio::sync::watch;

const STUCK: &str = "shardId-000000000000";

/// A recorder that, on the stuck shard, waits for the gate before each batch.
struct Gated {
    inner: Recorder,
    gate: Option<watch::Receiver<bool>>,
}

impl ShardProcessor for Gated {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        if let Some(gate) = &mut self.gate {
            let _ = gate.wait_for(|open| *open).await;
        }
        self.inner.process_records(input).await;
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        self.inner.shard_ended(checkpointer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_shard_is_not_read_and_holds_up_no_other_shard() {
    // Events of at most 20 records (about 20 KB here).
    let mut options = LocalAwsOptions::default();
    options.kinesis.subscribe_to_shard_event_record_limit = 20;
    let e = fan_env("fo-backpressure", 2, options).await;
    let payload = "x".repeat(1000);
    let records: Vec<(String, String)> = (0..600)
        .map(|i| (format!("key-{i}"), format!("{i}-{payload}")))
        .collect();
    put(&e.kinesis, &e.stream, &records).await;

    let log = Log::default();
    let (open, gate) = watch::channel(false);
    let factory = {
        let log = log.clone();
        move |shard: &str| Gated {
            inner: log.processor("w", shard),
            gate: (shard == STUCK).then(|| gate.clone()),
        }
    };
    let mut config = fan_config("fo-backpressure-app", &e.stream, "w");
    config.fan_out.max_buffered_events = 10;
    config.fan_out.max_buffered_bytes = 32 * 1024;
    let (handle, task) = e.start(config, factory);

    // The other shard is read through while the stuck one waits.
    let expected = e.stream_data().await;
    let other = expected
        .iter()
        .find(|(shard, _)| *shard != STUCK)
        .map(|(_, r)| r.len())
        .unwrap();
    assert!(
        other > 0 && expected[STUCK].len() > 100,
        "both shards hold records"
    );
    log.wait_until("the other shard's records", |d| d.len() == other)
        .await;
    // Per shard at most the byte bound plus one event (20 records of about 1 KB).
    let bound = 2 * (32 * 1024 + 20 * 1100);
    let mut most = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        most = most.max(handle.status().prefetched_bytes);
    }
    println!("most bytes held: {most} (bound {bound})");
    assert!(most > 0, "the stuck shard's buffer holds something");
    assert!(most <= bound, "{most} bytes held; the bound is {bound}");
    assert_eq!(
        log.entries().len(),
        other,
        "the stuck shard delivered nothing yet"
    );

    open.send_replace(true);
    log.wait_until("every record", |d| d.len() == 600).await;
    assert_each_record_once_in_order(&e, &log).await;
    assert_eq!(handle.status().consumer_errors, 0);
    handle.graceful_shutdown().await;
    task.await.unwrap().unwrap();
}
