//! The aggregation round trip the quickstart runs: records aggregated the KPL way per
//! predicted shard, written with PutRecords (failed entries retried), read back from
//! every shard and de-aggregated with that shard's hash range filter, then compared.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kinesis_examples::roundtrip::Error> {
//! let aws = kinesis_examples::connect().await?;
//! let report = kinesis_examples::roundtrip::run(&aws.kinesis, "demo", 4, 10_000).await?;
//! assert_eq!(report.received, 10_000);
//! # Ok(()) }
//! ```

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

/// Any failure of the round trip, with its reason.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The KPL's default AggregationMaxSize.
const AGGREGATE_BYTES: usize = 51_200;

/// What a round trip did.
#[derive(Clone, Debug)]
pub struct Report {
    /// User records written.
    pub sent: usize,
    /// User records read back, every one equal to what was sent.
    pub received: usize,
    /// Kinesis records (aggregates) written.
    pub kinesis_records: usize,
    /// PutRecords calls made, retries included.
    pub put_calls: usize,
    /// User records per second written (aggregation included).
    pub write_per_s: f64,
    /// User records per second read back and de-aggregated.
    pub read_per_s: f64,
}

/// Creates `stream` with `shards` shards, writes `count` W1-shaped records (100 bytes,
/// distinct keys) aggregated per shard, reads everything back and checks it arrived
/// exactly as sent.
pub async fn run(
    kinesis: &Client,
    stream: &str,
    shards: i32,
    count: usize,
) -> Result<Report, Error> {
    streams::create_stream(kinesis, stream, shards).await?;
    let map = ShardMap::load(kinesis, stream).await?;
    let workload = generate(Shape::W1, count, 42);

    let started = Instant::now();
    let encoded = aggregate(&map, &workload.records)?;
    let kinesis_records = encoded.len();
    let put_calls = put_all(kinesis, stream, encoded).await?;
    let write_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let received = read_back(kinesis, stream, &map).await?;
    let read_s = started.elapsed().as_secs_f64();

    verify(&workload.records, &received)?;
    Ok(Report {
        sent: count,
        received: received.len(),
        kinesis_records,
        put_calls,
        write_per_s: count as f64 / write_s,
        read_per_s: count as f64 / read_s,
    })
}

/// The open shards of a stream, for predicting where a hash key goes.
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
