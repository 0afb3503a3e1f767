//! Turns Kinesis records back into user records, with the KCL's shard hash range rule.

use bytes::Bytes;

use crate::{Aggregate, HashKey, HashRange};

/// What one Kinesis record's data turns into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deaggregated {
    /// Not an aggregate (no magic, too short, MD5 mismatch, or a protobuf that does not
    /// parse): the data, unchanged, to deliver as one plain record.
    NotAggregated(Bytes),
    /// A valid aggregate whose user records are all to be delivered.
    Aggregated(Aggregate),
    /// A valid aggregate dropped whole by the shard hash range rule (see [`Deaggregator`]);
    /// kept so the caller can count and log what was dropped.
    Dropped(Aggregate),
}

impl Deaggregated {
    /// User records this record delivers: 1 for a plain record, the aggregate's size, or 0.
    pub fn delivered(&self) -> usize {
        match self {
            Deaggregated::NotAggregated(_) => 1,
            Deaggregated::Aggregated(a) => a.len(),
            Deaggregated::Dropped(_) => 0,
        }
    }

    /// User records dropped by the hash range rule.
    pub fn dropped(&self) -> usize {
        match self {
            Deaggregated::Dropped(a) => a.len(),
            Deaggregated::NotAggregated(_) | Deaggregated::Aggregated(_) => 0,
        }
    }
}

/// De-aggregates Kinesis records, optionally for a known shard hash range.
///
/// Without a range every sub-record is delivered. With one, the KCL's rule applies: when
/// a sub-record's effective hash key (its explicit hash key, else MD5 of its partition
/// key) lies outside the range, the KCL removes the sub-records of that aggregate it had
/// already accepted and skips the rest, so the whole aggregate is dropped; this type does
/// the same and reports it as [`Deaggregated::Dropped`]. (Such aggregates only arise when
/// a producer packed records of several shards together; a KPL-style producer never does.)
///
/// ```
/// use kinesis_agg::{Aggregator, Deaggregated, Deaggregator, UserRecord};
///
/// let mut agg = Aggregator::default();
/// agg.try_add(UserRecord::new("a", "1").unwrap()).unwrap();
/// agg.try_add(UserRecord::new("b", "2").unwrap()).unwrap();
/// let record = agg.finish().unwrap();
///
/// let Deaggregated::Aggregated(aggregate) = Deaggregator::new().deaggregate(record.data) else {
///     panic!("an aggregate")
/// };
/// let records: Vec<_> = aggregate.records().collect();
/// assert_eq!(records[1].partition_key, "b");
/// assert_eq!(records[1].sub_sequence_number, 1);
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
        self.classify(data, decoded)
    }

    /// De-aggregates many records (a GetRecords response, say), verifying their MD5s
    /// together in SIMD lanes; one result per input, in order.
    pub fn deaggregate_batch(&self, data: Vec<Bytes>) -> Vec<Deaggregated> {
        let decoded = Aggregate::decode_many(&data);
        data.into_iter()
            .zip(decoded)
            .map(|(d, a)| self.classify(d, a))
            .collect()
    }

    fn classify(&self, data: Bytes, decoded: Option<Aggregate>) -> Deaggregated {
        match (decoded, self.range) {
            (None, _) => Deaggregated::NotAggregated(data),
            (Some(a), Some(range)) if !all_in_range(&a, range) => Deaggregated::Dropped(a),
            (Some(a), _) => Deaggregated::Aggregated(a),
        }
    }
}

/// Whether every sub-record's effective hash key lies in `range`. A table key that is
/// not a number in [0, 2^128 - 1] counts as outside (the KCL fails on it likewise).
fn all_in_range(aggregate: &Aggregate, range: HashRange) -> bool {
    let pk_hashes = HashKey::from_partition_keys(aggregate.partition_keys().iter().map(|k| &**k));
    let ehk_values: Vec<Option<HashKey>> = aggregate
        .explicit_hash_keys()
        .iter()
        .map(|s| HashKey::parse_lenient(s.as_bytes()))
        .collect();
    aggregate.raw_records().all(|r| {
        let key = match r.ehk_index {
            Some(i) => ehk_values.get(i).copied().flatten(),
            None => pk_hashes.get(r.pk_index).copied(),
        };
        key.is_some_and(|k| range.contains(k))
    })
}
