//! Resharding while producing (a split, then a merge): no record is lost, and none is
//! dropped by a KCL-style hash range filter on the child shards (an aggregate written to a
//! child it does not all belong to is sent again).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use kpl::{ErrorCode, ProducerConfig, Record};
use testkit::{LocalAws, streams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_while_producing() {
    let aws = LocalAws::start().await.unwrap();
    let client = aws.kinesis_client();
    let name = streams::name_for_this_run("resharded");
    let name = name.as_str();
    common::stream(&aws, name, 2).await;
    // A long refresh interval: only the producer's own wrong-shard detection finds the new shards.
    let config = ProducerConfig::default()
        .record_max_buffered_time(Duration::from_millis(30))
        .shard_map_refresh_interval(Duration::from_secs(600));
    let producer = common::producer(&aws.kinesis_endpoint(), config);

    let writer = tokio::spawn({
        let producer = producer.clone();
        let name = name.to_owned();
        async move {
            let mut sent = Vec::new();
            let mut handles = Vec::new();
            for i in 0..6000 {
                let r = Record::new(
                    name.as_str(),
                    format!("key-{}", i * 7919 % 100_003),
                    format!("r-{i}"),
                );
                handles.push(producer.put(r.clone()).await.unwrap());
                sent.push(r);
                if i % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            (sent, common::results(handles).await)
        }
    });

    tokio::time::sleep(Duration::from_millis(150)).await;
    let shards = streams::list_shards(&client, name).await.unwrap();
    let first = &shards[0];
    let r = first.hash_key_range().unwrap();
    let (start, end) = (
        r.starting_hash_key().parse::<u128>().unwrap(),
        r.ending_hash_key().parse::<u128>().unwrap(),
    );
    client
        .split_shard()
        .stream_name(name)
        .shard_to_split(first.shard_id())
        .new_starting_hash_key((start + (end - start) / 2).to_string())
        .send()
        .await
        .unwrap();
    streams::wait_active(&client, name).await.unwrap();

    tokio::time::sleep(Duration::from_millis(200)).await;
    let open: Vec<_> = streams::list_shards(&client, name)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| {
            s.sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_none()
        })
        .collect();
    let mut open = open;
    open.sort_by_key(|s| {
        s.hash_key_range()
            .unwrap()
            .starting_hash_key()
            .parse::<u128>()
            .unwrap()
    });
    client
        .merge_shards()
        .stream_name(name)
        .shard_to_merge(open[1].shard_id())
        .adjacent_shard_to_merge(open[2].shard_id())
        .send()
        .await
        .unwrap();
    streams::wait_active(&client, name).await.unwrap();

    let (sent, results) = writer.await.unwrap();
    let (read, dropped) = common::read_filtered(&aws, name).await;
    let delivered: HashSet<&bytes::Bytes> = read.iter().map(|r| &r.data).collect();
    for r in &sent {
        assert!(delivered.contains(&r.data), "{:?} lost", r.partition_key);
    }
    // Each result names a shard and record the filtered read delivers it from.
    for (record, result) in sent.iter().zip(&results) {
        assert!(
            read.iter().any(|r| r.data == record.data
                && r.shard_id == *result.shard_id
                && r.sequence_number == *result.sequence_number),
            "{:?}: its result points at a record a KCL consumer does not deliver",
            record.partition_key
        );
    }
    let resent = results
        .iter()
        .filter(|r| {
            r.attempts.iter().any(|a| {
                a.error
                    .as_ref()
                    .is_some_and(|e| e.code == ErrorCode::WrongShard)
            })
        })
        .count();
    eprintln!(
        "dropped by the filter and re-sent: {dropped} sub-records; results with a WrongShard attempt: {resent}"
    );
    assert_eq!(streams::list_shards(&client, name).await.unwrap().len(), 5);
}
