//! Reading the stream back after a run: what Kinesis holds, not what the producer said.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_kinesis::Client;
use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator};

use crate::Error;

/// The shard limits `local-aws --enforce-limits` holds a shard to.
const SHARD_BYTES_PER_S: f64 = 1024.0 * 1024.0;
const SHARD_RECORDS_PER_S: f64 = 1000.0;

/// What the stream holds.
#[derive(Default)]
pub(crate) struct ReadBack {
    /// User records, de-aggregated (duplicates included).
    pub(crate) user_records: u64,
    /// Distinct user records (the bench's keys are distinct: a key is a record).
    pub(crate) distinct: u64,
    /// Kinesis records.
    pub(crate) kinesis_records: u64,
    /// Data bytes of its Kinesis records (what the shard limit counts).
    pub(crate) data_bytes: u64,
    /// Per shard, its bytes over the span from its first to its last arrival against the
    /// 1 MiB/s limit, the lowest and the highest of the shards.
    pub(crate) byte_share: (f64, f64),
    /// The same for Kinesis records against 1,000 records/s.
    pub(crate) record_share: (f64, f64),
    /// The byte share in steady state: each shard's bytes that arrived after its first 5 s
    /// and before its last 5 s, over those seconds (the limiter's descent from its start
    /// rate and the retries trickling in at the end left out).
    pub(crate) steady_byte_share: (f64, f64),
}

/// What [`ReadBack::steady_byte_share`] leaves out at each end of a shard's span.
const STEADY_MARGIN_MS: i64 = 5000;

/// One shard's totals and its arrival span (milliseconds).
#[derive(Default)]
struct Shard {
    bytes: u64,
    records: u64,
    /// (arrival ms, bytes) of each record.
    arrivals: Vec<(i64, u64)>,
    first_ms: i64,
    last_ms: i64,
}

/// Reads every shard of `stream` from its start.
pub(crate) async fn read(client: &Client, stream: &str) -> Result<ReadBack, Error> {
    let mut back = ReadBack::default();
    let mut keys = HashSet::new();
    let mut shards: BTreeMap<String, Shard> = BTreeMap::new();
    for (shard_id, record) in testkit::streams::read_stream(client, stream).await? {
        let at = record
            .approximate_arrival_timestamp()
            .map_or(0, |t| t.to_millis().unwrap_or(0));
        let data = Bytes::from(record.data.into_inner());
        let shard = shards.entry(shard_id).or_insert(Shard {
            first_ms: at,
            last_ms: at,
            ..Shard::default()
        });
        shard.bytes += data.len() as u64;
        shard.records += 1;
        shard.arrivals.push((at, data.len() as u64));
        shard.first_ms = shard.first_ms.min(at);
        shard.last_ms = shard.last_ms.max(at);
        back.kinesis_records += 1;
        back.data_bytes += data.len() as u64;
        match Deaggregator::new().deaggregate(data) {
            Deaggregated::Aggregated(a) | Deaggregated::Dropped(a) => {
                for user in a.records() {
                    back.user_records += 1;
                    keys.insert(user.partition_key);
                }
            }
            Deaggregated::NotAggregated(_) => {
                back.user_records += 1;
                back.distinct += 1;
            }
        }
    }
    back.distinct += keys.len() as u64;
    let share = |f: &dyn Fn(&Shard) -> f64| {
        let shares = shards.values().map(|s| {
            let span = (s.last_ms - s.first_ms).max(1) as f64 / 1000.0;
            f(s) / span
        });
        shares.fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    back.byte_share = share(&|s| s.bytes as f64 / SHARD_BYTES_PER_S);
    back.record_share = share(&|s| s.records as f64 / SHARD_RECORDS_PER_S);
    back.steady_byte_share = shards
        .values()
        .filter_map(steady_share)
        .fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    Ok(back)
}

/// A shard's byte share between its first and last [`STEADY_MARGIN_MS`]; `None` when its
/// span is too short to leave anything.
fn steady_share(s: &Shard) -> Option<f64> {
    let (from, to) = (s.first_ms + STEADY_MARGIN_MS, s.last_ms - STEADY_MARGIN_MS);
    if to <= from {
        return None;
    }
    let bytes: u64 = s
        .arrivals
        .iter()
        .filter(|(at, _)| (from..to).contains(at))
        .map(|(_, b)| b)
        .sum();
    Some(bytes as f64 / SHARD_BYTES_PER_S / ((to - from) as f64 / 1000.0))
}
