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
