//! GetRecords records to user records: KPL aggregates de-aggregated with the shard's
//! hash range rule (an aggregate holding a key outside the shard's range is dropped
//! whole, as the KCL drops it), plain records passed through.

use std::time::SystemTime;

use bytes::Bytes;
use bytestring::ByteString;
use kinesis_agg::{Deaggregated, Deaggregator};

/// The user records of one response, and how many were dropped by the range rule.
pub(crate) fn convert(
    deaggregator: &Deaggregator,
    raw: Vec<aws_sdk_kinesis::types::Record>,
) -> (Vec<kcl::Record>, usize) {
    let mut metas = Vec::with_capacity(raw.len());
    let mut datas = Vec::with_capacity(raw.len());
    for r in raw {
        let Ok(seq) = kcl::SequenceNumber::parse(&r.sequence_number) else {
            tracing::warn!(sequence_number = %r.sequence_number, "record with an invalid sequence number skipped");
            continue;
        };
        let arrival = r
            .approximate_arrival_timestamp
            .and_then(|t| SystemTime::try_from(t).ok());
        metas.push((
            seq,
            arrival,
            ByteString::from(r.partition_key.unwrap_or_default()),
        ));
        datas.push(Bytes::from(r.data.into_inner()));
    }
    let mut records = Vec::with_capacity(datas.len());
    let mut dropped = 0;
    for ((seq, arrival, partition_key), d) in
        metas.into_iter().zip(deaggregator.deaggregate_batch(datas))
    {
        match d {
            Deaggregated::NotAggregated(data) => records.push(kcl::Record {
                sequence_number: seq,
                sub_sequence_number: 0,
                partition_key,
                explicit_hash_key: None,
                data,
                approximate_arrival_timestamp: arrival,
                aggregated: false,
            }),
            Deaggregated::Aggregated(aggregate) => {
                records.extend(aggregate.into_records().map(|sub| kcl::Record {
                    sequence_number: seq.clone(),
                    sub_sequence_number: sub.sub_sequence_number,
                    partition_key: sub.partition_key,
                    explicit_hash_key: sub.explicit_hash_key,
                    data: sub.data,
                    approximate_arrival_timestamp: arrival,
                    aggregated: true,
                }));
            }
            Deaggregated::Dropped(aggregate) => dropped += aggregate.len(),
        }
    }
    (records, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::primitives::Blob;
    use kinesis_agg::{Aggregator, HashKey, HashRange, UserRecord};

    fn raw(seq: &str, key: &str, data: Bytes) -> aws_sdk_kinesis::types::Record {
        aws_sdk_kinesis::types::Record::builder()
            .sequence_number(seq)
            .partition_key(key)
            .data(Blob::new(data.to_vec()))
            .build()
            .unwrap()
    }

    fn aggregate(keys: &[(&str, Option<&str>)]) -> Bytes {
        let mut agg = Aggregator::default();
        for (i, (key, ehk)) in keys.iter().enumerate() {
            let mut r = UserRecord::new(*key, format!("d{i}")).unwrap();
            if let Some(ehk) = ehk {
                r = r.with_explicit_hash_key(HashKey::from_decimal(ehk).unwrap());
            }
            agg.try_add(r).unwrap();
        }
        agg.finish().unwrap().data
    }

    #[test]
    fn aggregates_are_opened_and_plain_records_pass_through() {
        let records = vec![
            raw("1", "plain-key", Bytes::from_static(b"plain")),
            raw("2", "a", aggregate(&[("k0", None), ("k1", Some("7"))])),
        ];
        let (out, dropped) = convert(&Deaggregator::new(), records);
        assert_eq!(dropped, 0);
        let view: Vec<_> = out
            .iter()
            .map(|r| {
                (
                    r.sequence_number.as_str(),
                    r.sub_sequence_number,
                    &*r.partition_key,
                    r.explicit_hash_key.as_deref(),
                    &r.data[..],
                    r.aggregated,
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                ("1", 0, "plain-key", None, &b"plain"[..], false),
                ("2", 0, "k0", None, &b"d0"[..], true),
                ("2", 1, "k1", Some("7"), &b"d1"[..], true),
            ]
        );
    }

    #[test]
    fn an_aggregate_with_a_key_outside_the_shard_is_dropped_whole() {
        let low = HashRange::new(HashKey::new(0), HashKey::new(100)).unwrap();
        let records = vec![
            raw("1", "a", aggregate(&[("x", Some("5")), ("y", Some("6"))])),
            raw("2", "a", aggregate(&[("x", Some("5")), ("y", Some("500"))])),
        ];
        let (out, dropped) = convert(&Deaggregator::for_hash_range(low), records);
        assert_eq!(dropped, 2);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|r| r.sequence_number.as_str() == "1"));
    }
}
