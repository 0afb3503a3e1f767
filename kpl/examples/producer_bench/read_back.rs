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
    /// Per shard, its bytes per second over the whole seconds between its first and its
    /// last arrival ([`Shard::within`]) against the 1 MiB/s limit, the lowest and the
    /// highest of the shards.
    pub(crate) byte_share: (f64, f64),
    /// The same for Kinesis records against 1,000 records/s.
    pub(crate) record_share: (f64, f64),
    /// The byte share in steady state: the same with each shard's first and last 5 s more
    /// left out (the limiter's descent from its start
    /// rate and the retries trickling in at the end left out).
    pub(crate) steady_byte_share: (f64, f64),
}

/// What [`ReadBack::steady_byte_share`] leaves out at each end of a shard's span.
const STEADY_MARGIN_MS: i64 = 5000;

/// One shard's arrivals and their span (milliseconds).
#[derive(Default)]
struct Shard {
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
    let fold = |share: &dyn Fn(&Shard) -> Option<f64>| {
        shards
            .values()
            .filter_map(share)
            .fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    back.byte_share = fold(&|s| s.within(0).map(|(b, _)| b / SHARD_BYTES_PER_S));
    back.record_share = fold(&|s| s.within(0).map(|(_, r)| r / SHARD_RECORDS_PER_S));
    back.steady_byte_share = fold(&|s| {
        s.within(STEADY_MARGIN_MS)
            .map(|(b, _)| b / SHARD_BYTES_PER_S)
    });
    Ok(back)
}

impl Shard {
    /// Bytes and records per second over the whole seconds between the shard's first and
    /// last arrival, `margin_ms` more left out at each end; `None` when that leaves nothing.
    /// Arrival times may be whole seconds (the embedded server's are): the first and the
    /// last arrival's seconds are partly outside the span, so they are left out, not
    /// counted as full or as empty.
    fn within(&self, margin_ms: i64) -> Option<(f64, f64)> {
        let from = (self.first_ms.div_euclid(1000) + 1) * 1000 + margin_ms;
        let to = self.last_ms.div_euclid(1000) * 1000 - margin_ms;
        if to <= from {
            return None;
        }
        let (mut bytes, mut records) = (0, 0);
        for (_, b) in self
            .arrivals
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
        {
            bytes += b;
            records += 1;
        }
        let seconds = (to - from) as f64 / 1000.0;
        Some((bytes as f64 / seconds, records as f64 / seconds))
    }
}
