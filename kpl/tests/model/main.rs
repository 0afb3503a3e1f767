//! The model-based test: random configurations, workloads and fault schedules against the
//! embedded servers through the fault proxy, every promise checked over what happened.
//!
//! Each case is drawn from a seed. `KPL_MODEL_CASES` sets how many (default 2 here; CI
//! runs more), `KPL_MODEL_SEED` replays one case (a failure prints its seed and the case).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod case;
mod check;
mod run;

use std::time::Duration;

use case::Case;

/// The seed of case `i` of the fixed set.
fn seed(i: u64) -> u64 {
    0x4B50_4C00_0000_0000 ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn env(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_promise_holds_under_random_workloads_and_faults() {
    let seeds: Vec<u64> = match env("KPL_MODEL_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("KPL_MODEL_CASES").unwrap_or(2)).map(seed).collect(),
    };
    for seed in seeds {
        let case = Case::draw(seed);
        let started = std::time::Instant::now();
        // A case that hangs is a failure too.
        let ran = tokio::time::timeout(Duration::from_secs(300), async {
            let observed = run::run(&case).await;
            (check::check(&case, &observed).await, tally(&observed))
        })
        .await;
        let (violations, tally) = ran.unwrap_or_else(|_| {
            let hung = "the case did not finish within 300 s".to_owned();
            (vec![hung], String::new())
        });
        eprintln!("model case {seed:#x}: {:?}, {tally}", started.elapsed());
        assert!(
            violations.is_empty(),
            "model case failed; replay with KPL_MODEL_SEED={seed:#x}\n{:#?}\nviolations:\n{}",
            summary(&case),
            violations.join("\n")
        );
    }
}

/// How the records ended, by kind.
fn tally(observed: &run::Observed) -> String {
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for o in &observed.outcomes {
        let kind = match &o.result {
            Ok(_) => "Written".to_owned(),
            Err(e) => format!("{:?}", e.kind)
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    format!("{kinds:?}")
}

/// The case without its records (the seed reproduces them).
fn summary(case: &Case) -> String {
    let ops: Vec<String> = case
        .ops
        .iter()
        .filter_map(|op| match op {
            case::Op::Put(_) | case::Op::TryPut(_) | case::Op::Batch(_) => None,
            other => Some(format!("{other:?}")),
        })
        .collect();
    format!(
        "seed: {:#x}\nconfig: {:?}\nshards: {:?}, enforce_limits: {}\nfaults: {:?}\nother ops: {ops:?}",
        case.seed, case.config, case.shards, case.enforce_limits, case.faults
    )
}

#[test]
#[ignore]
fn print_case() {
    if let Some(seed) = env("KPL_MODEL_SEED") {
        eprintln!("{}", summary(&Case::draw(seed)));
    }
}
