//! What the aggregation benchmarks measure, shared by the criterion bench
//! (`benches/aggregation.rs`) and the `agg_throughput` example of `kinesis-agg`.
//!
//! - [`aggregate`]: the producer's path: hash keys in batches of 256 (as the producer's
//!   driver receives records), add each record to the open aggregate, finish each full
//!   one, and seal (MD5) the aggregates of one PutRecords request (at most 500 records /
//!   5 MiB) together, or each on its own ([`Sealing::Each`]); sealed records go to a [`Sink`].
//! - [`deaggregate`]: the consumer's path: MD5-verified de-aggregation of the records as
//!   GetRecords returns them (at most 10,000 records / 10 MiB per response), or one at a time.
//!
//! ```
//! use kinesis_benches::{Sealing, Sink, aggregate, deaggregate, workload};
//!
//! let w = workload::generate(workload::Shape::W1, 1000, 1);
//! let mut sink = Sink::keeping();
//! aggregate(kinesis_benches::user_records(&w.records), &mut sink, Sealing::PerRequest).unwrap();
//! let data: Vec<_> = sink.kept.iter().map(|r| r.data.clone()).collect();
//! assert_eq!(deaggregate(&data, true), 1000);
//! ```

use std::hint::black_box;

use bytes::Bytes;
use kinesis_agg::{
    AddError, Aggregator, Deaggregated, Deaggregator, EncodedRecord, Unsealed, UserRecord,
};

pub use testkit::workload;

const HASH_BATCH: usize = 256;
const PUT_RECORDS_MAX_BYTES: usize = 5 * 1024 * 1024;
const PUT_RECORDS_MAX_RECORDS: usize = 500;
const GET_RECORDS_MAX_BYTES: usize = 10 * 1024 * 1024;
const GET_RECORDS_MAX_RECORDS: usize = 10_000;

/// How finished aggregates are sealed.
#[derive(Copy, Clone, Debug)]
pub enum Sealing {
    /// The aggregates of one PutRecords request are sealed together (SIMD lanes).
    PerRequest,
    /// Every aggregate is sealed on its own as it fills.
    Each,
}

/// Where sealed records go: a checksum of their digests and lengths, and optionally a copy.
#[derive(Debug, Default)]
pub struct Sink {
    /// Folds each record's MD5 trailer and length, in order.
    pub checksum: u128,
    /// The records, when keeping.
    pub kept: Vec<EncodedRecord>,
    keep: bool,
    pending: Vec<Unsealed>,
    pending_bytes: usize,
}

impl Sink {
    /// A sink that checksums and frees each record (what a producer does after sending).
    pub fn streaming() -> Self {
        Sink::default()
    }

    /// A sink that also keeps every record.
    pub fn keeping() -> Self {
        Sink {
            keep: true,
            ..Sink::default()
        }
    }

    fn push(&mut self, unsealed: Unsealed, sealing: Sealing) {
        if let Sealing::Each = sealing {
            self.emit(vec![unsealed.seal()]);
            return;
        }
        if self.pending.len() == PUT_RECORDS_MAX_RECORDS
            || self.pending_bytes + unsealed.size() > PUT_RECORDS_MAX_BYTES
        {
            self.flush();
        }
        self.pending_bytes += unsealed.size();
        self.pending.push(unsealed);
    }

    fn flush(&mut self) {
        self.pending_bytes = 0;
        let sealed = Unsealed::seal_all(std::mem::take(&mut self.pending));
        self.emit(sealed);
    }

    fn emit(&mut self, sealed: Vec<EncodedRecord>) {
        for r in sealed {
            let tail = r
                .data
                .get(r.data.len().saturating_sub(16)..)
                .unwrap_or_default();
            let digest = u128::from_le_bytes(tail.try_into().unwrap_or_default());
            self.checksum = self.checksum.rotate_left(1) ^ digest ^ r.data.len() as u128;
            if self.keep {
                self.kept.push(r);
            }
        }
    }
}

/// The workload's records as [`UserRecord`]s (keys are valid by construction).
pub fn user_records(records: &[(String, Bytes)]) -> Vec<UserRecord> {
    records
        .iter()
        .filter_map(|(k, d)| UserRecord::new(k.clone(), d.clone()).ok())
        .collect()
}

/// The producer's aggregation path over `records`; every sealed record goes to `sink`.
pub fn aggregate(
    records: Vec<UserRecord>,
    sink: &mut Sink,
    sealing: Sealing,
) -> Result<(), AddError> {
    let mut agg = Aggregator::default();
    let mut routed = 0u128;
    let mut rest = records.into_iter();
    while !rest.as_slice().is_empty() {
        let take = rest.as_slice().len().min(HASH_BATCH);
        let keys = UserRecord::hash_keys(rest.as_slice().get(..take).unwrap_or_default());
        for (record, key) in rest.by_ref().take(take).zip(keys) {
            routed ^= key.get(); // a producer predicts the shard from it
            if let Err(AddError::Full(record)) = agg.try_add(record) {
                if let Some(unsealed) = agg.finish_unsealed() {
                    sink.push(unsealed, sealing);
                }
                agg.try_add(record)?;
            }
        }
    }
    if let Some(unsealed) = agg.finish_unsealed() {
        sink.push(unsealed, sealing);
    }
    sink.flush();
    black_box(routed);
    Ok(())
}

/// De-aggregates `data`, in GetRecords-sized batches or one record at a time; returns the
/// number of user records delivered (each one built, zero-copy).
pub fn deaggregate(data: &[Bytes], batched: bool) -> usize {
    let deaggregator = Deaggregator::new();
    if !batched {
        return data
            .iter()
            .map(|d| count(vec![deaggregator.deaggregate(d.clone())]))
            .sum();
    }
    let (mut delivered, mut batch, mut batch_bytes) = (0, Vec::new(), 0);
    for d in data {
        if batch.len() == GET_RECORDS_MAX_RECORDS || batch_bytes + d.len() > GET_RECORDS_MAX_BYTES {
            delivered += count(deaggregator.deaggregate_batch(std::mem::take(&mut batch)));
            batch_bytes = 0;
        }
        batch_bytes += d.len();
        batch.push(d.clone());
    }
    delivered + count(deaggregator.deaggregate_batch(batch))
}

fn count(results: Vec<Deaggregated>) -> usize {
    results
        .into_iter()
        .map(|r| match r {
            Deaggregated::Aggregated(aggregate) => aggregate.into_records().map(black_box).count(),
            other => other.delivered(),
        })
        .sum()
}
