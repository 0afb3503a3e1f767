//! Crash takeover: when a worker dies without a word, another kcl worker takes all of
//! its leases about the failover time after its last renewal, through the liveness
//! watch, without waiting for a taker pass (set 30 s apart here, so a pass cannot do it
//! in the time allowed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Log, env, numbered, put};
use kcl::{Config, InitialPosition, StreamId};
use testkit::{Fault, FaultProxy, Rule, sdk_config_without_retries};

const FAILOVER: Duration = Duration::from_secs(3);

fn config(stream: &str, id: &str, watch: bool) -> Config {
    let mut c =
        Config::new("crash-app", StreamId::Name(stream.into())).with_failover_time(FAILOVER);
    c.worker_identifier = id.into();
    c.initial_position = InitialPosition::TrimHorizon;
    c.lease_taker_interval = Duration::from_secs(30);
    c.lease_discovery_interval = Duration::from_millis(200);
    c.idle_time_between_reads = Duration::from_millis(50);
    if !watch {
        c.liveness_check_interval = Duration::ZERO;
    }
    c
}

/// Scans of the survivor failing for this long from the crash on.
const SCAN_FAULT: Duration = Duration::from_secs(5);

async fn crash_takeover(watch: bool, scans_fail: bool) {
    let e = env(if watch { "crash" } else { "crash-off" }, 4).await;
    put(&e.kinesis, &e.stream, &numbered("before", 0..80)).await;
    let log = Log::default();
    // a, the survivor, reaches DynamoDB through a fault proxy.
    let proxy = std::sync::Arc::new(FaultProxy::start(e.aws.dynamodb_addr()).await.unwrap());
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config_without_retries(&proxy.endpoint()));
    let a = kcl::Worker::new(
        config(&e.stream, "a", watch),
        e.kinesis.clone(),
        dynamodb,
        log.factory("a"),
    )
    .unwrap();
    let (a, ta) = (a.handle(), tokio::spawn(a.run()));
    let (b, tb) = common::start(&e, config(&e.stream, "b", watch), log.factory("b"));
    common::wait_leases(&[&a, &b], Duration::from_secs(20), |s| {
        !s[0].is_empty() && !s[1].is_empty() && s[0].len() + s[1].len() == 4
    })
    .await;
    log.wait_until("the first 80", |d| d.len() == 80).await;

    // a learns of b from a scan (the one that follows its hand-over to b comes within the
    // discovery interval); a crash before it, with a's scans failing, would leave a
    // nobody to watch until its next taker pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // b dies: no release, no more renewals.
    tb.abort();
    let crashed = Instant::now();
    let mut limit = FAILOVER + Duration::from_secs(5);
    if scans_fail {
        // The scan that confirms the crash fails at first: the watch tries again.
        proxy.set_rules(vec![Rule::new(Fault::dynamodb_internal_error()).on("Scan")]);
        limit += SCAN_FAULT;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SCAN_FAULT).await;
            proxy.clear();
        });
    }
    let survivors = [&a];
    let all = common::wait_leases(&survivors, Duration::from_secs(120), |s| s[0].len() == 4);
    let all = tokio::time::timeout(limit, all)
        .await
        .unwrap_or_else(|_| panic!("b's leases were not taken within {limit:?}"));
    println!(
        "a took b's leases {:?} after the crash: {all:?}",
        crashed.elapsed()
    );

    // The table agrees: a owns every lease, and a reads every shard on.
    let owners: BTreeSet<String> = common::raw_items(&e.dynamodb, "crash-app")
        .await
        .iter()
        .filter_map(|i| i.get("leaseOwner")?.as_s().ok().cloned())
        .collect();
    assert_eq!(owners, BTreeSet::from(["a".to_owned()]));
    put(&e.kinesis, &e.stream, &numbered("after", 0..80)).await;
    log.wait_until("all 160", |d| d.len() == 160).await;
    assert_eq!(a.status().leases_lost, 0);
    a.shutdown();
    ta.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_workers_leases_are_taken_about_the_failover_time_later() {
    crash_takeover(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_takeover_is_tried_again_while_the_scans_fail() {
    crash_takeover(true, true).await;
}

/// Shows the test above can fail: without the watch, the leases wait for a taker pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "were not taken within")]
async fn without_the_watch_they_wait_for_a_taker_pass() {
    crash_takeover(false, false).await;
}
