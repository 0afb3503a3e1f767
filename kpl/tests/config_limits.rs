//! A configuration that passes `validate()` cannot stop a stream's driver: durations at
//! the top of their ranges still deliver records; ranges are refused by name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use kpl::{ProducerConfig, Record};
use testkit::LocalAws;

/// Puts one record with `config` and waits for its result (at most 10 s).
async fn one_record(aws: &LocalAws, stream: &str, config: ProducerConfig) {
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let ack = producer.put(Record::new(stream, "k", "v")).await.unwrap();
    producer.flush().await;
    let result = tokio::time::timeout(Duration::from_secs(10), ack)
        .await
        .expect("a result within 10 s");
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_at_the_top_of_their_ranges_keep_the_driver_alive() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "limits", 1).await;
    // What a config file can ask for: the largest value that validates.
    let huge = Duration::from_millis(u64::MAX);
    let largest = |set: fn(ProducerConfig, Duration) -> ProducerConfig| {
        let mut ms = u64::MAX;
        // The largest value accepted, by bisection over milliseconds.
        let mut lo = 0u64;
        while lo < ms {
            let mid = lo + (ms - lo).div_ceil(2);
            if set(ProducerConfig::default(), Duration::from_millis(mid))
                .validate()
                .is_ok()
            {
                lo = mid;
            } else {
                ms = mid - 1;
            }
        }
        set(ProducerConfig::default(), Duration::from_millis(lo))
    };
    let setters: [fn(ProducerConfig, Duration) -> ProducerConfig; 5] = [
        ProducerConfig::shard_map_refresh_interval,
        ProducerConfig::record_ttl,
        ProducerConfig::record_max_buffered_time,
        ProducerConfig::request_timeout,
        ProducerConfig::connect_timeout,
    ];
    for set in setters {
        // In code any `Duration` can be given: `Duration::MAX` too, if it validates.
        let candidates = [largest(set), set(ProducerConfig::default(), Duration::MAX)];
        for mut config in candidates.into_iter().filter(|c| c.validate().is_ok()) {
            // Keep the one record quick: buffering short unless it is under test.
            if config.record_max_buffered_time == ProducerConfig::default().record_max_buffered_time
            {
                config.record_max_buffered_time = Duration::from_millis(1);
            }
            one_record(&aws, "limits", config).await;
        }
    }
    assert!(
        ProducerConfig::default()
            .shard_map_refresh_interval(huge)
            .validate()
            .is_err()
    );
}
