//! With the Kinesis server enforcing the shard limits and a load above them, every record
//! still arrives and none fails before its TTL; with `fail_if_throttled`, throttled records
//! fail fast with their own error kind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use kpl::{ErrorCode, ProducerConfig, PutErrorKind, Record};
use testkit::{LocalAws, LocalAwsOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_above_the_shard_limit_is_throttled_and_still_delivered() {
    let aws = LocalAws::start_with(LocalAwsOptions::default().enforcing_limits())
        .await
        .unwrap();
    common::stream(&aws, "hot", 1).await;
    // 3 MiB for a 1 MiB/s shard, limiter set well above the shard limit so the server
    // throttles and the producer has to back off and retry.
    let config = ProducerConfig::default()
        .rate_limit(400)
        .aggregation_max_size(64 * 1024);
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let sent: Vec<Record> = (0..3000)
        .map(|i| {
            Record::new(
                "hot",
                format!("k{i}"),
                format!("{i:06}-{}", "x".repeat(1000)),
            )
        })
        .collect();
    let started = Instant::now();
    let results = common::results(common::put_all(&producer, &sent).await).await;
    let elapsed = started.elapsed();
    let retried = results.iter().filter(|r| r.attempts.len() > 1).count();
    let throttled = results
        .iter()
        .flat_map(|r| &r.attempts)
        .filter(|a| {
            a.error
                .as_ref()
                .is_some_and(|e| e.code == ErrorCode::Throttled)
        })
        .count();
    assert!(
        throttled > 0,
        "the server never throttled: the test load is too light"
    );
    assert!(retried > 0);
    assert!(
        elapsed >= Duration::from_secs(1),
        "3 MiB cannot go through a 1 MiB/s shard in {elapsed:?}"
    );
    common::assert_delivered_once(&sent, &results, &common::read_all(&aws, "hot").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_if_throttled_fails_fast() {
    let aws = LocalAws::start_with(LocalAwsOptions::default().enforcing_limits())
        .await
        .unwrap();
    common::stream(&aws, "hot", 1).await;
    let config = ProducerConfig::default()
        .rate_limit(1000)
        .fail_if_throttled(true)
        .aggregation_enabled(false);
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let sent: Vec<Record> = (0..3000)
        .map(|i| Record::new("hot", format!("k{i}"), vec![b'y'; 600]))
        .collect();
    let handles = common::put_all(&producer, &sent).await;
    let mut failed = 0;
    for h in handles {
        if let Err(e) = h.await {
            assert_eq!(e.kind, PutErrorKind::Throttled);
            assert_eq!(e.attempts.len(), 1, "no retry with fail_if_throttled");
            assert_eq!(e.record.data.len(), 600, "the record comes back");
            assert!(e.is_retryable());
            failed += 1;
        }
    }
    assert!(failed > 0, "nothing was throttled");
}
