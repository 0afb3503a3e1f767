//! Property tests: encode -> decode is the identity, the running size is exact, and the
//! decoder never panics and agrees with prost on what it accepts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

use bytes::Bytes;
use kinesis_agg::messages::AggregatedRecord;
use kinesis_agg::{
    AddError, Aggregate, Aggregator, AggregatorConfig, Deaggregated, Deaggregator, EncodedRecord,
    HashKey, HashRange, MAGIC, SingleRecord, UserRecord,
};
use proptest::prelude::*;
use prost::Message;

/// Partition keys of 1 to 256 characters: ASCII, multi-byte UTF-8 and emoji, often repeated.
fn partition_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-c]{1,2}",
        3 => "[a-zA-Z0-9_-]{1,40}",
        2 => "[а-яё日本語🎉é\u{0301}]{1,60}",
        1 => "\\PC{200,256}",
    ]
}

fn user_record() -> impl Strategy<Value = UserRecord> {
    (
        partition_key(),
        prop::option::weighted(
            0.3,
            prop_oneof![Just(0u128), Just(u128::MAX), any::<u128>(), 0u128..4],
        ),
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..200),
            1 => prop::collection::vec(any::<u8>(), 200..3000),
        ],
    )
        .prop_map(|(pk, ehk, data)| {
            let r = UserRecord::new(pk, data).expect("strategy makes valid keys");
            match ehk {
                Some(k) => r.with_explicit_hash_key(HashKey::new(k)),
                None => r,
            }
        })
}

fn config() -> impl Strategy<Value = AggregatorConfig> {
    (
        prop_oneof![
            64usize..600,
            600usize..20_000,
            Just(kinesis_agg::DEFAULT_MAX_SIZE)
        ],
        prop_oneof![1u64..5, Just(kinesis_agg::DEFAULT_MAX_COUNT)],
        prop_oneof![Just(SingleRecord::Raw), Just(SingleRecord::Aggregated)],
    )
        .prop_map(|(max_size, max_count, single_record)| AggregatorConfig {
            max_size,
            max_count,
            single_record,
        })
}

/// Runs the producer loop, checking the exact size at every step; returns what was emitted
/// and the records accepted, in order.
fn aggregate_all(
    config: AggregatorConfig,
    records: Vec<UserRecord>,
) -> Result<(Vec<EncodedRecord>, Vec<UserRecord>), TestCaseError> {
    let mut agg = Aggregator::new(config).unwrap();
    let (mut out, mut accepted) = (Vec::new(), Vec::new());
    let finish =
        |agg: &mut Aggregator, out: &mut Vec<EncodedRecord>| -> Result<(), TestCaseError> {
            let size = agg.size();
            if let Some(r) = agg.finish() {
                prop_assert_eq!(r.size(), size, "finish emits exactly the size announced");
                prop_assert!(
                    r.size() <= config.max_size,
                    "{} > {}",
                    r.size(),
                    config.max_size
                );
                out.push(r);
            }
            prop_assert_eq!(agg.size(), 0);
            Ok(())
        };
    for record in records {
        let predicted = agg.size_with(&record);
        let fits = agg.fits(&record);
        match agg.try_add(record.clone()) {
            Ok(()) => {
                prop_assert!(fits);
                prop_assert_eq!(
                    agg.size(),
                    predicted,
                    "size_with predicted the size after add"
                );
                accepted.push(record);
            }
            Err(AddError::Full(back)) => {
                prop_assert!(!fits);
                prop_assert_eq!(&back, &record);
                finish(&mut agg, &mut out)?;
                match agg.try_add(back) {
                    Ok(()) => accepted.push(record),
                    Err(e) => prop_assert!(false, "a record that fits alone was refused: {e}"),
                }
            }
            Err(AddError::TooLarge {
                record: back,
                size,
                limit,
            }) => {
                prop_assert_eq!(&back, &record);
                prop_assert!(size > limit);
                prop_assert_eq!(limit, config.max_size);
            }
        }
    }
    finish(&mut agg, &mut out)?;
    Ok((out, accepted))
}

/// (partition key, explicit hash key as decimal, data) of everything the output carries.
fn decode_all(out: &[EncodedRecord]) -> Vec<(String, Option<String>, Bytes)> {
    let mut users = Vec::new();
    for r in out {
        match Deaggregator::new().deaggregate(r.data.clone()) {
            Deaggregated::Aggregated(aggregate) if r.aggregated => {
                let records: Vec<_> = aggregate.records().collect();
                assert_eq!(records.len(), r.user_records);
                let first = records.first().expect("aggregates are never empty");
                let first_key = first
                    .explicit_hash_key
                    .as_deref()
                    .map(|k| k.parse::<HashKey>().unwrap())
                    .unwrap_or_else(|| HashKey::from_partition_key(&first.partition_key));
                assert_eq!(
                    r.explicit_hash_key, first_key,
                    "outer key routes like the first record"
                );
                assert_eq!(r.partition_key, "a");
                users.extend(records.into_iter().map(|s| {
                    (
                        s.partition_key.to_string(),
                        s.explicit_hash_key.map(|k| k.to_string()),
                        s.data,
                    )
                }));
            }
            Deaggregated::NotAggregated(data) if !r.aggregated => {
                assert_eq!(r.user_records, 1);
                users.push((r.partition_key.clone(), None, data));
            }
            other => panic!("unexpected {other:?} for {r:?}"),
        }
    }
    users
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity(config in config(), records in prop::collection::vec(user_record(), 0..80)) {
        let (out, accepted) = aggregate_all(config, records)?;
        let decoded = decode_all(&out);
        prop_assert_eq!(decoded.len(), accepted.len());
        for ((pk, ehk, data), want) in decoded.iter().zip(&accepted) {
            prop_assert_eq!(pk.as_str(), want.partition_key());
            prop_assert_eq!(data, want.data());
            // A raw single record carries no table; its routing key travels outside.
            if let Some(ehk) = ehk {
                prop_assert_eq!(Some(ehk.parse::<HashKey>().unwrap()), want.explicit_hash_key());
            }
        }
        prop_assert_eq!(out.iter().map(|r| r.user_records).sum::<usize>(), accepted.len());
    }

    #[test]
    fn prost_reads_our_aggregates(records in prop::collection::vec(user_record(), 2..40)) {
        let mut agg = Aggregator::default();
        for r in &records {
            agg.try_add(r.clone()).unwrap();
        }
        let out = agg.finish().unwrap();
        let body = &out.data[MAGIC.len()..out.data.len() - 16];
        let msg = AggregatedRecord::decode(body).unwrap();
        prop_assert_eq!(msg.records.len(), records.len());
        let mut seen = std::collections::HashSet::new();
        prop_assert!(msg.partition_key_table.iter().all(|k| seen.insert(k)), "keys deduplicated");
        for (m, r) in msg.records.iter().zip(&records) {
            prop_assert_eq!(&msg.partition_key_table[m.partition_key_index as usize], r.partition_key());
            prop_assert_eq!(&m.data, r.data());
            let ehk = m.explicit_hash_key_index.map(|i| msg.explicit_hash_key_table[i as usize].clone());
            prop_assert_eq!(ehk, r.explicit_hash_key().map(|k| k.to_string()));
        }
        // Canonical field order: re-encoding with prost gives the same bytes.
        prop_assert_eq!(msg.encode_to_vec(), body.to_vec());
    }

    #[test]
    fn decoder_never_panics_on_garbage(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let bytes = Bytes::from(data.clone());
        let _ = Deaggregator::for_hash_range(HashRange::FULL).deaggregate(bytes.clone());
        // Framed with a correct MD5, the body reaches the protobuf parser.
        let framed = frame(&data);
        check_against_prost(&framed);
    }

    #[test]
    fn decoder_agrees_with_prost_on_mutated_aggregates(
        records in prop::collection::vec(user_record(), 2..10),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut agg = Aggregator::default();
        for r in records {
            agg.try_add(r).unwrap();
        }
        let out = agg.finish().unwrap();
        let mut body = out.data[MAGIC.len()..out.data.len() - 16].to_vec();
        for (i, b) in flips {
            let at = i.index(body.len());
            body[at] ^= b;
        }
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        check_against_prost(&frame(&body));
    }
}

/// `body` with magic and a correct MD5 trailer.
fn frame(body: &[u8]) -> Bytes {
    use md5::Digest as _;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(body);
    out.extend_from_slice(&md5::Md5::digest(body));
    Bytes::from(out)
}

/// Whatever our decoder accepts, prost parses to the same records; whatever it refuses is
/// passed through unchanged.
fn check_against_prost(framed: &Bytes) {
    let body = &framed[MAGIC.len()..framed.len() - 16];
    match Deaggregator::new().deaggregate(framed.clone()) {
        Deaggregated::NotAggregated(data) => assert_eq!(&data, framed),
        Deaggregated::Dropped(_) => panic!("no hash range was given"),
        Deaggregated::Aggregated(aggregate) => {
            let records: Vec<_> = aggregate.records().collect();
            assert_eq!(
                aggregate.clone().into_records().collect::<Vec<_>>(),
                records
            );
            assert_eq!(
                Aggregate::decode(framed).map(|a| a.len()),
                Some(records.len())
            );
            // prost refuses a known field number with an unexpected wire type, where
            // protobuf-java and upb skip it as unknown (as we do); nothing to compare then.
            let Ok(msg) = AggregatedRecord::decode(body) else {
                return;
            };
            assert_eq!(records.len(), msg.records.len());
            for (s, m) in records.iter().zip(&msg.records) {
                assert_eq!(
                    &*s.partition_key,
                    msg.partition_key_table[m.partition_key_index as usize]
                );
                assert_eq!(s.data, m.data);
            }
        }
    }
}

#[test]
fn not_aggregated_edge_cases_pass_through() {
    let d = Deaggregator::new();
    for raw in [
        &b""[..],
        &MAGIC[..],
        &[
            0xF3, 0x89, 0x9A, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ][..],
    ] {
        let data = Bytes::copy_from_slice(raw);
        assert_eq!(
            d.deaggregate(data.clone()),
            Deaggregated::NotAggregated(data)
        );
    }
    // A valid frame around an empty message is exactly magic + MD5: not longer than the
    // frame, so (as in the KCL) not an aggregate.
    let empty = frame(b"");
    assert_eq!(
        d.deaggregate(empty.clone()),
        Deaggregated::NotAggregated(empty)
    );
    // A record whose partition key index points past the table.
    let bad_index = frame(&[0x0A, 0x01, b'k', 0x1A, 0x04, 0x08, 0x01, 0x1A, 0x00]);
    assert_eq!(
        d.deaggregate(bad_index.clone()),
        Deaggregated::NotAggregated(bad_index)
    );
    // A record without its required data field.
    let no_data = frame(&[0x0A, 0x01, b'k', 0x1A, 0x02, 0x08, 0x00]);
    assert_eq!(
        d.deaggregate(no_data.clone()),
        Deaggregated::NotAggregated(no_data)
    );
    // A partition key that is not UTF-8.
    let bad_utf8 = frame(&[0x0A, 0x01, 0xFF, 0x1A, 0x04, 0x08, 0x00, 0x1A, 0x00]);
    assert_eq!(
        d.deaggregate(bad_utf8.clone()),
        Deaggregated::NotAggregated(bad_utf8)
    );
    // Unknown fields are skipped, as protobuf parsers do.
    let unknown = frame(&[
        0x28, 0x05, 0x0A, 0x01, b'k', 0x1A, 0x06, 0x08, 0x00, 0x1A, 0x00, 0x30, 0x01,
    ]);
    match d.deaggregate(unknown) {
        Deaggregated::Aggregated(a) => assert_eq!(a.len(), 1),
        other => panic!("{other:?}"),
    }
    // So is a known field number with another wire type (field 1 as a varint), as
    // protobuf-java does; the record still has its table entry and data.
    let mismatched = frame(&[
        0x08, 0x07, 0x0A, 0x01, b'k', 0x1A, 0x04, 0x08, 0x00, 0x1A, 0x00,
    ]);
    match d.deaggregate(mismatched) {
        Deaggregated::Aggregated(a) => assert_eq!(&*a.records().next().unwrap().partition_key, "k"),
        other => panic!("{other:?}"),
    }
    // A tag without its required key makes the protobuf invalid.
    let keyless_tag = frame(&[
        0x0A, 0x01, b'k', 0x1A, 0x08, 0x08, 0x00, 0x1A, 0x00, 0x22, 0x02, 0x12, 0x00,
    ]);
    assert_eq!(
        d.deaggregate(keyless_tag.clone()),
        Deaggregated::NotAggregated(keyless_tag)
    );
    let tagged = frame(&[
        0x0A, 0x01, b'k', 0x1A, 0x09, 0x08, 0x00, 0x1A, 0x00, 0x22, 0x03, 0x0A, 0x01, b't',
    ]);
    assert!(matches!(d.deaggregate(tagged), Deaggregated::Aggregated(_)));
}
