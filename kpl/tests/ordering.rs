//! Ordered mode: records of one partition key reach the stream in the order they were put,
//! even when entries fail and are retried; unordered mode makes no such promise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use kpl::{Ordering, ProducerConfig, Record};
use testkit::{Fault, FaultProxy, LocalAws, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order_holds_across_retries() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "ordered", 3).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    proxy.set_rules(vec![
        Rule::new(Fault::fail_entries(
            0.3,
            "ProvisionedThroughputExceededException",
        ))
        .on("PutRecords")
        .with_probability(0.4),
        Rule::new(Fault::internal_failure())
            .on("PutRecords")
            .with_probability(0.1),
        Rule::new(Fault::Reset)
            .on("PutRecords")
            .with_probability(0.05),
    ]);
    let config = ProducerConfig::default()
        .ordering(Ordering::PerShard)
        .aggregation_max_size(1024)
        .record_max_buffered_time(Duration::from_millis(5));
    let producer = common::producer(&proxy.endpoint(), config);
    let keys = 12;
    let sent: Vec<Record> = (0..3000)
        .map(|i| {
            Record::new(
                "ordered",
                format!("key-{}", i % keys),
                format!("{}:{i:05}", i % keys),
            )
        })
        .collect();
    let results = common::results(common::put_all(&producer, &sent).await).await;
    assert!(
        results.iter().any(|r| r.attempts.len() > 1),
        "nothing was retried"
    );
    assert!(proxy.faults_injected() > 0);

    let read = common::read_all(&aws, "ordered").await;
    common::assert_delivered_once(&sent, &results, &read);
    // Within a shard, read order is (sequence number, sub-sequence number).
    // Sequence numbers are decimal strings of up to 128 digits: compare by length, then text.
    type Position<'a> = ((usize, &'a str), u64, &'a str);
    let mut by_key: HashMap<&str, Vec<Position<'_>>> = HashMap::new();

    for r in &read {
        let seq = (r.sequence_number.len(), r.sequence_number.as_str());
        let text = std::str::from_utf8(&r.data).unwrap();
        by_key.entry(r.partition_key.as_str()).or_default().push((
            seq,
            r.sub_sequence_number,
            text,
        ));
    }
    for (key, mut records) in by_key {
        records.sort();
        let order: Vec<u32> = records
            .iter()
            .map(|(_, _, t)| t.split(':').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {order:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_retries_pass_the_shards_rate_limit() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "limited", 1).await;
    let proxy = FaultProxy::start(aws.kinesis_addr()).await.unwrap();
    // 1 % of the shard limit: 10 records/s (a bucket of 10 to start with).
    let config = ProducerConfig::default()
        .ordering(Ordering::PerShard)
        .aggregation_enabled(false)
        .rate_limit(1)
        .record_max_buffered_time(Duration::from_millis(10));
    let producer = common::producer(&proxy.endpoint(), config);
    common::warm_up(&producer, "limited").await;
    // Every entry fails (not as throttled: the limiter's rate stays as configured).
    proxy.set_rules(vec![
        Rule::new(Fault::fail_entries(1.0, "InternalFailure")).on("PutRecords"),
    ]);
    let before = proxy.requests();
    let handles = common::put_all(&producer, &common::records("limited", "l", 3)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = proxy.requests() - before;
    // At most the bucket plus 2 s of refill; retried at every 5 ms, they would be ~400.
    assert!(sent <= 35, "{sent} attempts in 2 s at 10 records/s");
    proxy.clear();
    common::results(handles).await;
}
