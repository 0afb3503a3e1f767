//! Leases moving between fan-out workers while records keep coming: taken over by a new
//! worker (a steal), after a worker dies (its leases expire), and at a graceful shutdown;
//! ResourceInUse (another subscription still active, normal during a hand-over) on the
//! new owner's first subscriptions. Checked over what happened: no record lost, each
//! shard's first deliveries in sequence order, a record delivered twice only by two
//! different workers (a new owner replays from the last checkpoint; one owner never
//! repeats itself), and no worker gives a lease up over ResourceInUse.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;
mod fan_out_support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{Log, numbered, put, wait_leases};
use fan_out_support::{FanEnv, fan_config, fan_env};
use testkit::{Fault, LocalAwsOptions, Rule};

/// The checker of a run with hand-overs.
async fn assert_nothing_lost_in_order_repeats_only_across_owners(e: &FanEnv, log: &Log) {
    let expected = e.stream_data().await;
    let mut by_shard: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for s in log.entries() {
        by_shard
            .entry(s.shard)
            .or_default()
            .push((s.worker, s.data));
    }
    let mut repeats = 0;
    for (shard, records) in &expected {
        let delivered = by_shard.get(shard).cloned().unwrap_or_default();
        let mut first_by: HashMap<&str, &str> = HashMap::new();
        let mut firsts = Vec::new();
        for (worker, data) in &delivered {
            match first_by.get(data.as_str()) {
                None => {
                    first_by.insert(data, worker);
                    firsts.push(data.clone());
                }
                Some(by) => {
                    repeats += 1;
                    assert_ne!(by, worker, "{shard}: {worker} delivered {data} twice");
                }
            }
        }
        assert_eq!(
            &firsts, records,
            "{shard}: first deliveries are the shard, in order"
        );
    }
    println!("records delivered again by a new owner: {repeats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_move_between_fan_out_workers_without_loss() {
    let mut options = LocalAwsOptions::default();
    options.kinesis.subscribe_to_shard_session_ms = 2000;
    let e = fan_env("fo-handover", 2, options).await;
    let log = Log::default();
    let app = "fo-handover-app";
    let start = |id: &str| e.start(fan_config(app, &e.stream, id), log.factory(id));
    let producing = {
        let (k, stream) = (e.kinesis.clone(), e.stream.clone());
        tokio::spawn(async move {
            for round in 0..60 {
                put(&k, &stream, &numbered("r", round * 20..(round + 1) * 20)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let (h1, t1) = start("w1");
    wait_leases(&[&h1], Duration::from_secs(20), |s| s[0].len() == 2).await;

    // A second worker steals a lease; its first subscriptions meet ResourceInUse, before
    // the stream and inside it.
    e.proxy.set_rules(vec![
        Rule::new(Fault::aws_error(400, "ResourceInUseException"))
            .on("SubscribeToShard")
            .at_most(2),
        Rule::new(Fault::stream_exception(1, "ResourceInUseException"))
            .on("SubscribeToShard")
            .at_most(2),
    ]);
    let (h2, t2) = start("w2");
    wait_leases(&[&h1, &h2], Duration::from_secs(20), |s| {
        s[0].len() == 1 && s[1].len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // w1 dies: its lease expires and w2 takes it.
    t1.abort();
    drop(h1);
    wait_leases(&[&h2], Duration::from_secs(20), |s| s[0].len() == 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // w3 joins, then w2 shuts down gracefully: w3 ends up with both.
    let (h3, t3) = start("w3");
    wait_leases(&[&h2, &h3], Duration::from_secs(20), |s| {
        s[0].len() == 1 && s[1].len() == 1
    })
    .await;
    assert_eq!(
        h2.status().consumer_errors,
        0,
        "ResourceInUse gave no lease up"
    );
    h2.graceful_shutdown().await;
    t2.await.unwrap().unwrap();
    wait_leases(&[&h3], Duration::from_secs(20), |s| s[0].len() == 2).await;

    producing.await.unwrap();
    log.wait_until("every record", |d| d.len() == 1200).await;
    assert_nothing_lost_in_order_repeats_only_across_owners(&e, &log).await;
    assert!(e.proxy.faults_injected() >= 3, "ResourceInUse was met");
    assert_eq!(h3.status().consumer_errors, 0);
    h3.graceful_shutdown().await;
    t3.await.unwrap().unwrap();
}
