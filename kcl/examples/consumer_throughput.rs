//! Consumer throughput benchmark: a stream pre-filled with KPL-aggregated W1-shape
//! records (100-byte payloads, distinct 16-character keys, 51,200-byte aggregates made
//! with kinesis-agg's Aggregator, one per predicted shard) is consumed by one worker
//! with a trivial processor (counts, checkpoints after each batch).
//!
//! Guarantee demonstrated: every user record is delivered (the run fails otherwise),
//! de-aggregated with each shard's hash range filter, checkpointed after processing.
//!
//! Prints de-aggregated records/s and the consumer's CPU seconds per million records:
//! CPU of this process's own threads (named `kcl-bench`), not of the embedded Kinesis
//! and DynamoDB servers, which run on threads of their own and are reported apart.
//!
//! Both retrievals get batches of the same size: ferrokinesis pushes at most
//! `--event-records` Kinesis records per SubscribeToShardEvent (by default the
//! `--max-records` of a GetRecords call, 200 aggregates, 10 MiB). With its own default
//! of 10,000, one event carries a whole shard of a 1 M record run (62 MB of record
//! data, 83 MB as JSON). No real stream sends events that large (fan-out delivers
//! 2 MiB/s per shard), and batches that large cost either path more per record, most
//! likely because glibc hands blocks above its largest mmap threshold (32 MiB) back to
//! the kernel and faults them in again for the next batch. `--max-records 10000` gives
//! polling batches of that size too.
//!
//! ```text
//! cargo run --release -p kinesis-kcl --example consumer_throughput -- [--records 1000000] [--shards 2]
//!     [--fan-out] [--max-records 200] [--event-records N]
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use clap::Parser;
use kcl::agg::{
    AddError, Aggregator, AggregatorConfig, EncodedRecord, HashKey, HashRange, UserRecord,
};
use kcl::{
    Checkpointer, Config, InitialPosition, ProcessRecordsInput, ShardProcessor, StreamId, Worker,
};
use testkit::workload::{Shape, generate};
use testkit::{LocalAws, LocalAwsOptions, streams};
use tokio::sync::watch;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
struct Args {
    /// User records to pre-fill and consume.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Shards of the stream.
    #[arg(long, default_value_t = 2)]
    shards: i32,
    /// Kinesis records per GetRecords call: 200 aggregates of 51,200 bytes are the
    /// 10 MiB a real GetRecords returns at most (the local server has no byte cap).
    #[arg(long, default_value_t = 200)]
    max_records: u32,
    /// Kinesis records per SubscribeToShardEvent at most (the server's setting); the
    /// same as `--max-records` when not given.
    #[arg(long)]
    event_records: Option<u32>,
    /// Enhanced fan-out (SubscribeToShard) instead of polling.
    #[arg(long)]
    fan_out: bool,
    /// How long to wait for every record before giving up.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Logs go to stderr, filtered by RUST_LOG (nothing by default).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kcl-bench")
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consumer_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Count {
    n: Arc<AtomicU64>,
    done: watch::Sender<u64>,
}

impl ShardProcessor for Count {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let bytes: usize = input.records.iter().map(|r| r.data.len()).sum();
        std::hint::black_box(bytes);
        let total = self
            .n
            .fetch_add(input.records.len() as u64, Ordering::Relaxed)
            + input.records.len() as u64;
        let _ = input.checkpointer.checkpoint().await;
        // Two shards' processors race here: the larger total wins, or a smaller one
        // sent last would hide that every record has arrived.
        self.done.send_modify(|seen| *seen = (*seen).max(total));
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let mut options = LocalAwsOptions::default();
    let event_records = args.event_records.unwrap_or(args.max_records);
    options.kinesis.subscribe_to_shard_event_record_limit = event_records as usize;
    let aws = LocalAws::start_with(options).await?;
    let kinesis = aws.kinesis_client();
    streams::create_stream(&kinesis, "bench", args.shards).await?;
    let fill = Instant::now();
    let aggregates = prefill(&kinesis, args.records).await?;
    println!(
        "pre-filled {} W1 records in {aggregates} aggregates on {} shards in {:.1} s",
        args.records,
        args.shards,
        fill.elapsed().as_secs_f64()
    );

    let n = Arc::new(AtomicU64::new(0));
    let done = watch::channel(0u64).0;
    let mut done_rx = done.subscribe();
    let factory = {
        let (n, done) = (n.clone(), done.clone());
        move |_: &str| Count {
            n: n.clone(),
            done: done.clone(),
        }
    };
    let mut config = Config::new("bench-app", StreamId::Name("bench".into()));
    config.initial_position = InitialPosition::TrimHorizon;
    config.max_records = args.max_records;
    config.idle_time_between_reads = Duration::from_millis(100);
    if args.fan_out {
        config.retrieval_mode = kcl::RetrievalMode::fan_out();
    }
    let worker = Worker::new(config, kinesis.clone(), aws.dynamodb_client(), factory)?;
    let handle = worker.handle();

    let cpu_before = thread_cpu();
    let started = Instant::now();
    let task = tokio::spawn(worker.run());
    let want = args.records as u64;
    let wait = Duration::from_secs(args.timeout_secs);
    match tokio::time::timeout(wait, done_rx.wait_for(|n| *n >= want)).await {
        Ok(reached) => drop(reached?),
        Err(_) => {
            let got = n.load(Ordering::Relaxed);
            return Err(
                format!("{got} of {want} records delivered before the {wait:?} timeout").into(),
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = thread_cpu();
    handle.graceful_shutdown().await;
    task.await??;

    let consumer_cpu = cpu_after.consumer - cpu_before.consumer;
    let server_cpu = cpu_after.other - cpu_before.other;
    let got = n.load(Ordering::Relaxed);
    println!(
        "delivered {got} user records in {elapsed:.2} s: {:.0} records/s",
        got as f64 / elapsed
    );
    println!(
        "consumer CPU {consumer_cpu:.2} s = {:.3} CPU s per million records = {:.2} M records/s per core of consumer CPU",
        consumer_cpu / (got as f64 / 1e6),
        got as f64 / 1e6 / consumer_cpu.max(0.01)
    );
    println!("(embedded Kinesis + DynamoDB servers: {server_cpu:.2} CPU s, not counted)");
    if got < want {
        return Err(format!("only {got} of {want} records delivered").into());
    }
    Ok(())
}

/// Aggregates the workload per predicted shard and writes it; returns the aggregate count.
async fn prefill(kinesis: &aws_sdk_kinesis::Client, count: usize) -> Result<usize, Error> {
    let mut shards: Vec<HashRange> = Vec::new();
    for s in streams::list_shards(kinesis, "bench").await? {
        if let Some(r) = s.hash_key_range() {
            shards.push(HashRange::from_decimal(
                r.starting_hash_key(),
                r.ending_hash_key(),
            )?);
        }
    }
    shards.sort_by_key(HashRange::end);
    let config = AggregatorConfig {
        max_size: 51_200,
        ..AggregatorConfig::default()
    };
    let mut open: HashMap<usize, Aggregator> = HashMap::new();
    let mut out: Vec<EncodedRecord> = Vec::new();
    let workload = generate(Shape::W1, count, 1);
    for (pk, data) in workload.records {
        let hash = HashKey::from_partition_key(&pk);
        let shard = shards.partition_point(|r| r.end() < hash);
        let agg = match open.entry(shard) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(Aggregator::new(config)?),
        };
        if let Err(AddError::Full(record)) = agg.try_add(UserRecord::new(pk, data)?) {
            out.extend(agg.finish());
            agg.try_add(record)?;
        }
    }
    for (_, mut agg) in open {
        out.extend(agg.finish());
    }
    let aggregates = out.len();
    // At most 5 MiB per PutRecords.
    for chunk in out.chunks(90) {
        let entries = chunk
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .explicit_hash_key(r.explicit_hash_key_decimal())
                    .data(Blob::new(r.data.to_vec()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let put = kinesis
            .put_records()
            .stream_name("bench")
            .set_records(Some(entries))
            .send()
            .await?;
        if put.failed_record_count().unwrap_or(0) > 0 {
            return Err("PutRecords failed entries while pre-filling".into());
        }
    }
    Ok(aggregates)
}

/// CPU seconds of this process's threads: ours (`kcl-bench*` and the main thread) and
/// the others (the embedded servers). Linux only; zero elsewhere.
struct Cpu {
    consumer: f64,
    other: f64,
}

fn thread_cpu() -> Cpu {
    let mut cpu = Cpu {
        consumer: 0.0,
        other: 0.0,
    };
    let main = std::process::id().to_string();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return cpu;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15 of stat: 12th and 13th after the ')'.
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        let seconds = ticks as f64 / 100.0; // USER_HZ is 100 on Linux
        let is_main = task.file_name().to_string_lossy() == main;
        if comm.trim().starts_with("kcl-bench") || is_main {
            cpu.consumer += seconds;
        } else {
            cpu.other += seconds;
        }
    }
    cpu
}
