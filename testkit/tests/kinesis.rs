//! The embedded Kinesis server through the real SDK: streams, PutRecords, GetRecords,
//! resharding, throughput limits, enhanced fan-out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, ShardIteratorType, SubscribeToShardEventStream,
};
use testkit::{LocalAws, LocalAwsOptions, streams};

fn entry(pk: &str, data: &[u8]) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(pk)
        .data(Blob::new(data))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_read_records_back() {
    let aws = LocalAws::start().await.unwrap();
    let k = aws.kinesis_client();
    streams::create_stream(&k, "orders", 2).await.unwrap();
    let entries: Vec<_> = (0..50)
        .map(|i| entry(&format!("key-{i}"), format!("v{i}").as_bytes()))
        .collect();
    let out = k
        .put_records()
        .stream_name("orders")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 50);

    let read = streams::read_stream(&k, "orders").await.unwrap();
    assert_eq!(read.len(), 50);
    // Every record is read back once, from the shard PutRecords reported for it.
    let mut seen = [false; 50];
    for (shard, record) in &read {
        let value = String::from_utf8(record.data().as_ref().to_vec()).unwrap();
        let i: usize = value[1..].parse().unwrap();
        assert!(!std::mem::replace(&mut seen[i], true), "{value} read twice");
        assert_eq!(out.records()[i].shard_id(), Some(shard.as_str()));
        assert_eq!(record.partition_key(), Some(format!("key-{i}").as_str()));
    }
    assert!(seen.iter().all(|s| *s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_shard_closes_the_parent_and_opens_two_children() {
    let aws = LocalAws::start().await.unwrap();
    let k = aws.kinesis_client();
    streams::create_stream(&k, "split", 1).await.unwrap();
    k.put_record()
        .stream_name("split")
        .partition_key("before")
        .data(Blob::new("old"))
        .send()
        .await
        .unwrap();
    let parent = streams::list_shards(&k, "split").await.unwrap().remove(0);
    let middle = (u128::MAX / 2).to_string();
    k.split_shard()
        .stream_name("split")
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key(&middle)
        .send()
        .await
        .unwrap();
    streams::wait_active(&k, "split").await.unwrap();

    let shards = streams::list_shards(&k, "split").await.unwrap();
    assert_eq!(shards.len(), 3);
    let closed: Vec<_> = shards
        .iter()
        .filter(|s| {
            s.sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_some()
        })
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].shard_id(), parent.shard_id());
    let children: Vec<_> = shards
        .iter()
        .filter(|s| s.parent_shard_id() == Some(parent.shard_id()))
        .collect();
    assert_eq!(children.len(), 2);
    let starts: Vec<&str> = children
        .iter()
        .map(|c| c.hash_key_range().unwrap().starting_hash_key())
        .collect();
    assert!(starts.contains(&"0") && starts.contains(&middle.as_str()));

    // The parent keeps its record; new records go to the children.
    assert_eq!(
        streams::read_shard(&k, "split", parent.shard_id())
            .await
            .unwrap()
            .len(),
        1
    );
    let put = k
        .put_record()
        .stream_name("split")
        .partition_key("after")
        .data(Blob::new("new"))
        .send()
        .await
        .unwrap();
    assert_ne!(put.shard_id(), parent.shard_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforced_limits_throttle_a_hot_shard() {
    let aws = LocalAws::start_with(LocalAwsOptions::default().enforcing_limits())
        .await
        .unwrap();
    let k = aws.kinesis_client();
    streams::create_stream(&k, "hot", 1).await.unwrap();
    let mut throttled = 0;
    for round in 0..4 {
        let entries: Vec<_> = (0..500)
            .map(|i| entry(&format!("{round}-{i}"), &[0u8; 100]))
            .collect();
        let out = k
            .put_records()
            .stream_name("hot")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        throttled += out
            .records()
            .iter()
            .filter(|r| r.error_code() == Some("ProvisionedThroughputExceededException"))
            .count();
    }
    // 2,000 records in well under a second on a 1,000 records/s shard.
    assert!(throttled > 0, "no entry was throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_fan_out_subscription_delivers_records() {
    let aws = LocalAws::start().await.unwrap();
    let k = aws.kinesis_client();
    streams::create_stream(&k, "efo", 1).await.unwrap();
    let arn = k
        .describe_stream_summary()
        .stream_name("efo")
        .send()
        .await
        .unwrap();
    let arn = arn
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_owned();
    k.put_record()
        .stream_name("efo")
        .partition_key("k")
        .data(Blob::new("pushed"))
        .send()
        .await
        .unwrap();
    let consumer = k
        .register_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("app")
        .send()
        .await
        .unwrap();
    let consumer_arn = consumer.consumer().unwrap().consumer_arn().to_owned();
    for _ in 0..500 {
        let d = k
            .describe_stream_consumer()
            .consumer_arn(&consumer_arn)
            .send()
            .await
            .unwrap();
        if d.consumer_description().unwrap().consumer_status().as_str() == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shard = streams::list_shards(&k, "efo").await.unwrap().remove(0);
    let mut sub = k
        .subscribe_to_shard()
        .consumer_arn(&consumer_arn)
        .shard_id(shard.shard_id())
        .starting_position(
            aws_sdk_kinesis::types::StartingPosition::builder()
                .r#type(ShardIteratorType::TrimHorizon)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), sub.event_stream.recv())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream is open");
    let SubscribeToShardEventStream::SubscribeToShardEvent(e) = event else {
        panic!("{event:?}")
    };
    assert_eq!(e.records().len(), 1);
    assert_eq!(e.records()[0].data().as_ref(), b"pushed");
}
