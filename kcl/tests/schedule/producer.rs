//! The producer of a run: rounds of records, one PutRecords call after another, each key
//! at most once per call (a plain record, or a KPL aggregate of the key's next few
//! records), so a key's production order is its record numbers' order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kcl::agg::{Aggregator, UserRecord};
use testkit::rng::Rng;
use tokio::sync::watch;

use super::facts::{Produced, RecordId};

/// Keys written to.
pub const KEYS: u32 = 24;

/// What the producer wrote so far, and the switches it obeys.
#[derive(Clone, Default)]
pub struct Production {
    pub produced: Arc<Mutex<Vec<Produced>>>,
    /// Records from now on count as produced after the faults stopped.
    pub after_faults: Arc<AtomicBool>,
}

/// Produces a round every 100 ms until `stop` is set.
pub async fn produce(
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    aggregated: bool,
    seed: u64,
    production: Production,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = Rng::new(seed ^ 0xBEEF);
    let mut next = vec![0u32; KEYS as usize];
    while !*stop.borrow() {
        let after = production.after_faults.load(Ordering::SeqCst);
        let (entries, ids) = round(&mut rng, &mut next, aggregated);
        put(&kinesis, &stream, entries).await;
        let at = Instant::now();
        production
            .produced
            .lock()
            .unwrap()
            .extend(ids.into_iter().map(|id| Produced {
                id,
                at,
                after_faults: after,
            }));
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// One round: 8 distinct keys, each with one record or (aggregated mode, half the
/// time) an aggregate of its next 2 to 4 records.
fn round(
    rng: &mut Rng,
    next: &mut [u32],
    aggregated: bool,
) -> (Vec<PutRecordsRequestEntry>, Vec<RecordId>) {
    let mut keys: Vec<u32> = (0..KEYS).collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.below(i + 1));
    }
    let (mut entries, mut ids) = (Vec::new(), Vec::new());
    for &key in keys.iter().take(8) {
        let count = if aggregated && rng.chance(50) {
            2 + rng.below(3)
        } else {
            1
        };
        let batch: Vec<RecordId> = (0..count)
            .map(|_| {
                let slot = &mut next[key as usize];
                *slot += 1;
                RecordId { key, n: *slot - 1 }
            })
            .collect();
        entries.push(entry(&batch));
        ids.extend(batch);
    }
    (entries, ids)
}

/// A plain record for one id, an aggregate (of one key's records) for several.
fn entry(ids: &[RecordId]) -> PutRecordsRequestEntry {
    let builder = PutRecordsRequestEntry::builder();
    let builder = match ids {
        [one] => builder
            .partition_key(one.partition_key())
            .data(Blob::new(one.data())),
        _ => {
            let mut agg = Aggregator::default();
            for id in ids {
                agg.try_add(UserRecord::new(id.partition_key(), id.data()).unwrap())
                    .unwrap();
            }
            let r = agg.finish().unwrap();
            builder
                .partition_key(&r.partition_key)
                .explicit_hash_key(r.explicit_hash_key_decimal())
                .data(Blob::new(r.data.to_vec()))
        }
    };
    builder.build().unwrap()
}

/// Puts the entries, trying again until every one is written (the direct client sees no
/// faults; a retry covers a stream briefly updating).
async fn put(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    entries: Vec<PutRecordsRequestEntry>,
) {
    for attempt in 0.. {
        let out = kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries.clone()))
            .send()
            .await;
        match out {
            Ok(out) if out.failed_record_count() == Some(0) => return,
            Ok(_) | Err(_) if attempt < 50 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("the producer cannot write: {other:?}"),
        }
    }
}
