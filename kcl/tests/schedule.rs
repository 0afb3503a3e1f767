//! Seeded fault schedules for the consumer (issue 11): a seed draws a scenario (2 to 4
//! workers sharing one lease table, each with its own DynamoDB and Kinesis clients
//! behind a fault proxy; records produced throughout, KPL aggregates in some; at random
//! moments DynamoDB and Kinesis faults of every class on one worker's client, splits
//! and merges, abrupt stops, graceful shutdowns and restarts), runs it on the embedded
//! servers in real time, heals everything, produces a final round, waits for it, and
//! runs the checkers over what happened (`schedule/check_*.rs`).
//!
//! - `cargo test -p kinesis-kcl --test schedule`: the fixed seeds, plus the checkers' unit tests.
//! - `KCL_SCHEDULE_SEED=7`: replay one seed (the scenario is a pure function of the
//!   seed; timing is real, so a replay is close to the run, not identical).
//! - `KCL_SCHEDULE_SEEDS=40` (seeds 0..40) or `KCL_SCHEDULE_SEEDS=3,9,12`: more seeds.
//! - `--ignored`: the CI set (`ci_seeds`, 24 seeds).
//! - `*_with_fan_out`: the same seeds with enhanced fan-out retrieval; a Kinesis fault aimed
//!   at GetRecords or GetShardIterator then hits SubscribeToShard (refusals, resets and
//!   stalls inside its stream, ResourceInUse as in a hand-over).
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

#[path = "schedule/check_checkpoints.rs"]
mod check_checkpoints;
#[path = "schedule/check_delivery.rs"]
mod check_delivery;
#[path = "schedule/check_lease_loss.rs"]
mod check_lease_loss;
#[path = "schedule/check_liveness.rs"]
mod check_liveness;
#[path = "schedule/check_owners.rs"]
mod check_owners;
#[path = "schedule/facts.rs"]
mod facts;
#[path = "schedule/fixtures.rs"]
mod fixtures;
#[path = "schedule/foreign.rs"]
mod foreign;
#[path = "schedule/processor.rs"]
mod processor;
#[path = "schedule/producer.rs"]
mod producer;
#[path = "schedule/report.rs"]
mod report;
#[path = "schedule/reshard.rs"]
mod reshard;
#[path = "schedule/run.rs"]
mod run;
#[path = "schedule/scenario.rs"]
mod scenario;
#[path = "schedule/stream_reader.rs"]
mod stream_reader;
#[path = "schedule/workers.rs"]
mod workers;

use futures::StreamExt;
use scenario::Scenario;

/// The seeds plain `cargo test` runs.
const FIXED: [u64; 3] = [1, 5, 20];

/// Seeds CI runs (`--ignored`).
const CI: std::ops::Range<u64> = 100..124;

/// Seeds named by the environment, if any.
fn seeds_from_env() -> Option<Vec<u64>> {
    if let Ok(one) = std::env::var("KCL_SCHEDULE_SEED") {
        return Some(vec![
            one.trim().parse().expect("KCL_SCHEDULE_SEED is a number"),
        ]);
    }
    let many = std::env::var("KCL_SCHEDULE_SEEDS").ok()?;
    let many = many.trim();
    if many.contains(',') {
        return Some(
            many.split(',')
                .map(|s| s.trim().parse().expect("a seed list"))
                .collect(),
        );
    }
    Some(
        (0..many
            .parse()
            .expect("KCL_SCHEDULE_SEEDS is a count or a list"))
            .collect(),
    )
}

/// Runs one seed: `Err(report)` when a checker found a violation.
async fn run_seed(seed: u64, fan_out: bool) -> Result<(), String> {
    let mut s = Scenario::draw(seed);
    s.fan_out = fan_out;
    let facts = run::run(&s).await;
    let violations = report::check_all(&facts);
    let harness = report::harness_errors(&facts);
    if violations.is_empty() && harness.is_empty() {
        println!("seed {seed} ok: {}", report::summary(&facts));
        return Ok(());
    }
    let text = report::failure(&s, &facts, &violations, &harness);
    println!("{text}");
    if let Ok(dir) = std::env::var("KCL_SCHEDULE_DUMP") {
        let path = std::path::Path::new(&dir).join(format!("seed-{seed}.txt"));
        std::fs::write(&path, report::dump(&facts)).unwrap();
        println!("every event of seed {seed}: {}", path.display());
    }
    Err(text)
}

/// Runs `seeds`, `parallel` at a time, and fails naming every failing seed.
async fn run_seeds(seeds: Vec<u64>, parallel: usize, fan_out: bool) {
    let results: Vec<(u64, Result<(), String>)> = futures::stream::iter(seeds)
        .map(|seed| async move { (seed, run_seed(seed, fan_out).await) })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let failed: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(s, _)| *s)
        .collect();
    assert!(
        failed.is_empty(),
        "failing seeds {failed:?} (reports above)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_schedules() {
    let seeds = seeds_from_env().unwrap_or(FIXED.to_vec());
    run_seeds(seeds, 3, false).await;
}

/// The same schedules with enhanced fan-out retrieval (seed 5 found a merged child created
/// before its second parent had a lease, fixed in the shard end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_schedules_with_fan_out() {
    let seeds = seeds_from_env().unwrap_or(FIXED.to_vec());
    run_seeds(seeds, 3, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the CI set of seeds (a few minutes); .ci/run runs it"]
async fn ci_seeds() {
    run_seeds(CI.collect(), 3, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the CI set of seeds with fan-out (a few minutes); .ci/run runs it"]
async fn ci_seeds_with_fan_out() {
    run_seeds(CI.collect(), 3, true).await;
}
