//! The joining-worker scenario: a backlog on 4 shards, a downstream of bounded speed, a
//! second worker joining while the first is busy; duplicates counted over every delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor};
use testkit::{LocalAws, MeteringProxy, streams};

use super::{Error, worker};

/// Checkpoints every this many records, and in `shutdown_requested` and at shard end.
const CHECKPOINT_EVERY: usize = 10_000;

/// Deliveries per record, shared by every processor.
type Seen = Arc<Mutex<HashMap<String, u32>>>;

/// The downstream of one worker: `lines_per_sec` lines a second for all its shards.
#[derive(Clone)]
struct Downstream {
    next_free: Arc<tokio::sync::Mutex<Instant>>,
    per_line: Duration,
}

impl Downstream {
    async fn write(&self, lines: usize) {
        let until = {
            let mut next = self.next_free.lock().await;
            let lines = u32::try_from(lines).unwrap_or(u32::MAX);
            *next = (*next).max(Instant::now()) + self.per_line * lines;
            *next
        };
        tokio::time::sleep_until(until.into()).await;
    }
}

struct Sink {
    seen: Seen,
    downstream: Downstream,
    since_checkpoint: usize,
}

impl ShardProcessor for Sink {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        self.downstream.write(input.records.len()).await;
        if let Ok(mut seen) = self.seen.lock() {
            for r in &input.records {
                *seen
                    .entry(String::from_utf8_lossy(&r.data).into_owned())
                    .or_insert(0) += 1;
            }
        }
        self.since_checkpoint += input.records.len();
        if self.since_checkpoint >= CHECKPOINT_EVERY {
            self.since_checkpoint = 0;
            let _ = input.checkpointer.checkpoint().await;
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

pub(super) async fn run(records: usize, lines_per_sec: u64) -> Result<(), Error> {
    for (label, timeout) in [
        ("graceful hand-off", None),
        ("no hand-off (timeout 1 ms)", Some(Duration::from_millis(1))),
    ] {
        let (dups, moved, took) = once(records, lines_per_sec, timeout).await?;
        println!(
            "{label}: {records} records on 4 shards at {lines_per_sec} lines/s, checkpoint every {CHECKPOINT_EVERY}: {dups} duplicates, {moved} leases moved to the joining worker, backlog done in {took:.1?}"
        );
    }
    Ok(())
}

async fn once(
    records: usize,
    lines_per_sec: u64,
    handoff_timeout: Option<Duration>,
) -> Result<(u64, u64, Duration), Error> {
    let aws = LocalAws::start().await?;
    let kinesis = aws.kinesis_client();
    streams::create_stream(&kinesis, "join", 4).await?;
    put_all(&kinesis, records).await?;
    let seen = Seen::default();
    let start = |id: &str, meter: &MeteringProxy| {
        let downstream = Downstream {
            next_free: Arc::new(tokio::sync::Mutex::new(Instant::now())),
            per_line: Duration::from_secs_f64(1.0 / lines_per_sec.max(1) as f64),
        };
        let seen = seen.clone();
        let factory = move |_: &str| Sink {
            seen: seen.clone(),
            downstream: downstream.clone(),
            since_checkpoint: 0,
        };
        worker(&aws, meter, "join-app", "join", id, factory, |c| {
            if let Some(t) = handoff_timeout {
                c.graceful_lease_handoff_timeout = t;
            }
        })
    };
    let began = Instant::now();
    let (meter_a, meter_b) = (
        MeteringProxy::start(aws.dynamodb_addr()).await?,
        MeteringProxy::start(aws.dynamodb_addr()).await?,
    );
    let a = start("a", &meter_a)?;
    let ha = a.handle();
    let ta = tokio::spawn(a.run());
    let distinct = || seen.lock().map(|s| s.len()).unwrap_or(0);
    while distinct() < records / 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = start("b", &meter_b)?;
    let hb = b.handle();
    let tb = tokio::spawn(b.run());
    while distinct() < records {
        if began.elapsed() > Duration::from_secs(600) {
            return Err("the backlog was not processed in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = began.elapsed();
    let moved = hb.status().leases_taken;
    for (h, t) in [(ha, ta), (hb, tb)] {
        h.graceful_shutdown().await;
        t.await??;
    }
    let dups = seen
        .lock()
        .map(|s| s.values().map(|n| u64::from(n - 1)).sum())
        .unwrap_or(0);
    Ok((dups, moved, took))
}

async fn put_all(kinesis: &aws_sdk_kinesis::Client, records: usize) -> Result<(), Error> {
    let ids: Vec<usize> = (0..records).collect();
    for chunk in ids.chunks(500) {
        let entries = chunk
            .iter()
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(format!("r{i}")))
                    .partition_key(format!("k{}", i % 64))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = kinesis
            .put_records()
            .stream_name("join")
            .set_records(Some(entries))
            .send()
            .await?;
        if out.failed_record_count().unwrap_or(0) > 0 {
            return Err("records refused while filling the backlog".into());
        }
    }
    Ok(())
}
