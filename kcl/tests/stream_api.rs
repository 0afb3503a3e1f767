//! The `futures::Stream` API: every record of every shard, checkpointing through the
//! records, a graceful shutdown that ends the stream and releases the leases; and bad
//! configuration as a typed error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{env, fast_config, numbered, put};
use futures::StreamExt;
use kcl::{ConfigError, RecordStream, StreamId, Worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_stream_delivers_everything_and_checkpoints() {
    let e = env("simple", 3).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..300)).await;
    let mut records = RecordStream::new(
        fast_config("simple-app", &e.stream, "s"),
        e.kinesis.clone(),
        e.dynamodb.clone(),
    )
    .unwrap();
    let mut seen = BTreeSet::new();
    let mut last_per_shard = std::collections::HashMap::new();
    while seen.len() < 300 {
        let r = tokio::time::timeout(Duration::from_secs(30), records.next())
            .await
            .expect("a record in time")
            .expect("the stream goes on");
        seen.insert(String::from_utf8(r.record.data.to_vec()).unwrap());
        r.checkpoint().await.unwrap();
        last_per_shard.insert(r.shard_id.to_string(), r.record.sequence_number.to_string());
    }
    assert_eq!(seen.len(), 300);
    let handle = records.handle().clone();
    let shutdown = tokio::spawn(async move { handle.graceful_shutdown().await });
    // The stream ends once the worker stopped.
    while records.next().await.is_some() {}
    shutdown.await.unwrap();
    let items = common::raw_items(&e.dynamodb, "simple-app").await;
    assert_eq!(items.len(), 3);
    for item in items {
        let key = item["leaseKey"].as_s().unwrap();
        assert_eq!(
            item["checkpoint"],
            AttributeValue::S(last_per_shard[key].clone())
        );
        assert!(!item.contains_key("leaseOwner"), "released");
    }
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .build();
    let dconf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .build();
    let kinesis = aws_sdk_kinesis::Client::from_conf(conf);
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(dconf);
    let mut config = kcl::Config::new("no spaces allowed", StreamId::Name("s".into()));
    let log = common::Log::default();
    let err = Worker::new(
        config.clone(),
        kinesis.clone(),
        dynamodb.clone(),
        log.factory("x"),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::ApplicationName(_)));
    config.application_name = "ok-name".into();
    config.max_records = 0;
    let err = Worker::new(config, kinesis, dynamodb, log.factory("x")).unwrap_err();
    assert_eq!(err, ConfigError::MaxRecords(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_checkpoint_covers_only_what_the_reader_took() {
    let e = env("taken", 1).await;
    put(&e.kinesis, &e.stream, &numbered("r", 0..500)).await;
    let mut config = fast_config("taken-app", &e.stream, "s");
    config.max_records = 50; // many small batches, some buffered ahead of the reader
    let mut records = RecordStream::new(config, e.kinesis.clone(), e.dynamodb.clone()).unwrap();
    let first = records.next().await.unwrap();
    // Let the worker deliver more batches into the stream's buffer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.checkpointer().checkpoint().await.unwrap();
    let item = common::raw_items(&e.dynamodb, "taken-app").await.remove(0);
    assert_eq!(
        item["checkpoint"],
        AttributeValue::S(first.record.sequence_number.to_string()),
        "only the one record taken is covered"
    );
    records.handle().shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_shard_ends_only_once_the_reader_checkpointed_all_of_it() {
    let e = env("streamend", 1).await;
    put(&e.kinesis, &e.stream, &numbered("parent", 0..50)).await;
    let parent = testkit::streams::list_shards(&e.kinesis, &e.stream)
        .await
        .unwrap()
        .remove(0);
    e.kinesis
        .split_shard()
        .stream_name(&e.stream)
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key((u128::MAX / 2 + 1).to_string())
        .send()
        .await
        .unwrap();
    testkit::streams::wait_active(&e.kinesis, &e.stream)
        .await
        .unwrap();
    put(&e.kinesis, &e.stream, &numbered("child", 0..50)).await;
    let mut records = RecordStream::new(
        fast_config("streamend-app", &e.stream, "s"),
        e.kinesis.clone(),
        e.dynamodb.clone(),
    )
    .unwrap();
    // Every record of the parent is taken and dropped, none checkpointed.
    for _ in 0..50 {
        let r = records.next().await.unwrap();
        assert!(r.record.data.starts_with(b"parent-"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let checkpoint = |items: Vec<std::collections::HashMap<String, AttributeValue>>| {
        items
            .into_iter()
            .find(|i| i["leaseKey"].as_s().unwrap() == parent.shard_id())
            .map(|i| i["checkpoint"].clone())
    };
    assert_eq!(
        checkpoint(common::raw_items(&e.dynamodb, "streamend-app").await),
        Some(AttributeValue::S("TRIM_HORIZON".into())),
        "nothing checkpointed, so the shard is not finished"
    );
    // Checkpointing what was taken finishes it; the children follow.
    records.checkpoint_taken().await.unwrap();
    let child = tokio::time::timeout(Duration::from_secs(30), records.next())
        .await
        .unwrap()
        .unwrap();
    assert!(child.record.data.starts_with(b"child-"));
    assert_ne!(
        checkpoint(common::raw_items(&e.dynamodb, "streamend-app").await),
        Some(AttributeValue::S("TRIM_HORIZON".into()))
    );
    records.handle().shutdown();
}
