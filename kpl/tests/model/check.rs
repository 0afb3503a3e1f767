//! The checkers: every promise over what actually happened (records read back from the
//! stream, results, timestamps), not over what the code meant to do.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator, HashKey, HashRange};
use kpl::{ErrorCode, Ordering, PutErrorKind, Record};
use testkit::streams;

use crate::case::{Case, Op};
use crate::run::{Observed, Outcome, patience};

/// One user record as a KCL consumer gets it.
#[derive(Debug)]
struct Delivered {
    shard: String,
    seq: String,
    sub: u64,
    record_key: String,
    data: Bytes,
}

/// What the stream holds, read directly from the server.
struct Stream {
    delivered: Vec<Delivered>,
    /// (shard, sequence number) of every Kinesis record.
    written: HashSet<(String, String)>,
    /// Shards open when the case started (their ids), for the order check.
    first_shards: HashSet<String>,
}

/// Every violation of the promises in `observed`.
pub(crate) async fn check(case: &Case, observed: &Observed) -> Vec<String> {
    let mut v = observed.violations.clone();
    let mut streams = Vec::new();
    for (i, shards) in case.shards.iter().enumerate() {
        streams.push(read(case, observed, &Case::stream_name(i), *shards, &mut v).await);
    }
    completions(case, observed, &mut v);
    acknowledged(observed, &streams, &mut v);
    if case.config.ordering == Ordering::PerShard {
        order(case, observed, &streams, &mut v);
    }
    reports(observed, &streams, &mut v);
    v
}

/// The record's id, from its data (or its key, for records under 8 bytes).
fn id_of(key: &str, data: &[u8]) -> Option<u64> {
    if let Some(id) = key.strip_prefix('u') {
        return id.parse().ok();
    }
    Some(u64::from_le_bytes(data.get(..8)?.try_into().ok()?))
}

async fn read(
    case: &Case,
    observed: &Observed,
    name: &str,
    first: i32,
    v: &mut Vec<String>,
) -> Stream {
    let client = observed.aws.kinesis_client();
    let shards = streams::list_shards(&client, name)
        .await
        .unwrap_or_default();
    let ranges: Vec<(String, HashRange)> = shards
        .iter()
        .filter_map(|s| {
            let r = s.hash_key_range()?;
            Some((
                s.shard_id().to_owned(),
                HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).ok()?,
            ))
        })
        .collect();
    let mut stream = Stream {
        delivered: Vec::new(),
        written: HashSet::new(),
        // Shards are numbered in creation order: the first `first` are the stream's own.
        first_shards: ranges
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| {
                id.rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<i32>().ok())
                    .is_some_and(|n| n < first)
            })
            .collect(),
    };
    for (shard, range) in &ranges {
        let records = streams::read_shard(&client, name, shard)
            .await
            .unwrap_or_default();
        for r in records {
            let data = Bytes::from(r.data().as_ref().to_vec());
            let pk = r.partition_key().unwrap_or_default().to_owned();
            stream
                .written
                .insert((shard.clone(), r.sequence_number().to_owned()));
            limits(case, &ranges, &pk, &data, v);
            let seq = r.sequence_number().to_owned();
            let deliver = |record_key: String, data: Bytes, sub: u64| Delivered {
                shard: shard.clone(),
                seq: seq.clone(),
                sub,
                record_key,
                data,
            };
            match Deaggregator::for_hash_range(*range).deaggregate(data) {
                Deaggregated::NotAggregated(d) => stream.delivered.push(deliver(pk, d, 0)),
                Deaggregated::Aggregated(a) => {
                    stream.delivered.extend(a.records().map(|s| {
                        deliver(s.partition_key.to_string(), s.data, s.sub_sequence_number)
                    }))
                }
                Deaggregated::Dropped(_) => {}
            }
        }
    }
    stream
}

/// No Kinesis record above the limits; no aggregate above its size or mixing shards (its
/// sub-records all in the range of one shard the stream had).
fn limits(
    case: &Case,
    ranges: &[(String, HashRange)],
    pk: &str,
    data: &Bytes,
    v: &mut Vec<String>,
) {
    if data.len() + pk.len() > 1 << 20 || pk.chars().count() > 256 {
        v.push(format!(
            "a Kinesis record of {} bytes, key of {} chars",
            data.len() + pk.len(),
            pk.chars().count()
        ));
    }
    let Deaggregated::Aggregated(a) = Deaggregator::new().deaggregate(data.clone()) else {
        return;
    };
    if data.len() + pk.len() > case.config.aggregation_max_size {
        v.push(format!(
            "an aggregate of {} bytes (AggregationMaxSize {})",
            data.len() + pk.len(),
            case.config.aggregation_max_size
        ));
    }
    let keys: Vec<HashKey> = a
        .records()
        .map(|s| match s.explicit_hash_key {
            Some(k) => HashKey::from_decimal(&k).unwrap_or_default(),
            None => HashKey::from_partition_key(&s.partition_key),
        })
        .collect();
    if !ranges
        .iter()
        .any(|(_, r)| keys.iter().all(|k| r.contains(*k)))
    {
        v.push(format!(
            "an aggregate of {} records mixes shards",
            keys.len()
        ));
    }
}

/// Every record drawn completed exactly once, in time, an error handing the record back.
fn completions(case: &Case, observed: &Observed, v: &mut Vec<String>) {
    let drawn: usize = case
        .ops
        .iter()
        .map(|op| match op {
            Op::Put(_) | Op::TryPut(_) => 1,
            Op::Batch(specs) => specs.len(),
            _ => 0,
        })
        .sum();
    let ids: HashSet<u64> = observed.outcomes.iter().map(|o| o.spec.id).collect();
    if observed.outcomes.len() != drawn || ids.len() != drawn {
        v.push(format!(
            "{} outcomes ({} distinct) for {drawn} records",
            observed.outcomes.len(),
            ids.len()
        ));
    }
    for o in &observed.outcomes {
        if let Err(e) = &o.result
            && e.record != o.record
        {
            v.push(format!(
                "record {}: its error hands back another record",
                o.spec.id
            ));
        }
        let attempts = match &o.result {
            Ok(r) => &r.attempts,
            Err(e) => &e.attempts,
        };
        if attempts.len() > kpl::Attempts::KEPT {
            v.push(format!(
                "record {}: {} attempts kept",
                o.spec.id,
                attempts.len()
            ));
        }
        let took = o.done_at.saturating_duration_since(o.put_at);
        if !o.refused && took > patience(case) {
            v.push(format!(
                "record {} took {took:?} (TTL + request timeout + 3 s: {:?})",
                o.spec.id,
                patience(case)
            ));
        }
    }
}

/// Every acknowledged record is delivered where its result says, as it was put.
fn acknowledged(observed: &Observed, streams: &[Stream], v: &mut Vec<String>) {
    let mut at: HashMap<(usize, &str, &str, u64), &Delivered> = HashMap::new();
    for (i, stream) in streams.iter().enumerate() {
        for d in &stream.delivered {
            at.insert((i, d.shard.as_str(), d.seq.as_str(), d.sub), d);
        }
    }
    for o in &observed.outcomes {
        let Ok(r) = &o.result else { continue };
        let place = (
            o.spec.stream,
            &*r.shard_id,
            &*r.sequence_number,
            r.sub_sequence_number,
        );
        match at.get(&place) {
            Some(d) if d.data == o.record.data && d.record_key == o.record.partition_key => {}
            Some(_) => v.push(format!(
                "record {}: another record is where its result points",
                o.spec.id
            )),
            None => v.push(format!(
                "record {}: acknowledged at {} {} #{} but not delivered there",
                o.spec.id, r.shard_id, r.sequence_number, r.sub_sequence_number
            )),
        }
    }
}

/// Ordered mode: per partition key, the first copies of its records appear in each shard
/// in put order (a copy written late by a request that had timed out may follow newer
/// ones; records sent again because the map was stale, and shards made by resharding
/// while producing, are the documented exceptions).
fn order(case: &Case, observed: &Observed, streams: &[Stream], v: &mut Vec<String>) {
    let resharded = case.ops.iter().any(|op| matches!(op, Op::Reshard { .. }));
    let resent: HashSet<u64> = observed
        .outcomes
        .iter()
        .filter(|o| attempts_of(o).any(|code| code == &ErrorCode::WrongShard))
        .map(|o| o.spec.id)
        .collect();
    for stream in streams {
        let mut by_key: HashMap<(&str, &str), Vec<Position<'_>>> = HashMap::new();
        for d in &stream.delivered {
            if resharded && !stream.first_shards.contains(&d.shard) {
                continue;
            }
            let Some(id) = id_of(&d.record_key, &d.data).filter(|id| !resent.contains(id)) else {
                continue;
            };
            by_key
                .entry((d.shard.as_str(), d.record_key.as_str()))
                .or_default()
                .push((d.seq.len(), d.seq.as_str(), d.sub, id));
        }
        for ((shard, key), mut records) in by_key {
            records.sort();
            let mut seen = HashSet::new();
            let firsts: Vec<u64> = records
                .iter()
                .map(|r| r.3)
                .filter(|id| seen.insert(*id))
                .collect();
            if firsts.windows(2).any(|w| w[0] > w[1]) {
                v.push(format!("key {key} out of put order on {shard}: {firsts:?}"));
            }
        }
    }
}

/// Where a record is in a shard (the sequence number's length, then its digits: they
/// compare as numbers), and its id.
type Position<'a> = (usize, &'a str, u64, u64);

fn attempts_of(o: &Outcome) -> impl Iterator<Item = &ErrorCode> {
    let attempts = match &o.result {
        Ok(r) => &r.attempts,
        Err(e) => &e.attempts,
    };
    attempts
        .iter()
        .filter_map(|a| a.error.as_ref().map(|e| &e.code))
}

/// Shutdown reports hand back exactly the records whose handles failed with `ShutDown`;
/// records reported written but unverified are in the stream where the report says.
fn reports(observed: &Observed, streams: &[Stream], v: &mut Vec<String>) {
    let key = |r: &Record| (r.partition_key.clone(), r.data.clone());
    let mut reported: Vec<_> = observed
        .reports
        .iter()
        .flat_map(|r| r.unsent.iter().map(key))
        .collect();
    reported.extend(
        observed
            .reports
            .iter()
            .flat_map(|r| r.unverified.iter().map(|u| key(&u.record))),
    );
    let mut failed: Vec<_> = observed
        .outcomes
        .iter()
        .filter(|o| {
            !o.refused
                && o.result
                    .as_ref()
                    .is_err_and(|e| e.kind == PutErrorKind::ShutDown)
        })
        .map(|o| key(&o.record))
        .collect();
    reported.sort();
    failed.sort();
    if reported != failed {
        v.push(format!(
            "shutdown reports list {} records; {} handles failed with ShutDown",
            reported.len(),
            failed.len()
        ));
    }
    for u in observed.reports.iter().flat_map(|r| &r.unverified) {
        let stream = u
            .record
            .stream
            .strip_prefix("model-")
            .and_then(|i| i.parse::<usize>().ok());
        let Some(written) = stream.and_then(|i| streams.get(i)).map(|s| &s.written) else {
            v.push(format!(
                "reported written to an unknown stream {}",
                u.record.stream
            ));
            continue;
        };
        if !written.contains(&(u.shard_id.to_string(), u.sequence_number.to_string())) {
            v.push(format!(
                "reported written at {} {}, but no such record",
                u.shard_id, u.sequence_number
            ));
        }
    }
}
