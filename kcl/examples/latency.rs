//! Put-to-process latency, polling against enhanced fan-out, in one run: records are put at
//! a steady rate (default 1,000 records/s on 4 shards, 10 PutRecords calls a second of 100
//! records each, random partition keys) while two applications read the stream: one worker
//! polling at the default `idle_time_between_reads`, one worker with enhanced fan-out.
//!
//! Guarantee demonstrated: both retrieval modes deliver every record put (the run fails
//! otherwise); the latency of each record is from the start of the PutRecords call that
//! wrote it to the start of the `process_records` call that delivered it.
//!
//! ```text
//! cargo run --release -p kinesis-kcl --example latency -- [--rate 1000] [--shards 4] [--secs 30]
//! ```
//! With `TESTKIT_KINESIS_ENDPOINT` / `TESTKIT_DYNAMODB_ENDPOINT` set it runs against those
//! servers instead of the embedded ones.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use clap::Parser;
use kcl::{
    Checkpointer, Config, InitialPosition, ProcessRecordsInput, RetrievalMode, ShardProcessor,
    StreamId, Worker, WorkerHandle,
};
use testkit::{LocalAws, streams};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
struct Args {
    /// Records put per second, in 10 PutRecords calls a second.
    #[arg(long, default_value_t = 1_000)]
    rate: usize,
    /// Shards of the stream.
    #[arg(long, default_value_t = 4)]
    shards: i32,
    /// Seconds measured (after both workers delivered their first record).
    #[arg(long, default_value_t = 30)]
    secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latency: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Each record's data is the nanoseconds from `base` to the start of its put.
#[derive(Clone)]
struct Clock {
    base: Instant,
    /// Records put at or after this offset are measured.
    from_nanos: Arc<Mutex<Option<u64>>>,
    /// Records put in the measured window (counted once their put succeeded).
    measured_puts: Arc<AtomicU64>,
}

impl Clock {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn from(&self) -> Option<u64> {
        *self
            .from_nanos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One application's deliveries: the latency of every measured record, and how many
/// records it delivered at all.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    delivered: u64,
}

struct Measure {
    clock: Clock,
    seen: Arc<Mutex<Seen>>,
}

impl Measure {
    fn record(&self, records: &[kcl::Record]) {
        let now = self.clock.now_nanos();
        let from = self.clock.from();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for r in records {
            seen.delivered += 1;
            let Ok(bytes) = <[u8; 8]>::try_from(r.data.as_ref()) else {
                continue;
            };
            let put = u64::from_le_bytes(bytes);
            if from.is_some_and(|f| put >= f) {
                seen.latencies
                    .push(Duration::from_nanos(now.saturating_sub(put)));
            }
        }
    }
}

impl ShardProcessor for Measure {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        self.record(&input.records);
        let _ = input.checkpointer.checkpoint().await;
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let aws = LocalAws::start().await?;
    let kinesis = aws.kinesis_client();
    let stream = format!("latency-{}", std::process::id());
    streams::create_stream(&kinesis, &stream, args.shards).await?;
    let clock = Clock {
        base: Instant::now(),
        from_nanos: Arc::new(Mutex::new(None)),
        measured_puts: Arc::new(AtomicU64::new(0)),
    };
    let mut readers = Vec::new();
    for (name, mode) in [
        ("polling", RetrievalMode::Polling),
        ("fan-out", RetrievalMode::fan_out()),
    ] {
        let mut config = Config::new(format!("{stream}-{name}"), StreamId::Name(stream.clone()));
        config.initial_position = InitialPosition::TrimHorizon;
        config.retrieval_mode = mode;
        config.fan_out.deregister_on_shutdown = true;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let factory = {
            let (clock, seen) = (clock.clone(), seen.clone());
            move |_: &str| Measure {
                clock: clock.clone(),
                seen: seen.clone(),
            }
        };
        let worker = Worker::new(config, kinesis.clone(), aws.dynamodb_client(), factory)?;
        let handle = worker.handle();
        let task = tokio::spawn(worker.run());
        readers.push((name, handle, task, seen));
    }

    let producer = tokio::spawn(produce(
        kinesis.clone(),
        stream.clone(),
        args.rate,
        clock.clone(),
    ));
    // Measure once both have delivered something (leases taken, fan-out registered).
    let warm = Instant::now();
    while readers
        .iter()
        .any(|r| r.3.lock().unwrap_or_else(PoisonError::into_inner).delivered == 0)
    {
        if warm.elapsed() > Duration::from_secs(120) {
            return Err("no deliveries within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A few seconds more: every shard's consumer is up and caught up.
    tokio::time::sleep(Duration::from_secs(5)).await;
    *clock
        .from_nanos
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(clock.now_nanos());
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    producer.abort();
    if let Ok(Err(e)) = producer.await {
        return Err(e);
    }
    // Everything put in the window has had time to arrive at polling's pace.
    tokio::time::sleep(Duration::from_secs(5)).await;
    report(&args, clock.measured_puts.load(Ordering::Relaxed), readers).await
}

type Reader = (
    &'static str,
    WorkerHandle,
    tokio::task::JoinHandle<Result<(), kcl::WorkerError>>,
    Arc<Mutex<Seen>>,
);

/// Prints each reader's percentiles; fails unless each delivered every measured put.
async fn report(args: &Args, puts: u64, readers: Vec<Reader>) -> Result<(), Error> {
    println!(
        "{} records/s on {} shards for {} s ({puts} records put), put-to-process latency:",
        args.rate, args.shards, args.secs
    );
    let mut short = Vec::new();
    for (name, handle, task, seen) in readers {
        handle.graceful_shutdown().await;
        task.await??;
        let mut seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
        seen.latencies.sort();
        // The q-quantile as the record at rank ceil(q * n) (1-based), in milliseconds.
        let pick = |permille: usize| {
            let n = seen.latencies.len();
            let rank = (n * permille).div_ceil(1000).max(1);
            seen.latencies
                .get(rank - 1)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "  {name:8} {:>7} records  p50 {:7.1} ms  p90 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms",
            seen.latencies.len(),
            pick(500),
            pick(900),
            pick(990),
            pick(1000)
        );
        if (seen.latencies.len() as u64) < puts || puts == 0 {
            short.push((name, seen.latencies.len()));
        }
    }
    if short.is_empty() {
        Ok(())
    } else {
        Err(format!("of {puts} records put, delivered only {short:?}").into())
    }
}

/// Puts `rate` records a second in 10 calls, each record's data its put time, until aborted.
async fn produce(
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    rate: usize,
    clock: Clock,
) -> Result<(), Error> {
    let per_call = (rate / 10).clamp(1, 500);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        let put = clock.now_nanos();
        let mut entries = Vec::with_capacity(per_call);
        for _ in 0..per_call {
            n += 1;
            entries.push(
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
                    .data(Blob::new(put.to_le_bytes().to_vec()))
                    .build()?,
            );
        }
        let out = kinesis
            .put_records()
            .stream_name(&stream)
            .set_records(Some(entries))
            .send()
            .await?;
        if out.failed_record_count().unwrap_or(0) > 0 {
            return Err("a put failed (the measurement would miss records)".into());
        }
        if clock.from().is_some_and(|f| put >= f) {
            clock
                .measured_puts
                .fetch_add(per_call as u64, Ordering::Relaxed);
        }
    }
}
