//! Fuzzes the decoder: arbitrary bytes, raw and framed with a correct MD5 (so they reach
//! the protobuf parser), must never panic; whatever is accepted must re-encode to
//! records that decode the same way.
#![no_main]

use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator, HashKey, HashRange, MAGIC};
use libfuzzer_sys::fuzz_target;
use md5::Digest as _;

fuzz_target!(|data: &[u8]| {
    let raw = Bytes::copy_from_slice(data);
    let range = HashRange::new(HashKey::new(1 << 64), HashKey::MAX).unwrap_or(HashRange::FULL);
    for d in [Deaggregator::new(), Deaggregator::for_hash_range(range)] {
        check(d.deaggregate(raw.clone()), &raw);
        let mut framed = MAGIC.to_vec();
        framed.extend_from_slice(data);
        framed.extend_from_slice(&md5::Md5::digest(data));
        let framed = Bytes::from(framed);
        check(d.deaggregate(framed.clone()), &framed);
        let batch = d.deaggregate_batch(vec![raw.clone(), framed.clone()]);
        assert_eq!(batch, vec![d.deaggregate(raw.clone()), d.deaggregate(framed)]);
    }
});

fn check(result: Deaggregated, input: &Bytes) {
    match result {
        Deaggregated::NotAggregated(out) => assert_eq!(&out, input),
        Deaggregated::Dropped(aggregate) => assert!(aggregate.len() > 0),
        Deaggregated::Aggregated(aggregate) => {
            let records: Vec<_> = aggregate.records().collect();
            assert_eq!(records.len(), aggregate.len());
            assert_eq!(aggregate.clone().into_records().collect::<Vec<_>>(), records);
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.sub_sequence_number, i as u64);
                assert!(input.len() >= r.data.len());
            }
        }
    }
}
