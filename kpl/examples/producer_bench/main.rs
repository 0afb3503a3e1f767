//! Producer throughput and latency through the full pipeline into a Kinesis server running
//! in a separate process (`local-aws`), one JSON line of figures.
//!
//! Guarantee demonstrated: the figures are for records actually written. Every record's
//! result is awaited and any failure makes the run fail; the producer's memory bound holds
//! (peak RSS is printed beside the bound).
//!
//! ```text
//! cargo build --release -p kinesis-testkit --bin local-aws -p kinesis-kpl --example producer_bench
//! target/release/examples/producer_bench [--records N] [--rate R] [--shards S] [--bytes-bound B] [--batch N]
//! taskset -c 0 target/release/examples/producer_bench --server-cpus 1 --batch 500   # one core each
//! target/release/examples/producer_bench --shards 4 --enforce-limits --read-back \
//!     --records 1200000 --batch 500 --rate 68000   # throttled at the shard limit, twice its capacity
//! ```
//! W1 shape: 100-byte records with distinct 16-character keys (each key a new `String`; the
//! data one static buffer, so the figures are the producer's and not the caller's
//! allocator's). `--rate 0` (default) puts as
//! fast as the producer takes them; `--rate 100000` paces the puts. `--batch 500` puts 500
//! records per `put_batch` call (one result future per batch) instead of one `put` per
//! record. The server is started from the `local-aws` binary next to this one unless
//! `--endpoint URL` is given. `--enforce-limits` starts it with the shard limits (1 MiB/s and
//! 1,000 records/s per shard), `--rate-limit P` sets the producer's `RateLimit`, and
//! `--read-back` reads the stream back afterwards: every record there (distinct keys), and
//! per shard the bytes and records per second it took against its limits.

mod process;
mod read_back;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use hdrhistogram::Histogram;
use kpl::{ErrorCode, Producer, ProducerConfig, PutResult, Record};
use process::{KillOnDrop, cpu_seconds, cpu_seconds_of, peak_rss_mib, start_server};

/// jemalloc, as high-volume Rust services commonly run: partition keys are allocated by the
/// caller's task and freed by the stream's driver on another thread, a pattern glibc's
/// malloc pays about 15 % more CPU per record for here.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
struct Args {
    /// User records to put.
    #[arg(long, default_value_t = 2_000_000)]
    records: u64,
    /// Records per second to pace the puts at; 0 for as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Shards of the stream (at the default 150 % rate limit a shard takes about 1.5 MiB/s).
    #[arg(long, default_value_t = 128)]
    shards: i32,
    /// The producer's `max_outstanding_bytes`.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    bytes_bound: usize,
    /// Records per `put_batch` call; 1 (default) puts each record with `put`.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// An already running Kinesis endpoint instead of starting `local-aws`.
    #[arg(long)]
    endpoint: Option<String>,
    /// CPUs to pin the started `local-aws` to (a `taskset` list such as `1`), so that with
    /// the producer pinned elsewhere (`taskset -c 0 producer_bench --server-cpus 1`) the
    /// producer has exactly one core.
    #[arg(long)]
    server_cpus: Option<String>,
    /// Start `local-aws` with `--enforce-limits` (1 MiB/s and 1,000 records/s per shard).
    #[arg(long)]
    enforce_limits: bool,
    /// The producer's `RateLimit` (percent of the shard limits; the KPL's default is 150).
    #[arg(long, default_value_t = 150)]
    rate_limit: u32,
    /// Read the stream back afterwards: every user record there, and the bytes Kinesis
    /// took per second per shard against its 1 MiB/s limit.
    #[arg(long)]
    read_back: bool,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    match runtime
        .map_err(Error::from)
        .and_then(|rt| rt.block_on(run(args)))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("producer_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let (endpoint, _server) = match &args.endpoint {
        Some(e) => (e.clone(), None),
        None => {
            let (e, child) = start_server(args.server_cpus.as_deref(), args.enforce_limits)?;
            (e, Some(KillOnDrop(child)))
        }
    };
    let client = testkit::kinesis_client(&endpoint);
    let stream = format!("bench-{}", std::process::id());
    testkit::streams::create_stream(&client, &stream, args.shards).await?;
    let config = ProducerConfig::default()
        .max_outstanding_bytes(args.bytes_bound)
        .max_outstanding_records(1_000_000)
        .rate_limit(args.rate_limit);
    let buffered = config.record_max_buffered_time;
    let producer = Producer::new(config, client)?;

    let mut stats = Stats::new()?;
    let server_pid = _server.as_ref().map(|s| s.0.id());
    let server_cpu_start = server_pid.map(|p| cpu_seconds_of(&p.to_string()));
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let load = Load {
        stream: stream.clone().into(),
        payload: Bytes::from_static(&[b'x'; 100]),
        started,
        args: &args,
    };
    if args.batch > 1 {
        load.put_batches(&producer, &mut stats).await?;
    } else {
        load.put_each(&producer, &mut stats).await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let server_cpu = server_pid
        .zip(server_cpu_start)
        .map(|(p, start)| cpu_seconds_of(&p.to_string()) - start);
    let rss = peak_rss_mib();
    let back = if args.read_back {
        Some(read_back::read(&testkit::kinesis_client(&endpoint), &load.stream).await?)
    } else {
        None
    };
    let bound = 64.0 + 1.2 * args.bytes_bound as f64 / (1024.0 * 1024.0);
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "records": args.records, "rate_target": args.rate, "shards": args.shards, "batch": args.batch,
            "records_per_s": (args.records as f64 / elapsed).round(),
            "elapsed_s": elapsed, "cpu_s": cpu, "cpu_cores": cpu / elapsed,
            "cpu_s_per_million": cpu / (args.records as f64 / 1e6),
            "server_cpu_s": server_cpu,
            "peak_rss_mib": rss, "rss_bound_mib": bound,
            "kinesis_records": stats.kinesis_records,
            "retried_records": stats.retried, "throttled_attempts": stats.throttled,
            "enforce_limits": args.enforce_limits, "rate_limit": args.rate_limit,
            "read_back": back.as_ref().map(|b| serde_json::json!({
                "user_records": b.user_records, "distinct": b.distinct,
                "lost": args.records.saturating_sub(b.distinct),
                "kinesis_records": b.kinesis_records, "data_bytes": b.data_bytes,
                "shard_byte_share_min_max": [b.byte_share.0, b.byte_share.1],
                "shard_steady_byte_share_min_max": [b.steady_byte_share.0, b.steady_byte_share.1],
                "shard_record_share_min_max": [b.record_share.0, b.record_share.1],
            })),
            "ack_p50_ms": q(&stats.ack, 0.5), "ack_p99_ms": q(&stats.ack, 0.99),
            "buffering_p50_ms": q(&stats.buffering, 0.5), "buffering_p99_ms": q(&stats.buffering, 0.99),
            "buffering_target_ms": buffered.as_secs_f64() * 1000.0 + 5.0,
        })
    );
    Ok(())
}

/// What to put and when.
struct Load<'a> {
    stream: std::sync::Arc<str>,
    payload: Bytes,
    started: Instant,
    args: &'a Args,
}

impl Load<'_> {
    fn record(&self, i: u64) -> Record {
        Record::new(self.stream.clone(), key(i), self.payload.clone())
    }

    /// Paces record `i` at `--rate`: sleeps once a millisecond ahead rather than between
    /// every two records (a timer per record would cost more than the put).
    async fn pace(&self, i: u64) {
        if self.args.rate > 0 {
            let due = self.started + Duration::from_secs_f64(i as f64 / self.args.rate as f64);
            if due > Instant::now() + Duration::from_millis(1) {
                tokio::time::sleep_until(due.into()).await;
            }
        }
    }

    /// One `put` and one result future per record.
    async fn put_each(&self, producer: &Producer, stats: &mut Stats) -> Result<(), Error> {
        let mut waiting = FuturesUnordered::new();
        for i in 0..self.args.records {
            self.pace(i).await;
            let put_at = Instant::now();
            let handle = producer.put(self.record(i)).await?;
            waiting.push(handle.map(move |r| (put_at, r)));
            // Take the results that are in, in any order, without waiting or a second task.
            // `unconstrained`: this loop never yields, so tokio's cooperative budget would
            // otherwise report finished results as pending and let them pile up.
            while let Some(Some((put_at, result))) =
                tokio::task::unconstrained(waiting.next()).now_or_never()
            {
                stats.add(put_at, result?)?;
            }
        }
        while let Some((put_at, result)) = waiting.next().await {
            stats.add(put_at, result?)?;
        }
        Ok(())
    }

    /// `put_batch` of `--batch` records at a time, one result future per batch.
    async fn put_batches(&self, producer: &Producer, stats: &mut Stats) -> Result<(), Error> {
        let mut waiting = FuturesUnordered::new();
        let mut i = 0;
        while i < self.args.records {
            let end = (i + self.args.batch).min(self.args.records);
            self.pace(i).await;
            let put_at = Instant::now();
            let handle = producer.put_batch((i..end).map(|n| self.record(n))).await;
            waiting.push(handle.map(move |r| (put_at, r)));
            i = end;
            while let Some(Some((put_at, results))) =
                tokio::task::unconstrained(waiting.next()).now_or_never()
            {
                stats.add_all(put_at, results)?;
            }
        }
        while let Some((put_at, results)) = waiting.next().await {
            stats.add_all(put_at, results)?;
        }
        Ok(())
    }
}

struct Stats {
    ack: Histogram<u64>,
    buffering: Histogram<u64>,
    /// Kinesis records written: each has exactly one user record at sub-sequence 0.
    kinesis_records: u64,
    /// User records written after more than one attempt.
    retried: u64,
    /// Attempts that failed as throttled (the shard's limit).
    throttled: u64,
}

impl Stats {
    fn new() -> Result<Stats, Error> {
        Ok(Stats {
            ack: Histogram::new(3)?,
            buffering: Histogram::new(3)?,
            kinesis_records: 0,
            retried: 0,
            throttled: 0,
        })
    }

    /// The results of one batch, put at `put_at` (they complete together: one ack latency).
    fn add_all(
        &mut self,
        put_at: Instant,
        results: Vec<Result<PutResult, Box<kpl::PutError>>>,
    ) -> Result<(), Error> {
        self.ack
            .record_n(micros(put_at.elapsed()), results.len() as u64)?;
        for result in results {
            self.add_written(result?)?;
        }
        Ok(())
    }

    /// One result: latencies in microseconds.
    fn add(&mut self, put_at: Instant, result: PutResult) -> Result<(), Error> {
        self.ack.record(micros(put_at.elapsed()))?;
        self.add_written(result)
    }

    /// One result's buffering time and place.
    fn add_written(&mut self, result: PutResult) -> Result<(), Error> {
        if let Some(first) = result.attempts.first() {
            self.buffering.record(micros(first.delay))?;
        }
        if result.sub_sequence_number == 0 {
            self.kinesis_records += 1;
        }
        if result.attempts.total() > 1 {
            self.retried += 1;
            let throttled = result.attempts.iter().filter_map(|a| a.error.as_ref());
            let throttled = throttled.filter(|e| e.code == ErrorCode::Throttled).count();
            self.throttled += throttled as u64 + u64::from(result.attempts.omitted());
        }
        Ok(())
    }
}

/// A distinct, well-spread 16-character key (hex of a bijective mix of `i`).
fn key(i: u64) -> String {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // One allocation of exactly the key's length, written digit by digit.
    (0..16)
        .rev()
        .map(|n| u32::try_from((z >> (n * 4)) & 0xf).unwrap_or(0))
        .map(|d| char::from_digit(d, 16).unwrap_or('0'))
        .collect()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
