//! GetRecords records to user records: de-aggregation with the shard's hash range rule,
//! and skipping what a checkpoint inside an aggregate already covers.

use std::time::SystemTime;

use bytes::Bytes;
use bytestring::ByteString;
use kinesis_agg::{Deaggregated, Deaggregator, HashRange};

use crate::{Record, SequenceNumber};

/// Converts the records of one shard, response after response.
#[derive(Debug)]
pub(crate) struct Converter {
    deaggregator: Deaggregator,
    /// User records up to and including this (sequence, sub-sequence) are skipped: the
    /// checkpoint covers them (set when reading resumes AT the checkpointed sequence).
    skip_through: Option<(SequenceNumber, u64)>,
    /// User records dropped by the hash range rule so far.
    pub(crate) dropped: u64,
}

/// The user records of one response.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    pub(crate) records: Vec<Record>,
    /// Data bytes of the Kinesis records.
    pub(crate) bytes: usize,
    /// The last Kinesis record's sequence number.
    pub(crate) last_sequence: Option<SequenceNumber>,
}

impl Converter {
    pub(crate) fn new(
        range: Option<HashRange>,
        skip_through: Option<(SequenceNumber, u64)>,
    ) -> Self {
        Converter {
            deaggregator: range.map_or_else(Deaggregator::new, Deaggregator::for_hash_range),
            skip_through,
            dropped: 0,
        }
    }

    /// Converts one response's records, in order.
    pub(crate) fn convert(&mut self, records: Vec<aws_sdk_kinesis::types::Record>) -> Converted {
        let mut metas = Vec::with_capacity(records.len());
        let mut datas = Vec::with_capacity(records.len());
        let mut out = Converted::default();
        for r in records {
            let Ok(seq) = SequenceNumber::parse(&r.sequence_number) else {
                tracing::warn!(sequence_number = %r.sequence_number, "skipping a record with an invalid sequence number");
                continue;
            };
            let data = Bytes::from(r.data.into_inner());
            out.bytes += data.len();
            let arrival = r
                .approximate_arrival_timestamp
                .and_then(|t| SystemTime::try_from(t).ok());
            metas.push((
                seq,
                arrival,
                ByteString::from(r.partition_key.unwrap_or_default()),
            ));
            datas.push(data);
        }
        let mut user = Vec::with_capacity(datas.len());
        for ((seq, arrival, pk), d) in metas
            .into_iter()
            .zip(self.deaggregator.deaggregate_batch(datas))
        {
            self.push(&mut user, &seq, arrival, pk, d);
            out.last_sequence = Some(seq);
        }
        out.records = user;
        out
    }

    fn push(
        &mut self,
        out: &mut Vec<Record>,
        seq: &SequenceNumber,
        arrival: Option<SystemTime>,
        partition_key: ByteString,
        d: Deaggregated,
    ) {
        let skip = self.skip_for(seq);
        match d {
            Deaggregated::NotAggregated(data) => {
                if skip.is_none() {
                    out.push(Record {
                        sequence_number: seq.clone(),
                        sub_sequence_number: 0,
                        partition_key,
                        explicit_hash_key: None,
                        data,
                        approximate_arrival_timestamp: arrival,
                        aggregated: false,
                    });
                }
            }
            Deaggregated::Aggregated(aggregate) => {
                out.reserve(aggregate.len());
                for sub in aggregate.into_records() {
                    if skip.is_some_and(|through| sub.sub_sequence_number <= through) {
                        continue;
                    }
                    out.push(Record {
                        sequence_number: seq.clone(),
                        sub_sequence_number: sub.sub_sequence_number,
                        partition_key: sub.partition_key,
                        explicit_hash_key: sub.explicit_hash_key,
                        data: sub.data,
                        approximate_arrival_timestamp: arrival,
                        aggregated: true,
                    });
                }
            }
            Deaggregated::Dropped(aggregate) => {
                self.dropped += aggregate.len() as u64;
                tracing::warn!(
                    sequence_number = %seq,
                    user_records = aggregate.len(),
                    "dropped an aggregate holding records outside the shard's hash range (KCL rule)"
                );
            }
        }
    }

    /// For a record at `seq`: `Some(through)` when its sub-records up to `through` are
    /// covered by the checkpoint (every sub-record of an earlier sequence is).
    fn skip_for(&mut self, seq: &SequenceNumber) -> Option<u64> {
        let (skip_seq, through) = self.skip_through.as_ref()?;
        if seq > skip_seq {
            self.skip_through = None;
            return None;
        }
        Some(if seq == skip_seq { *through } else { u64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::primitives::Blob;
    use kinesis_agg::{Aggregator, UserRecord};

    fn kinesis_record(seq: &str, pk: &str, data: Bytes) -> aws_sdk_kinesis::types::Record {
        aws_sdk_kinesis::types::Record::builder()
            .sequence_number(seq)
            .partition_key(pk)
            .data(Blob::new(data.to_vec()))
            .build()
            .unwrap()
    }

    fn aggregate(n: usize) -> Bytes {
        let mut agg = Aggregator::default();
        for i in 0..n {
            agg.try_add(UserRecord::new(format!("k{i}"), format!("v{i}")).unwrap())
                .unwrap();
        }
        agg.finish().unwrap().data
    }

    fn summary(records: &[Record]) -> Vec<(String, u64, bool)> {
        records
            .iter()
            .map(|r| {
                (
                    r.sequence_number.to_string(),
                    r.sub_sequence_number,
                    r.aggregated,
                )
            })
            .collect()
    }

    #[test]
    fn plain_and_aggregated_records_in_order() {
        let mut c = Converter::new(None, None);
        let out = c.convert(vec![
            kinesis_record("1", "p", Bytes::from_static(b"plain")),
            kinesis_record("2", "a", aggregate(3)),
        ]);
        assert_eq!(
            summary(&out.records),
            [
                ("1".into(), 0, false),
                ("2".into(), 0, true),
                ("2".into(), 1, true),
                ("2".into(), 2, true)
            ]
        );
        assert_eq!(out.records[0].partition_key, "p");
        assert_eq!(out.records[3].partition_key, "k2");
        assert_eq!(out.records[3].data, "v2");
        assert_eq!(out.last_sequence.unwrap().as_str(), "2");
    }

    #[test]
    fn a_restart_inside_an_aggregate_skips_what_the_checkpoint_covers() {
        let skip = Some((SequenceNumber::parse("2").unwrap(), 1));
        let mut c = Converter::new(None, skip);
        let out = c.convert(vec![kinesis_record("2", "a", aggregate(4))]);
        assert_eq!(
            summary(&out.records),
            [("2".into(), 2, true), ("2".into(), 3, true)]
        );
        // Later responses are not filtered.
        let out = c.convert(vec![kinesis_record("3", "a", aggregate(2))]);
        assert_eq!(out.records.len(), 2);
    }

    #[test]
    fn a_checkpointed_plain_record_is_not_delivered_again() {
        let mut c = Converter::new(None, Some((SequenceNumber::parse("5").unwrap(), 0)));
        let out = c.convert(vec![
            kinesis_record("5", "p", Bytes::from_static(b"done")),
            kinesis_record("6", "p", Bytes::from_static(b"new")),
        ]);
        assert_eq!(summary(&out.records), [("6".into(), 0, false)]);
    }

    #[test]
    fn aggregates_outside_the_hash_range_are_dropped_and_counted() {
        let range = HashRange::from_decimal("0", "0").unwrap();
        let mut c = Converter::new(Some(range), None);
        let out = c.convert(vec![
            kinesis_record("1", "a", aggregate(3)),
            kinesis_record("2", "p", Bytes::from_static(b"plain passes")),
        ]);
        assert_eq!(summary(&out.records), [("2".into(), 0, false)]);
        assert_eq!(c.dropped, 3);
    }
}
