//! Quickstart: write user records to a Kinesis stream aggregated the KPL way, read them
//! back de-aggregated, and check that every record arrived exactly as sent.
//!
//! Guarantee demonstrated: aggregation is lossless and shard-correct. Records are
//! aggregated per predicted shard (never two shards in one aggregate), every failed
//! PutRecords entry is retried until it succeeds, and on the way back each shard's
//! records pass the KCL's hash range filter with nothing dropped.
//!
//! ```text
//! cargo run --release -p kinesis-examples --example quickstart [-- RECORDS]
//! ```
//! With no AWS configured it starts the embedded local servers; see `examples/lib.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use bytes::Bytes;
use kinesis_agg::{
    AddError, Aggregator, AggregatorConfig, Deaggregated, Deaggregator, EncodedRecord, HashKey,
    HashRange, UserRecord,
};
use testkit::streams;
use testkit::workload::{Shape, generate};

type Error = Box<dyn std::error::Error + Send + Sync>;

const SHARDS: i32 = 4;
/// The KPL's default AggregationMaxSize.
const AGGREGATE_BYTES: usize = 51_200;

struct ShardMap {
    /// (shard id, range), sorted by ending hash key.
    shards: Vec<(String, HashRange)>,
}

impl ShardMap {
    async fn load(client: &Client, stream: &str) -> Result<ShardMap, Error> {
        let mut shards = Vec::new();
        for s in streams::list_shards(client, stream).await? {
            let open = s
                .sequence_number_range()
                .is_some_and(|r| r.ending_sequence_number().is_none());
            if let (true, Some(r)) = (open, s.hash_key_range()) {
                let range = HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key())?;
                shards.push((s.shard_id().to_owned(), range));
            }
        }
        shards.sort_by_key(|(_, r)| r.end());
        Ok(ShardMap { shards })
    }

    /// Index of the shard owning `key` (binary search on ending hash keys).
    fn shard_of(&self, key: HashKey) -> usize {
        self.shards
            .partition_point(|(_, r)| r.end() < key)
            .min(self.shards.len().saturating_sub(1))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let aws = kinesis_examples::connect().await?;
    println!("quickstart: using {}", aws.description);
    let stream = format!("quickstart-{}", std::process::id());
    streams::create_stream(&aws.kinesis, &stream, SHARDS).await?;
    let map = ShardMap::load(&aws.kinesis, &stream).await?;
    let workload = generate(Shape::W1, count, 42);

    let started = Instant::now();
    let encoded = aggregate(&map, &workload.records)?;
    let aggregates = encoded.len();
    let calls = put_all(&aws.kinesis, &stream, encoded).await?;
    let write_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let received = read_back(&aws.kinesis, &stream, &map).await?;
    let read_s = started.elapsed().as_secs_f64();

    verify(&workload.records, &received)?;
    println!(
        "quickstart: {count} user records in {aggregates} Kinesis records ({calls} PutRecords calls) \
         over {SHARDS} shards; wrote {:.0} records/s, read back and de-aggregated {:.0} records/s; \
         all {count} arrived exactly as sent",
        count as f64 / write_s,
        count as f64 / read_s
    );
    Ok(())
}

/// Aggregates each record into the open aggregate of its predicted shard.
fn aggregate(map: &ShardMap, records: &[(String, Bytes)]) -> Result<Vec<EncodedRecord>, Error> {
    let config = AggregatorConfig {
        max_size: AGGREGATE_BYTES,
        ..AggregatorConfig::default()
    };
    let mut open: Vec<Aggregator> = map
        .shards
        .iter()
        .map(|_| Aggregator::new(config))
        .collect::<Result<_, _>>()?;
    let hashes = HashKey::from_partition_keys(records.iter().map(|(k, _)| k.as_str()));
    let mut out = Vec::new();
    for ((pk, data), hash) in records.iter().zip(hashes) {
        let Some(agg) = open.get_mut(map.shard_of(hash)) else {
            continue;
        };
        match agg.try_add(UserRecord::new(pk.clone(), data.clone())?) {
            Ok(()) => {}
            Err(AddError::Full(record)) => {
                out.extend(agg.finish());
                agg.try_add(record)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    out.extend(open.iter_mut().filter_map(Aggregator::finish));
    Ok(out)
}

/// Sends everything in PutRecords calls of at most 500 entries / 5 MiB, retrying failed
/// entries until they succeed. Returns the number of calls made.
async fn put_all(
    client: &Client,
    stream: &str,
    mut pending: Vec<EncodedRecord>,
) -> Result<usize, Error> {
    let mut calls = 0;
    let mut backoff = Duration::from_millis(50);
    while !pending.is_empty() {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = pending.last() {
            if batch.len() == 500 || bytes + next.size() > 5 * 1024 * 1024 {
                break;
            }
            bytes += next.size();
            batch.extend(pending.pop());
        }
        let entries = batch
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .explicit_hash_key(r.explicit_hash_key_decimal())
                    .data(Blob::new(r.data.to_vec()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await?;
        calls += 1;
        let mut failed = 0;
        for (record, result) in batch.into_iter().zip(out.records()) {
            if result.error_code().is_some() {
                failed += 1;
                pending.push(record);
            }
        }
        if failed > 0 {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
    Ok(calls)
}

/// Reads every shard and de-aggregates it with that shard's hash range filter.
async fn read_back(
    client: &Client,
    stream: &str,
    map: &ShardMap,
) -> Result<Vec<(String, Bytes)>, Error> {
    let mut out = Vec::new();
    for (shard_id, range) in &map.shards {
        let records = streams::read_shard(client, stream, shard_id).await?;
        let data = records
            .into_iter()
            .map(|r| Bytes::from(r.data.into_inner()))
            .collect();
        for result in Deaggregator::for_hash_range(*range).deaggregate_batch(data) {
            match result {
                Deaggregated::Aggregated(aggregate) => {
                    out.extend(
                        aggregate
                            .into_records()
                            .map(|r| (r.partition_key.to_string(), r.data)),
                    );
                }
                Deaggregated::Dropped(aggregate) => {
                    let dropped = aggregate.len();
                    return Err(
                        format!("{dropped} records dropped by the hash range filter").into(),
                    );
                }
                Deaggregated::NotAggregated(data) => {
                    return Err(format!("a {}-byte record was not an aggregate", data.len()).into());
                }
            }
        }
    }
    Ok(out)
}

fn verify(sent: &[(String, Bytes)], received: &[(String, Bytes)]) -> Result<(), Error> {
    if sent.len() != received.len() {
        return Err(format!("sent {} records, received {}", sent.len(), received.len()).into());
    }
    let by_key: HashMap<&str, &Bytes> = received.iter().map(|(k, d)| (k.as_str(), d)).collect();
    for (key, data) in sent {
        if by_key.get(key.as_str()) != Some(&data) {
            return Err(format!("record {key} missing or different").into());
        }
    }
    Ok(())
}
