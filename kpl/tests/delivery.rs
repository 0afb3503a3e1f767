//! Every record put is readable from the stream exactly as sent, where its result says,
//! on 1, 4 and 16 shards, with random and explicit hash keys, aggregation on and off.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use kinesis_agg::HashKey;
use kpl::{ProducerConfig, Record};
use testkit::LocalAws;

async fn round_trip(shards: i32, aggregation: bool, explicit: bool, n: usize) {
    let aws = LocalAws::start().await.unwrap();
    let name = format!("s{shards}-{aggregation}-{explicit}");
    common::stream(&aws, &name, shards).await;
    let config = ProducerConfig::default().aggregation_enabled(aggregation);
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let mut sent = common::records(&name, "d", n);
    if explicit {
        for (i, r) in sent.iter_mut().enumerate() {
            let key =
                HashKey::new((i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
            r.explicit_hash_key = Some(key.to_string());
        }
    }
    let handles = common::put_all(&producer, &sent).await;
    let results = common::results(handles).await;
    let read = common::read_all(&aws, &name).await;
    common::assert_delivered_once(&sent, &results, &read);
    if aggregation {
        let kinesis_records: std::collections::HashSet<_> =
            read.iter().map(|r| &r.sequence_number).collect();
        assert!(
            kinesis_records.len() < n / 4,
            "{} Kinesis records for {n} user records",
            kinesis_records.len()
        );
    }
    assert_eq!(producer.outstanding().records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_aggregated() {
    round_trip(1, true, false, 3000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_aggregated_with_explicit_hash_keys() {
    round_trip(4, true, true, 3000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_shards_aggregated() {
    round_trip(16, true, false, 5000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_without_aggregation() {
    round_trip(4, false, false, 1500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_shards_explicit_keys_without_aggregation() {
    round_trip(16, false, true, 1500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_completes_everything_put_before_it() {
    let aws = LocalAws::start().await.unwrap();
    common::stream(&aws, "flush", 2).await;
    // A long buffering time: only the flush makes these go.
    let config =
        ProducerConfig::default().record_max_buffered_time(std::time::Duration::from_secs(30));
    let producer = common::producer(&aws.kinesis_endpoint(), config);
    let sent = common::records("flush", "f", 500);
    let handles = common::put_all(&producer, &sent).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), producer.flush())
        .await
        .expect("flush resolves");
    assert_eq!(
        producer.outstanding().records,
        0,
        "flush resolved with records outstanding"
    );
    let results = common::results(handles).await;
    common::assert_delivered_once(&sent, &results, &common::read_all(&aws, "flush").await);
    let _ = Record::new("flush", "k", "v");
}
