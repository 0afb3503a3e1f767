//! What idle workers read from the lease table, metered by a proxy in front of DynamoDB
//! (each worker its own): no item by the query that finds leases given to a worker while
//! none is on its way (the sparse hand-over index), no scan beyond the taker's (shard
//! sync and cleanup judge on the taker's scans), and a graceful leaver's leases found
//! through that query, which is empty again once they are taken.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use kcl::Config;
use testkit::{Cost, MeteringProxy};

/// The shards of the stream (6 below).
const LEASES: usize = 6;
const TAKER: Duration = Duration::from_secs(4);
const WATCH: Duration = Duration::from_secs(2);

fn config(app: &str, stream: &str, worker: &str) -> Config {
    let mut c = common::fast_config(app, stream, worker);
    c.failover_time = Duration::from_secs(10);
    c.lease_renewal_interval = Duration::from_secs(3);
    c.lease_taker_interval = TAKER;
    // The settled table is scanned at the taker interval here too (the settled pace is the
    // fleet bench's), and the other worker watched through one read every 2 s.
    c.settled_taker_interval = TAKER;
    c.liveness_check_interval = WATCH;
    c.lease_discovery_interval = Duration::from_millis(200);
    // Shard sync and cleanup far more often than the taker: each would scan on its own.
    c.shard_sync_interval = Duration::from_millis(400);
    c.lease_cleanup_interval = Duration::from_millis(400);
    c
}

fn op(meter: &MeteringProxy, name: &str) -> Cost {
    meter.costs().get(name).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_read_only_the_taker_scans_and_find_a_leavers_leases_at_once() {
    let e = common::env("cost", 6).await;
    let log = common::Log::default();
    let mut workers = Vec::new();
    for id in ["w1", "w2"] {
        let meter = MeteringProxy::start(e.aws.dynamodb_addr()).await.unwrap();
        let dynamodb = testkit::dynamodb_client(&meter.endpoint());
        let worker = kcl::Worker::new(
            config("cost-app", &e.stream, id),
            e.kinesis.clone(),
            dynamodb,
            log.factory(id),
        )
        .unwrap();
        let handle = worker.handle();
        workers.push((meter, handle, tokio::spawn(worker.run())));
    }
    let handles: Vec<_> = workers.iter().map(|(_, h, _)| h).collect();
    common::wait_leases(&handles, Duration::from_secs(60), |sets| {
        sets.iter().all(|s| s.len() == LEASES / 2)
    })
    .await;

    for (meter, _, _) in &workers {
        meter.reset();
    }
    let window = Duration::from_secs(12);
    tokio::time::sleep(window).await;
    for (meter, handle, _) in &workers {
        let id = handle.status().worker_id;
        let query = op(meter, "Query");
        assert!(query.calls >= 20, "{id}: {query:?}");
        assert_eq!(query.items_read, 0, "{id}: the hand-over query read items");
        // A taker pass every 4 - 4.8 s: 2 or 3 in 12 s (and none by sync or cleanup, which
        // would add one every 0.4 s).
        let scans = op(meter, "Scan").calls;
        assert!(
            (2..=3).contains(&scans),
            "{id}: {scans} scans in {window:?}"
        );
        // The watch: one lease of the other worker read every 2 s, 6 or 7 in 12 s, and
        // every 250 ms while a renewal is late by a second or more (a busy machine): at
        // most 20 leaves room for a few such seconds, and fails a watch at the taker's or
        // fast_config's 200 ms pace (60).
        let watch = op(meter, "GetItem");
        assert!(
            (5..=20).contains(&watch.calls) && watch.items_read <= watch.calls,
            "{id}: {watch:?} in {window:?}"
        );
    }

    // w1 leaves gracefully: w2 finds what it is given through the query, takes it, and
    // the query reads nothing again.
    let (meter1, h1, t1) = workers.remove(0);
    let (meter2, h2, t2) = workers.remove(0);
    meter2.reset();
    let left = tokio::time::Instant::now();
    h1.graceful_shutdown().await;
    t1.await.unwrap().unwrap();
    common::wait_leases(&[&h2], Duration::from_secs(5), |s| s[0].len() == LEASES).await;
    eprintln!(
        "w2 held every lease {:?} after w1 began to leave",
        left.elapsed()
    );
    // (A taker pass of w2 between a completed hand-off and the next query may take a lease
    // first: at least one of the three is found by the query.)
    let found = op(&meter2, "Query").items_read;
    assert!(found >= 1, "w2 found {found} leases through the query");
    tokio::time::sleep(Duration::from_secs(1)).await;
    meter2.reset();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        op(&meter2, "Query").items_read,
        0,
        "the taken leases are still in the hand-over index"
    );
    drop(meter1);
    h2.graceful_shutdown().await;
    t2.await.unwrap().unwrap();
}
