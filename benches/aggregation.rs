//! Aggregate and de-aggregate throughput (criterion), on W1- and W3-shaped records
//! generated in process: `cargo bench -p kinesis-benches`.
//!
//! Guarantee demonstrated: the benchmarked paths are the producer's and the consumer's
//! (see `lib.rs`), and each setup checks the round trip before measuring.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kinesis_agg::HashKey;
use kinesis_benches::workload::{Shape, generate};
use kinesis_benches::{Sealing, Sink, aggregate, deaggregate, user_records};

fn bench_workload(c: &mut Criterion, shape: Shape, count: usize) {
    let w = generate(shape, count, 1);
    let mut kept = Sink::keeping();
    assert!(aggregate(user_records(&w.records), &mut kept, Sealing::PerRequest).is_ok());
    let data: Vec<_> = kept.kept.iter().map(|r| r.data.clone()).collect();
    assert_eq!(
        deaggregate(&data, true),
        count,
        "round trip before measuring"
    );

    let mut group = c.benchmark_group(format!("{shape:?}"));
    group.throughput(Throughput::Elements(count as u64));
    group.sample_size(10);
    for (name, sealing) in [
        ("aggregate", Sealing::PerRequest),
        ("aggregate_seal_each", Sealing::Each),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || user_records(&w.records),
                |records| {
                    let mut sink = Sink::streaming();
                    let done = aggregate(records, &mut sink, sealing);
                    (done.is_ok(), sink.checksum)
                },
                BatchSize::LargeInput,
            )
        });
    }
    for (name, batched) in [("deaggregate", true), ("deaggregate_single", false)] {
        group.bench_function(name, |b| b.iter(|| deaggregate(&data, batched)));
    }
    group.finish();
}

fn hash_keys(c: &mut Criterion) {
    let keys: Vec<String> = generate(Shape::W1, 4096, 2)
        .records
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut group = c.benchmark_group("hash_keys");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            keys.iter()
                .fold(0, |a, k| a ^ HashKey::from_partition_key(k).get())
        })
    });
    group.bench_function("batches_of_256", |b| {
        b.iter(|| {
            keys.chunks(256)
                .flat_map(|c| HashKey::from_partition_keys(c.iter().map(String::as_str)))
                .fold(0, |a, k| a ^ k.get())
        })
    });
    group.finish();
}

fn workloads(c: &mut Criterion) {
    bench_workload(c, Shape::W1, 200_000);
    bench_workload(c, Shape::W3, 2_000);
}

criterion_group!(benches, workloads, hash_keys);
criterion_main!(benches);
