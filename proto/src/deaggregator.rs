//! Turns Kinesis records back into user records, with the KCL's shard hash range rule.

use bytes::Bytes;

use crate::{Aggregate, HashKey, HashRange, SubRecord};

/// What one Kinesis record's data turns into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deaggregated {
    /// Not an aggregate (no magic, too short, MD5 mismatch, or a protobuf that does not
    /// parse): the data, unchanged, to deliver as one plain record.
    NotAggregated(Bytes),
    /// A valid aggregate.
    Aggregated {
        /// The user records delivered, in order.
        records: Vec<SubRecord>,
        /// User records dropped by the shard hash range filter.
        dropped: usize,
    },
}

/// De-aggregates Kinesis records, optionally for a known shard hash range.
///
/// Without a range every sub-record is delivered. With one, the KCL's rule applies: when
/// a sub-record's effective hash key (its explicit hash key, else MD5 of its partition
/// key) lies outside the range, the KCL removes the sub-records of that aggregate it had
/// already accepted and skips the rest, so the whole aggregate is dropped; this type does
/// the same and reports how many were dropped. (Such aggregates only arise when a
/// producer packed records for several shards together; a KPL-style producer never does.)
///
/// ```
/// use kinesis_agg::{Aggregator, Deaggregated, Deaggregator, UserRecord};
///
/// let mut agg = Aggregator::default();
/// agg.try_add(UserRecord::new("a", "1").unwrap()).unwrap();
/// agg.try_add(UserRecord::new("b", "2").unwrap()).unwrap();
/// let record = agg.finish().unwrap();
///
/// match Deaggregator::new().deaggregate(record.data) {
///     Deaggregated::Aggregated { records, dropped } => {
///         assert_eq!(records.len(), 2);
///         assert_eq!(records[1].partition_key, "b");
///         assert_eq!(records[1].sub_sequence_number, 1);
///         assert_eq!(dropped, 0);
///     }
///     Deaggregated::NotAggregated(_) => unreachable!(),
/// }
/// ```
#[derive(Copy, Clone, Debug, Default)]
pub struct Deaggregator {
    range: Option<HashRange>,
}

impl Deaggregator {
    /// A de-aggregator that delivers every sub-record.
    pub fn new() -> Self {
        Deaggregator { range: None }
    }

    /// A de-aggregator for a shard owning `range`, applying the KCL's filter.
    pub fn for_hash_range(range: HashRange) -> Self {
        Deaggregator { range: Some(range) }
    }

    /// The hash range filter in force, if any.
    pub fn hash_range(&self) -> Option<HashRange> {
        self.range
    }

    /// De-aggregates one record's data.
    pub fn deaggregate(&self, data: Bytes) -> Deaggregated {
        let decoded = Aggregate::decode(&data);
        self.finish(data, decoded)
    }

    /// De-aggregates many records (a GetRecords response, say), verifying their MD5s
    /// together in SIMD lanes; one result per input, in order.
    pub fn deaggregate_batch(&self, data: Vec<Bytes>) -> Vec<Deaggregated> {
        let decoded = Aggregate::decode_many(&data);
        data.into_iter()
            .zip(decoded)
            .map(|(d, a)| self.finish(d, a))
            .collect()
    }

    fn finish(&self, data: Bytes, decoded: Option<Aggregate>) -> Deaggregated {
        let Some(aggregate) = decoded else {
            return Deaggregated::NotAggregated(data);
        };
        match self.range {
            Some(range) if !all_in_range(&aggregate, range) => Deaggregated::Aggregated {
                records: Vec::new(),
                dropped: aggregate.len(),
            },
            _ => Deaggregated::Aggregated {
                records: aggregate.records().collect(),
                dropped: 0,
            },
        }
    }
}

/// Whether every sub-record's effective hash key lies in `range`. A table key that is
/// not a number in [0, 2^128 - 1] counts as outside (the KCL fails on it likewise).
fn all_in_range(aggregate: &Aggregate, range: HashRange) -> bool {
    let pk_hashes = HashKey::from_partition_keys(aggregate.partition_keys());
    let ehk_values: Vec<Option<HashKey>> = aggregate
        .explicit_hash_keys()
        .iter()
        .map(|s| HashKey::parse_lenient(s.as_bytes()))
        .collect();
    aggregate.raw_records().iter().all(|r| {
        let key = match r.ehk_index {
            Some(i) => ehk_values.get(i).copied().flatten(),
            None => pk_hashes.get(r.pk_index).copied(),
        };
        key.is_some_and(|k| range.contains(k))
    })
}
