//! Graceful lease moves (the Java KCL 3.x hand-off): a worker joining a backlog asks for
//! its share; each owner's processor gets `shutdown_requested` with its checkpointer, and
//! the new owner starts at that final checkpoint, so a processor that checkpoints there
//! causes no duplicates. An owner that never answers loses the lease once the hand-off
//! timeout passed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{env, fast_config, numbered, put};
use kcl::{Checkpointer, ProcessRecordsInput, ShardProcessor, Worker, WorkerHandle};

/// Every delivery: (worker, shard, data, when).
type Deliveries = Arc<Mutex<Vec<(String, String, String, Instant)>>>;

/// Takes its time over each batch and never checkpoints while processing: only in
/// `shutdown_requested` (at the last record it processed) and at shard end. With
/// `answer` off, `shutdown_requested` never returns (an owner that does not hand over).
struct Slow {
    worker: String,
    shard: String,
    log: Deliveries,
    per_batch: Duration,
    answer: bool,
}

impl ShardProcessor for Slow {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        tokio::time::sleep(self.per_batch).await;
        let now = Instant::now();
        let mut log = self.log.lock().unwrap();
        for r in &input.records {
            let data = String::from_utf8_lossy(&r.data).into_owned();
            log.push((self.worker.clone(), self.shard.clone(), data, now));
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        checkpointer.checkpoint().await.unwrap();
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        if !self.answer {
            std::future::pending::<()>().await;
        }
        checkpointer.checkpoint().await.unwrap();
    }
}

fn start(
    e: &common::Env,
    id: &str,
    log: &Deliveries,
    answer: bool,
) -> (
    WorkerHandle,
    tokio::task::JoinHandle<Result<(), kcl::WorkerError>>,
) {
    let mut config =
        fast_config("handoff-app", &e.stream, id).with_failover_time(Duration::from_secs(3));
    config.max_records = 25;
    let (log, worker) = (log.clone(), id.to_owned());
    let factory = move |shard: &str| Slow {
        worker: worker.clone(),
        shard: shard.to_owned(),
        log: log.clone(),
        per_batch: Duration::from_millis(40),
        answer,
    };
    let w = Worker::new(config, e.kinesis.clone(), e.dynamodb.clone(), factory).unwrap();
    let h = w.handle();
    (h, tokio::spawn(w.run()))
}

fn counts(log: &Deliveries) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, _, data, _) in log.lock().unwrap().iter() {
        *counts.entry(data.clone()).or_insert(0) += 1;
    }
    counts
}

async fn wait_for(what: &str, limit: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_worker_takes_its_share_by_hand_off_without_duplicates() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let e = env("handoff", 4).await;
    let records = numbered("r", 0..3_000);
    put(&e.kinesis, &e.stream, &records).await;
    let log = Deliveries::default();
    let (a, ta) = start(&e, "a", &log, true);
    wait_for("a at work on every shard", Duration::from_secs(30), || {
        a.status().held_leases.len() == 4 && log.lock().unwrap().len() >= 200
    })
    .await;
    let (b, tb) = start(&e, "b", &log, true);
    wait_for("every record", Duration::from_secs(60), || {
        counts(&log).len() == records.len()
    })
    .await;
    let held = [a.status().held_leases.len(), b.status().held_leases.len()];
    let by_b = log.lock().unwrap().iter().filter(|d| d.0 == "b").count();
    let repeated: Vec<_> = counts(&log).into_iter().filter(|(_, n)| *n > 1).collect();
    println!(
        "held {held:?}; b delivered {by_b}; a took {}, lost {}, released {}, errors {}; b took {}, released {}; repeated {}",
        a.status().leases_taken,
        a.status().leases_lost,
        a.status().leases_released,
        a.status().consumer_errors,
        b.status().leases_taken,
        b.status().leases_released,
        repeated.len()
    );
    assert_eq!(held, [2, 2], "b took its share");
    assert!(by_b > 0, "b processed the shards it was handed");
    assert_eq!(a.status().leases_lost, 0, "a lost nothing: it handed over");
    assert_eq!(a.status().leases_released, 2, "a handed two leases over");
    assert_eq!(
        (a.status().leases_taken, b.status().leases_taken),
        (4, 2),
        "no lease moved more than once"
    );
    assert!(
        repeated.is_empty(),
        "no record delivered twice: {repeated:?}"
    );
    for (h, t) in [(a, ta), (b, tb)] {
        h.graceful_shutdown().await;
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_does_not_hand_over_loses_the_lease_after_the_timeout() {
    let e = env("nohandoff", 2).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..2_000)).await;
    let log = Deliveries::default();
    let (a, ta) = start(&e, "a", &log, false);
    wait_for("a at work on both shards", Duration::from_secs(30), || {
        a.status().held_leases.len() == 2 && log.lock().unwrap().len() >= 100
    })
    .await;
    let joined = Instant::now();
    let (b, tb) = start(&e, "b", &log, true);
    wait_for("b holding one lease", Duration::from_secs(30), || {
        b.status().held_leases.len() == 1
    })
    .await;
    let taken = joined.elapsed();
    let moved = b.status().held_leases.into_iter().next().unwrap();
    wait_for("a seeing the lease lost", Duration::from_secs(10), || {
        a.status().leases_lost == 1
    })
    .await;
    println!("b took {moved} {taken:?} after joining (hand-off timeout 3 s)");
    assert!(
        taken >= Duration::from_secs(3),
        "not before the hand-off timeout: the owner was still renewing"
    );
    assert!(!a.status().held_leases.contains(&moved));
    let first_by_b = log
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.0 == "b" && d.1 == moved)
        .map(|d| d.3)
        .min();
    if let Some(first) = first_by_b {
        let late = log
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.0 == "a" && d.1 == moved && d.3 >= first)
            .count();
        assert_eq!(
            late, 0,
            "a delivered nothing of {moved} once b processed it"
        );
    }
    a.shutdown();
    ta.abort();
    b.graceful_shutdown().await;
    tb.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_leaver_offers_its_leases_and_the_receiver_starts_at_its_final_checkpoint() {
    let e = env("leaver", 4).await;
    let records = numbered("r", 0..3_000);
    put(&e.kinesis, &e.stream, &records).await;
    let log = Deliveries::default();
    let (a, ta) = start(&e, "a", &log, true);
    let (b, tb) = start(&e, "b", &log, true);
    wait_for("both at work", Duration::from_secs(30), || {
        a.status().held_leases.len() == 2
            && b.status().held_leases.len() == 2
            && log.lock().unwrap().len() >= 400
    })
    .await;
    let left = a.status().held_leases;
    let released_before = a.status().leases_released;
    let leaving = Instant::now();
    a.graceful_shutdown().await;
    ta.await.unwrap().unwrap();
    wait_for("every record", Duration::from_secs(60), || {
        counts(&log).len() == records.len()
    })
    .await;
    let repeated: Vec<_> = counts(&log).into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(
        repeated.is_empty(),
        "no record delivered twice: {repeated:?}"
    );
    assert_eq!(a.status().leases_released - released_before, 2);
    assert_eq!(b.status().held_leases.len(), 4, "b took both");
    let deliveries = log.lock().unwrap().clone();
    for shard in &left {
        let last_by_a = deliveries
            .iter()
            .filter(|d| d.0 == "a" && &d.1 == shard)
            .map(|d| d.3)
            .max();
        let first_by_b = deliveries
            .iter()
            .filter(|d| d.0 == "b" && &d.1 == shard && d.3 >= leaving)
            .map(|d| d.3)
            .min();
        if let (Some(last), Some(first)) = (last_by_a, first_by_b) {
            assert!(
                first > last,
                "b started {shard} only after a's last delivery"
            );
        }
    }
    b.graceful_shutdown().await;
    tb.await.unwrap().unwrap();
}
