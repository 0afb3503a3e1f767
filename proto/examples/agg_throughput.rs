//! Aggregation throughput on the benchmark workloads, one JSON line per operation.
//!
//! Guarantee demonstrated: the figures are for correct work. Every run's aggregates are
//! checked (each at most 1 MiB, the round trip gives back every user record in order)
//! outside the timed part.
//!
//! ```text
//! python3 ../shared/bench/gen_workloads.py bench-data
//! cargo run --release -p kinesis-agg --example agg_throughput -- bench-data [w1 w2 w3] [--runs 3]
//! ```
//! Operations, single thread:
//! - `aggregate`: what the producer does per record: compute its hash key (partition keys
//!   hashed in batches of 256, as the producer's driver receives them), add it to the open
//!   aggregate, finish (serialize) each full aggregate at 1 MiB, and seal (MD5) the
//!   finished aggregates of one PutRecords request (at most 500 records / 5 MiB) together,
//!   then hand them on (here: fold their digests into a checksum and free them). An
//!   untimed run keeps the aggregates; each timed run must reproduce their checksum.
//! - `aggregate_seal_each`: the same, sealing every aggregate on its own as it fills.
//!
//! `agg_output_md5` is the MD5 of all aggregates' bytes in order, comparable with the
//! Python bench's field of that name (equal when both libraries pack the same way).
//! - `deaggregate`: decode with MD5 verification, the aggregates grouped as GetRecords
//!   returns them (at most 10,000 records / 10 MiB per response).
//! - `deaggregate_single`: the same, one record at a time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator, EncodedRecord};
use kinesis_benches::{Sealing, Sink, aggregate, deaggregate, user_records};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agg_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: agg_throughput DATA_DIR [w1 w2 w3] [--runs N]")?,
    );
    let (mut workloads, mut runs) = (Vec::new(), 3usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().ok_or("--runs needs a number")?.parse()?,
            w => workloads.push(w.to_owned()),
        }
    }
    if workloads.is_empty() {
        workloads = vec!["w1".into(), "w2".into(), "w3".into()];
    }
    for w in workloads {
        let workload = testkit::workload::load(&dir.join(format!("{w}.bin")), &w)?;
        bench(&workload, runs.max(1))?;
    }
    Ok(())
}

fn bench(workload: &testkit::workload::Workload, runs: usize) -> Result<(), Error> {
    let n = workload.records.len();
    let payload = workload.payload_bytes();
    // Untimed: the aggregates, checked, and the checksum the timed runs must reproduce.
    let mut sink = Sink::keeping();
    aggregate(
        user_records(&workload.records),
        &mut sink,
        Sealing::PerRequest,
    )?;
    check(&workload.records, &sink.kept)?;
    let (aggregates, expected) = (sink.kept, sink.checksum);
    let data: Vec<Bytes> = aggregates.iter().map(|a| a.data.clone()).collect();

    let [mut agg, mut agg_each, mut deagg, mut deagg_single] = [(); 4].map(|()| Vec::new());
    for _ in 0..runs {
        for (times, sealing) in [
            (&mut agg, Sealing::PerRequest),
            (&mut agg_each, Sealing::Each),
        ] {
            let input = user_records(&workload.records);
            let mut sink = Sink::streaming();
            let started = Instant::now();
            aggregate(input, &mut sink, sealing)?;
            times.push(started.elapsed().as_secs_f64());
            if sink.checksum != expected {
                return Err("a timed run produced different aggregates".into());
            }
        }
        let started = Instant::now();
        let delivered = deaggregate(&data, true);
        deagg.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let delivered_single = deaggregate(&data, false);
        deagg_single.push(started.elapsed().as_secs_f64());
        if delivered != n || delivered_single != n {
            return Err(
                format!("de-aggregated {delivered}/{delivered_single} of {n} records").into(),
            );
        }
    }
    let max_bytes = aggregates
        .iter()
        .map(EncodedRecord::size)
        .max()
        .unwrap_or(0);
    let output_md5 = {
        use md5::Digest as _;
        let mut h = md5::Md5::new();
        aggregates.iter().for_each(|a| h.update(&a.data));
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let ops = [
        ("aggregate", agg),
        ("aggregate_seal_each", agg_each),
        ("deaggregate", deagg),
        ("deaggregate_single", deagg_single),
    ];
    for (op, times) in ops {
        let median = median(&times);
        println!(
            "{}",
            json!({
                "workload": workload.name, "op": op,
                "records_per_s": (n as f64 / median).round(),
                "mb_per_s": (payload as f64 / median / 1e6 * 100.0).round() / 100.0,
                "aggregates": aggregates.len(), "records": n, "payload_bytes": payload,
                "max_aggregate_bytes": max_bytes, "agg_output_md5": output_md5,
                "median_s": median, "runs_s": times,
            })
        );
    }
    Ok(())
}

/// Every aggregate within 1 MiB; the round trip returns every user record in order.
fn check(input: &[(String, Bytes)], aggregates: &[EncodedRecord]) -> Result<(), Error> {
    let mut expected = input.iter();
    for a in aggregates {
        if a.size() > kinesis_agg::DEFAULT_MAX_SIZE {
            return Err(format!("aggregate of {} bytes", a.size()).into());
        }
        let records = match Deaggregator::new().deaggregate(a.data.clone()) {
            Deaggregated::Aggregated(aggregate) => aggregate.records().collect(),
            Deaggregated::Dropped(_) => return Err("dropped without a hash range".into()),
            Deaggregated::NotAggregated(d) => {
                vec![kinesis_agg::SubRecord {
                    partition_key: a.partition_key.as_str().into(),
                    explicit_hash_key: None,
                    data: d,
                    sub_sequence_number: 0,
                }]
            }
        };
        for r in records {
            match expected.next() {
                Some((k, d)) if *k == *r.partition_key && *d == r.data => {}
                _ => return Err("round trip mismatch".into()),
            }
        }
    }
    if expected.next().is_some() {
        return Err("records missing after the round trip".into());
    }
    Ok(())
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}
