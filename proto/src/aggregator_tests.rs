use super::*;
use crate::{AggregatorConfig, SingleRecord, UserRecord};

fn rec(pk: &str, data: &str) -> UserRecord {
    UserRecord::new(pk, data.to_owned()).unwrap()
}

#[test]
fn empty_aggregator_emits_nothing() {
    let mut agg = Aggregator::default();
    assert_eq!(agg.size(), 0);
    assert!(agg.finish().is_none());
}

#[test]
fn single_record_goes_out_raw_with_its_hash_key() {
    let mut agg = Aggregator::default();
    agg.try_add(rec("key", "hello")).unwrap();
    assert_eq!(agg.size(), 8);
    let out = agg.finish().unwrap();
    assert!(!out.aggregated);
    assert_eq!(out.partition_key, "key");
    assert_eq!(out.data, "hello");
    assert_eq!(out.explicit_hash_key, HashKey::from_partition_key("key"));
}

#[test]
fn single_record_keeps_its_explicit_hash_key() {
    let mut agg = Aggregator::default();
    agg.try_add(rec("key", "x").with_explicit_hash_key(HashKey::new(42)))
        .unwrap();
    assert_eq!(agg.finish().unwrap().explicit_hash_key, HashKey::new(42));
}

#[test]
fn two_records_make_an_aggregate_routed_by_the_first() {
    let mut agg = Aggregator::default();
    agg.try_add(rec("first", "1")).unwrap();
    agg.try_add(rec("second", "2")).unwrap();
    let size = agg.size();
    let out = agg.finish().unwrap();
    assert!(out.aggregated);
    assert_eq!(out.partition_key, "a");
    assert_eq!(out.explicit_hash_key, HashKey::from_partition_key("first"));
    assert_eq!(out.size(), size);
    // magic + (2 table entries: 7 + 8) + (2 records: 2 + 5 each) + md5
    assert_eq!(out.data.len(), 4 + 7 + 8 + 7 + 7 + 16);
    assert!(out.data.starts_with(&MAGIC));
}

#[test]
fn finish_resets_for_the_next_aggregate() {
    let mut agg = Aggregator::default();
    agg.try_add(rec("a1", "1")).unwrap();
    agg.try_add(rec("a2", "2")).unwrap();
    agg.finish().unwrap();
    assert!(agg.is_empty());
    agg.try_add(rec("b", "3")).unwrap();
    let out = agg.finish().unwrap();
    assert_eq!((out.partition_key.as_str(), out.user_records), ("b", 1));
}

#[test]
fn max_count_closes_the_aggregate() {
    let config = AggregatorConfig {
        max_count: 2,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    agg.try_add(rec("k", "1")).unwrap();
    agg.try_add(rec("k", "2")).unwrap();
    let third = rec("k", "3");
    assert!(!agg.fits(&third));
    let err = agg.try_add(third.clone()).unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.into_record(), third);
}

#[test]
fn a_record_that_can_never_fit_is_refused_with_its_size() {
    let config = AggregatorConfig {
        max_size: 10,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    // raw: 6 + 5 = 11 bytes > 10
    let err = agg.try_add(rec("keyabc", "12345")).unwrap_err();
    assert!(!err.is_retryable());
    assert!(matches!(
        err,
        AddError::TooLarge {
            size: 11,
            limit: 10,
            ..
        }
    ));
    // 10 bytes exactly is fine
    agg.try_add(rec("keyab", "12345")).unwrap();
    assert_eq!(agg.size(), 10);
}

#[test]
fn raw_fits_where_aggregated_would_not() {
    // A record of exactly max_size raw is accepted alone; a second one makes it Full.
    let config = AggregatorConfig {
        max_size: 100,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    agg.try_add(rec("k", &"x".repeat(99))).unwrap();
    assert!(matches!(agg.try_add(rec("j", "y")), Err(AddError::Full(_))));
    assert_eq!(agg.finish().unwrap().size(), 100);
}

#[test]
fn aggregated_single_mode_counts_the_frame() {
    let config = AggregatorConfig {
        max_size: 30,
        single_record: SingleRecord::Aggregated,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    // frame 20 + "a" 1 + pk entry 3 + record entry (2 + 4 + 1) = 31 > 30
    assert!(matches!(
        agg.try_add(rec("k", "d")),
        Err(AddError::TooLarge { size: 31, .. })
    ));
    agg.try_add(rec("k", "")).unwrap();
    assert_eq!(agg.size(), 30);
    let out = agg.finish().unwrap();
    assert!(out.aggregated);
    assert_eq!(out.size(), 30);
}

#[test]
fn invalid_config_is_refused() {
    let zero = AggregatorConfig {
        max_count: 0,
        ..AggregatorConfig::default()
    };
    assert_eq!(
        Aggregator::new(zero).unwrap_err(),
        crate::ConfigError::MaxCount
    );
    let huge = AggregatorConfig {
        max_size: crate::MAX_MAX_SIZE + 1,
        ..AggregatorConfig::default()
    };
    assert!(Aggregator::new(huge).is_err());
}

#[test]
fn repeated_keys_are_counted_once() {
    let mut agg = Aggregator::default();
    agg.try_add(rec("same", "1")).unwrap();
    let before = agg.size();
    let next = rec("same", "2");
    // Only the record entry (key 1a, len, 08 00 1a 01 '2') is added: 7 bytes.
    assert_eq!(agg.size_with(&next), aggregated_size(agg.proto_len()) + 7);
    agg.try_add(next).unwrap();
    assert!(agg.size() > before);
}
