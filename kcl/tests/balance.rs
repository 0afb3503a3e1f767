//! Balance: 3 workers on 12 shards converge to 4/4/4; a 4th worker gets its share by
//! stealing, each steal a hand-off the owner completes; a worker leaving gracefully hands
//! its leases over at once (well inside the failover time, so not by expiry).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Log, env, fast_config, numbered, put};
use kcl::{Config, StreamId, Worker, WorkerHandle};

fn sizes(sets: &[BTreeSet<String>]) -> Vec<usize> {
    sets.iter().map(BTreeSet::len).collect()
}

fn disjoint_cover(sets: &[BTreeSet<String>], total: usize) -> bool {
    let all: BTreeSet<&String> = sets.iter().flatten().collect();
    all.len() == total && sets.iter().map(BTreeSet::len).sum::<usize>() == total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_balance_a_fourth_steals_and_a_leaver_hands_over() {
    let e = env("bal", 12).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..240)).await;
    let log = Log::default();
    let failover = Duration::from_secs(3);
    let start = |id: &str| {
        let mut config = fast_config("bal-app", &e.stream, id).with_failover_time(failover);
        config.lease_taker_interval = Duration::from_millis(100);
        let w = Worker::new(
            config,
            e.kinesis.clone(),
            e.dynamodb.clone(),
            log.factory(id),
        )
        .unwrap();
        let h = w.handle();
        (h, tokio::spawn(w.run()))
    };
    let (a, ta) = start("a");
    let (b, tb) = start("b");
    let (c, tc) = start("c");
    let three = common::wait_leases(&[&a, &b, &c], Duration::from_secs(30), |s| {
        sizes(s) == [4, 4, 4] && disjoint_cover(s, 12)
    })
    .await;
    println!("3 workers: {three:?}");
    log.wait_until("every record", |d| d.len() == 240).await;

    let released_before: u64 = [&a, &b, &c]
        .iter()
        .map(|h| h.status().leases_released)
        .sum();
    let (d, td) = start("d");
    let four = common::wait_leases(&[&a, &b, &c, &d], Duration::from_secs(30), |s| {
        sizes(s) == [3, 3, 3, 3] && disjoint_cover(s, 12)
    })
    .await;
    println!("4 workers: {four:?}");
    assert!(d.status().leases_taken >= 3, "d took its share by stealing");
    // A steal is a hand-off: each owner finishes with its processor's shutdown_requested
    // and passes the lease on; none of them loses a lease.
    let lost: u64 = [&a, &b, &c].iter().map(|h| h.status().leases_lost).sum();
    let released: u64 = [&a, &b, &c]
        .iter()
        .map(|h| h.status().leases_released)
        .sum();
    assert_eq!(lost, 0, "no owner lost a lease to the steals");
    assert_eq!(
        released - released_before,
        3,
        "exactly the three stolen leases were handed over by their owners"
    );

    // d leaves gracefully: its leases are released and taken by the others at once.
    let released: BTreeSet<String> = d.status().held_leases;
    let rest: [&WorkerHandle; 3] = [&a, &b, &c];
    d.graceful_shutdown().await;
    let at_release = Instant::now();
    td.await.unwrap().unwrap();
    assert_eq!(d.status().leases_released, 3);
    common::wait_leases(&rest, failover, |s| {
        let held: BTreeSet<&String> = s.iter().flatten().collect();
        released.iter().all(|k| held.contains(k)) && disjoint_cover(s, 12)
    })
    .await;
    let handover = at_release.elapsed();
    println!("graceful handover took {handover:?} (failover time {failover:?})");
    assert!(handover < failover, "taken by release, not by expiry");

    for (h, t) in [(a, ta), (b, tb), (c, tc)] {
        h.graceful_shutdown().await;
        t.await.unwrap().unwrap();
    }
    assert_eq!(log.data().len(), 240);
}

/// Workers of a new application started together race for the same leases at their first
/// pass. The loser looks again after the discovery interval, not a whole taker interval
/// (60 s here, 20 s by default: the quickstart's second worker sat idle that long). The
/// race is lost in about one start of three, so six applications start here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_started_together_share_the_shards_at_once() {
    let e = env("race", 16).await;
    let start = |app: &str, id: &str| {
        let mut config = Config::new(app, StreamId::Name(e.stream.clone()))
            .with_failover_time(Duration::from_secs(10));
        config.worker_identifier = id.into();
        config.lease_taker_interval = Duration::from_secs(60);
        config.lease_discovery_interval = Duration::from_secs(1);
        config.max_leases_for_worker = 8;
        let w = Worker::new(
            config,
            e.kinesis.clone(),
            e.dynamodb.clone(),
            Log::default().factory(id),
        )
        .unwrap();
        let h = w.handle();
        (h, tokio::spawn(w.run()))
    };
    for round in 0..6 {
        let app = format!("race-app-{round}");
        let (a, ta) = start(&app, "a");
        let (b, tb) = start(&app, "b");
        let started = Instant::now();
        let halves = common::wait_leases(&[&a, &b], Duration::from_secs(15), |s| {
            sizes(s) == [8, 8] && disjoint_cover(s, 16)
        })
        .await;
        println!(
            "{app}: halves after {:?}: {:?}",
            started.elapsed(),
            sizes(&halves)
        );
        a.shutdown();
        b.shutdown();
        ta.await.unwrap().unwrap();
        tb.await.unwrap().unwrap();
    }
}
