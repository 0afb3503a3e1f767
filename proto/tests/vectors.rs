//! Every vector made by the official AWS aggregation library (aws-kinesis-agg 1.2.3)
//! decodes exactly as its `.json` says, and our encoder reproduces the aggregated bytes.
//!
//! The vectors are a copy of `shared/vectors/`; `.ci/run` checks the copy is current.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use kinesis_agg::{
    AddError, Aggregator, AggregatorConfig, Deaggregated, Deaggregator, HashKey, HashRange,
    SingleRecord, SubRecord, UserRecord,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

struct Vector {
    name: String,
    data: Bytes,
    spec: Value,
}

fn vectors() -> Vec<Vector> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir().join("index.json")).unwrap()).unwrap();
    let list = index["vectors"].as_array().unwrap();
    assert!(list.len() >= 11, "index.json lists {} vectors", list.len());
    list.iter()
        .map(|v| {
            let file = v["file"].as_str().unwrap();
            let raw = std::fs::read(dir().join(file)).unwrap();
            let data = if file.ends_with(".gz") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(raw.as_slice())
                    .read_to_end(&mut out)
                    .unwrap();
                out
            } else {
                raw
            };
            let spec: Value = serde_json::from_slice(
                &std::fs::read(dir().join(v["json"].as_str().unwrap())).unwrap(),
            )
            .unwrap();
            Vector {
                name: v["name"].as_str().unwrap().to_owned(),
                data: Bytes::from(data),
                spec,
            }
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn expected_data(user: &Value) -> Option<Vec<u8>> {
    if let Some(b64) = user["data_b64"].as_str() {
        return Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        );
    }
    let generator = &user["data_gen"];
    let len = generator["len"].as_u64()?;
    match generator["kind"].as_str()? {
        "mod256" => Some((0..len).map(|i| (i % 256) as u8).collect()),
        "repeat" => Some(vec![
            u8::try_from(generator["byte"].as_u64()?).ok()?;
            len as usize
        ]),
        other => panic!("unknown data generator {other}"),
    }
}

fn check_user_record(name: &str, i: usize, got: &SubRecord, want: &Value) {
    assert_eq!(
        got.partition_key,
        want["partition_key"].as_str().unwrap(),
        "{name}[{i}] pk"
    );
    assert_eq!(
        got.explicit_hash_key.as_deref(),
        want["explicit_hash_key"].as_str(),
        "{name}[{i}] explicit hash key"
    );
    assert_eq!(
        got.data.len() as u64,
        want["data_len"].as_u64().unwrap(),
        "{name}[{i}] len"
    );
    assert_eq!(
        sha256_hex(&got.data),
        want["data_sha256"].as_str().unwrap(),
        "{name}[{i}] sha"
    );
    let data = expected_data(want).unwrap_or_else(|| panic!("{name}[{i}]: no data in vector"));
    assert_eq!(got.data, data, "{name}[{i}] data");
    assert_eq!(
        got.sub_sequence_number, i as u64,
        "{name}[{i}] sub-sequence number"
    );
}

#[test]
fn every_vector_decodes_exactly() {
    let all = vectors();
    for v in &all {
        let agg = &v.spec["aggregated_record"];
        assert_eq!(
            v.data.len() as u64,
            agg["size_bytes"].as_u64().unwrap(),
            "{}",
            v.name
        );
        assert_eq!(
            sha256_hex(&v.data),
            agg["sha256"].as_str().unwrap(),
            "{}",
            v.name
        );
        match Deaggregator::new().deaggregate(v.data.clone()) {
            Deaggregated::NotAggregated(data) => {
                assert_eq!(
                    v.spec["not_aggregated"], true,
                    "{} should be an aggregate",
                    v.name
                );
                assert_eq!(data, v.data, "{}: passthrough must be unchanged", v.name);
            }
            Deaggregated::Dropped(_) => panic!("{}: dropped without a hash range", v.name),
            Deaggregated::Aggregated(aggregate) => {
                let users = v.spec["user_records"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{} decoded as an aggregate but is not one", v.name));
                let records: Vec<_> = aggregate.records().collect();
                assert_eq!(aggregate.into_records().collect::<Vec<_>>(), records);
                assert_eq!(records.len(), users.len(), "{}", v.name);
                for (i, (got, want)) in records.iter().zip(users).enumerate() {
                    check_user_record(&v.name, i, got, want);
                }
            }
        }
    }
}

#[test]
fn batch_decoding_equals_one_at_a_time() {
    let all = vectors();
    let data: Vec<Bytes> = all.iter().map(|v| v.data.clone()).collect();
    let batch = Deaggregator::new().deaggregate_batch(data.clone());
    assert_eq!(batch.len(), all.len());
    for (d, b) in data.into_iter().zip(batch) {
        assert_eq!(Deaggregator::new().deaggregate(d), b);
    }
}

/// Re-encoding a vector's user records reproduces the library's bytes exactly.
#[test]
fn encoder_reproduces_the_official_bytes() {
    let config = AggregatorConfig {
        max_size: kinesis_agg::MAX_MAX_SIZE,
        single_record: SingleRecord::Aggregated,
        ..AggregatorConfig::default()
    };
    let mut checked = 0;
    for v in vectors() {
        let Some(users) = v.spec["user_records"].as_array() else {
            continue;
        };
        let mut agg = Aggregator::new(config).unwrap();
        for u in users {
            let mut r = UserRecord::new(
                u["partition_key"].as_str().unwrap(),
                expected_data(u).unwrap(),
            )
            .unwrap();
            if let Some(ehk) = u["explicit_hash_key"].as_str() {
                r = r.with_explicit_hash_key(ehk.parse().unwrap());
            }
            agg.try_add(r).unwrap();
        }
        let out = agg.finish().unwrap();
        assert_eq!(
            sha256_hex(&out.data),
            sha256_hex(&v.data),
            "{}: bytes differ",
            v.name
        );
        assert_eq!(out.partition_key, "a");
        assert_eq!(out.user_records, users.len());
        checked += 1;
    }
    assert_eq!(checked, 9);
}

#[test]
fn max_size_vector_marks_the_exact_limit() {
    // The 1 MiB blob plus the one-byte outer key is over 1 MiB: our aggregator (which counts
    // the outer key, as Kinesis does) must refuse the last of its records under a 1 MiB limit.
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "max_size_exact_1mib")
        .unwrap();
    let users = v.spec["user_records"].as_array().unwrap();
    let config = AggregatorConfig {
        single_record: SingleRecord::Aggregated,
        ..Default::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    let mut refused = 0;
    for u in users {
        let r = UserRecord::new(
            u["partition_key"].as_str().unwrap(),
            expected_data(u).unwrap(),
        )
        .unwrap();
        if let Err(AddError::Full(_)) = agg.try_add(r) {
            refused += 1;
        }
    }
    assert_eq!(refused, 1, "only the last record crosses the limit");
    let size = agg.size();
    assert!(size <= kinesis_agg::DEFAULT_MAX_SIZE);
    let out = agg.finish().unwrap();
    assert_eq!(out.size(), size);
    assert_eq!(out.user_records, users.len() - 1);
}

#[test]
fn max_single_record_and_one_byte_more() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "max_single_record")
        .unwrap();
    let Deaggregated::Aggregated(aggregate) = Deaggregator::new().deaggregate(v.data.clone())
    else {
        panic!("max_single_record must decode")
    };
    let data = aggregate.records().next().unwrap().data;
    assert_eq!(data.len(), 1_048_541);
    // Under the libraries' rule (blob size <= 1 MiB, no outer key) it fits exactly; ours
    // adds the outer key, so the limit is set to the blob size + 1 to compare like for like.
    let config = AggregatorConfig {
        max_size: 1_048_577,
        single_record: SingleRecord::Aggregated,
        ..Default::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    agg.try_add(UserRecord::new("big", data.clone()).unwrap())
        .unwrap();
    assert_eq!(agg.size(), 1_048_577);
    let mut bigger = data.to_vec();
    bigger.push(0);
    let err = Aggregator::new(config)
        .unwrap()
        .try_add(UserRecord::new("big", bigger).unwrap());
    assert!(matches!(
        err,
        Err(AddError::TooLarge {
            size: 1_048_578,
            limit: 1_048_577,
            ..
        })
    ));
}

#[test]
fn hash_range_filter_drops_whole_aggregate_like_the_kcl() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "explicit_hash_keys")
        .unwrap();
    // Keys inside: 2^127, 2^128-1, 0, 2^127. A range without 0 makes the third one fall out.
    let upper = HashRange::new(HashKey::new(1), HashKey::MAX).unwrap();
    let dropped = Deaggregator::for_hash_range(upper).deaggregate(v.data.clone());
    assert!(matches!(dropped, Deaggregated::Dropped(_)));
    assert_eq!((dropped.delivered(), dropped.dropped()), (0, 4));
    let full = Deaggregator::for_hash_range(HashRange::FULL).deaggregate(v.data.clone());
    assert!(matches!(full, Deaggregated::Aggregated(_)));
    assert_eq!((full.delivered(), full.dropped()), (4, 0));
}

#[test]
fn hash_range_filter_uses_md5_of_partition_keys() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "shared_partition_keys")
        .unwrap();
    let keys = ["alpha", "beta", "gamma"].map(HashKey::from_partition_key);
    let (lo, hi) = (*keys.iter().min().unwrap(), *keys.iter().max().unwrap());
    let exact = HashRange::new(lo, hi).unwrap();
    let kept = Deaggregator::for_hash_range(exact).deaggregate(v.data.clone());
    assert!(
        matches!(kept, Deaggregated::Aggregated(_)),
        "all six keys lie in [min, max]"
    );
    assert_eq!(kept.delivered(), 6);
    let narrower = HashRange::new(HashKey::new(lo.get() + 1), hi).unwrap();
    let dropped = Deaggregator::for_hash_range(narrower).deaggregate(v.data);
    assert!(matches!(dropped, Deaggregated::Dropped(_)));
    assert_eq!(dropped.dropped(), 6);
}
