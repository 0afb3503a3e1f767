//! Shared helpers of the producer's integration tests: real servers, real SDK.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator, HashRange};
use kpl::{Producer, ProducerConfig, PutHandle, PutResult, Record};
use testkit::{LocalAws, streams};

/// One user record as read back from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Read {
    pub(crate) shard_id: String,
    pub(crate) sequence_number: String,
    pub(crate) sub_sequence_number: u64,
    pub(crate) partition_key: String,
    pub(crate) explicit_hash_key: Option<String>,
    pub(crate) data: Bytes,
}

pub(crate) async fn stream(aws: &LocalAws, name: &str, shards: i32) {
    streams::create_stream(&aws.kinesis_client(), name, shards)
        .await
        .unwrap();
}

pub(crate) fn producer(endpoint: &str, config: ProducerConfig) -> Producer {
    Producer::new(config, testkit::kinesis_client(endpoint)).unwrap()
}

/// Every user record of the stream, de-aggregated per shard with the KCL's hash range rule
/// (panics if the rule would drop anything).
pub(crate) async fn read_all(aws: &LocalAws, name: &str) -> Vec<Read> {
    let (read, dropped) = read_filtered(aws, name).await;
    assert_eq!(dropped, 0, "sub-records dropped by the hash range rule");
    read
}

/// What a KCL consumer sees of the stream: user records de-aggregated per shard with the
/// hash range rule, and how many sub-records the rule dropped.
pub(crate) async fn read_filtered(aws: &LocalAws, name: &str) -> (Vec<Read>, usize) {
    let mut dropped = 0;
    let client = aws.kinesis_client();
    let mut out = Vec::new();
    for shard in streams::list_shards(&client, name).await.unwrap() {
        let r = shard.hash_key_range().unwrap();
        let range = HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).unwrap();
        let records = streams::read_shard(&client, name, shard.shard_id())
            .await
            .unwrap();
        for record in records {
            let data = Bytes::from(record.data().as_ref().to_vec());
            let base = |pk: String, ehk: Option<String>, data: Bytes, sub: u64| Read {
                shard_id: shard.shard_id().to_owned(),
                sequence_number: record.sequence_number().to_owned(),
                sub_sequence_number: sub,
                partition_key: pk,
                explicit_hash_key: ehk,
                data,
            };
            match Deaggregator::for_hash_range(range).deaggregate(data) {
                Deaggregated::NotAggregated(d) => out.push(base(
                    record.partition_key().unwrap_or_default().to_owned(),
                    None,
                    d,
                    0,
                )),
                Deaggregated::Aggregated(a) => out.extend(a.records().map(|s| {
                    base(
                        s.partition_key.to_string(),
                        s.explicit_hash_key.map(|k| k.to_string()),
                        s.data,
                        s.sub_sequence_number,
                    )
                })),
                Deaggregated::Dropped(a) => dropped += a.len(),
            }
        }
    }
    (out, dropped)
}

/// Puts every record, waiting for room, and returns the handles in order.
pub(crate) async fn put_all(producer: &Producer, records: &[Record]) -> Vec<PutHandle> {
    let mut handles = Vec::with_capacity(records.len());
    for r in records {
        handles.push(producer.put(r.clone()).await.unwrap());
    }
    handles
}

/// Awaits every handle; panics on an error.
pub(crate) async fn results(handles: Vec<PutHandle>) -> Vec<PutResult> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Checks that every record sent is read back exactly once with what its result said.
pub(crate) fn assert_delivered_once(sent: &[Record], results: &[PutResult], read: &[Read]) {
    let by_data: HashMap<&Bytes, &Read> = read.iter().map(|r| (&r.data, r)).collect();
    assert_eq!(by_data.len(), read.len(), "a record was read twice");
    assert_eq!(
        read.len(),
        sent.len(),
        "read {} records, sent {}",
        read.len(),
        sent.len()
    );
    for (record, result) in sent.iter().zip(results) {
        let got = by_data
            .get(&record.data)
            .unwrap_or_else(|| panic!("{:?} missing", record.partition_key));
        assert_eq!(got.partition_key, record.partition_key);
        assert_eq!(got.shard_id, &*result.shard_id);
        assert_eq!(got.sequence_number, &*result.sequence_number);
        assert_eq!(got.sub_sequence_number, result.sub_sequence_number);
        if let Some(ehk) = &record.explicit_hash_key {
            assert!(got.explicit_hash_key.is_none() || got.explicit_hash_key.as_ref() == Some(ehk));
        }
    }
}

/// Checks that every record sent is read back (perhaps more than once: at least once),
/// one copy where its result says.
pub(crate) fn assert_delivered_at_least_once(
    sent: &[Record],
    results: &[PutResult],
    read: &[Read],
) {
    for (record, result) in sent.iter().zip(results) {
        let at = read.iter().find(|r| {
            r.data == record.data
                && r.shard_id == *result.shard_id
                && r.sequence_number == *result.sequence_number
                && r.sub_sequence_number == result.sub_sequence_number
        });
        let at =
            at.unwrap_or_else(|| panic!("{:?} not where its result says", record.partition_key));
        assert_eq!(at.partition_key, record.partition_key);
    }
}

/// `n` records with distinct data (`{tag}-{i}`), random-looking keys.
pub(crate) fn records(stream: &str, tag: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                stream,
                format!("key-{}", i * 7919 % 100_003),
                format!("{tag}-{i}"),
            )
        })
        .collect()
}

/// Writes one record to `stream` and waits for it: the stream's shard map is loaded then.
pub(crate) async fn warm_up(producer: &Producer, stream: &str) {
    let ack = producer
        .put(Record::new(stream, "warm-up", "x"))
        .await
        .unwrap();
    ack.await.unwrap();
}

/// Splits the stream's first shard in the middle of the hash key space, behind any
/// producer's back (directly on the server), and waits until the stream is active.
pub(crate) async fn split_first_shard(aws: &LocalAws, name: &str) -> String {
    let client = aws.kinesis_client();
    let shard = streams::list_shards(&client, name).await.unwrap().remove(0);
    client
        .split_shard()
        .stream_name(name)
        .shard_to_split(shard.shard_id())
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    streams::wait_active(&client, name).await.unwrap();
    shard.shard_id().to_owned()
}
