//! A kcat-style producer: each line of stdin (without its newline) becomes one user record.
//!
//! Guarantee demonstrated: nothing is lost silently. Every record is acknowledged with its
//! shard and sequence number or reported as failed (with the record); the summary counts
//! both and the exit status is non-zero if any record failed. End of input flushes.
//!
//! ```text
//! producer --stream NAME [--partition-key K] [--shards N] [--generate N --size B]
//! ```
//! It uses the standard AWS configuration from the environment (region, credentials,
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_KINESIS`), so it works against real AWS or any
//! local server, e.g. `cargo run -p kinesis-testkit --bin local-aws` and
//! `AWS_ENDPOINT_URL=http://127.0.0.1:4567 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x`.
//! Producer settings come from `KPL_*` variables (`KPL_RECORD_MAX_BUFFERED_TIME=50`, ...).

use std::collections::HashSet;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use kpl::{Producer, ProducerConfig, PutHandle, Record};
use tokio::sync::mpsc;

#[derive(Parser, Debug)]
#[command(about = "Put lines of stdin (or generated records) into a Kinesis stream")]
struct Args {
    /// The stream to write.
    #[arg(long)]
    stream: String,
    /// Partition key of every record (default: a random key per record).
    #[arg(long)]
    partition_key: Option<String>,
    /// Create the stream with this many shards if it does not exist.
    #[arg(long)]
    shards: Option<i32>,
    /// Generate this many records instead of reading stdin.
    #[arg(long)]
    generate: Option<u64>,
    /// Size in bytes of generated records.
    #[arg(long, default_value_t = 100)]
    size: usize,
}

#[derive(Default)]
struct Counts {
    put: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("producer: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool, Error> {
    let sdk = aws_config::load_from_env().await;
    let client = aws_sdk_kinesis::Client::new(&sdk);
    if let Some(shards) = args.shards {
        ensure_stream(&client, &args.stream, shards).await?;
    }
    let producer = Producer::new(ProducerConfig::from_env()?, client)?;
    let counts = Arc::new(Counts::default());
    let (acks_tx, acks_rx) = mpsc::channel::<PutHandle>(65_536);
    let acks = tokio::spawn(collect_acks(acks_rx, counts.clone()));
    let progress = tokio::spawn(progress(counts.clone()));
    let started = Instant::now();

    let stream: Arc<str> = Arc::from(args.stream.as_str());
    for data in records(&args) {
        let n = counts.put.fetch_add(1, Ordering::Relaxed);
        let key = args.partition_key.clone().unwrap_or_else(|| random_key(n));
        match producer.put(Record::new(stream.clone(), key, data?)).await {
            Ok(handle) => acks_tx.send(handle).await?,
            Err(e) => {
                eprintln!("producer: record {n} refused: {e}");
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    drop(acks_tx);
    producer.flush().await;
    let kinesis_records = acks.await?;
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let (records, failed) = (
        counts.put.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    println!(
        "{{\"records\":{records},\"failed\":{failed},\"kinesis_records\":{kinesis_records},\"elapsed_s\":{elapsed:.3},\"records_per_s\":{:.0}}}",
        records as f64 / elapsed.max(1e-9)
    );
    Ok(failed == 0)
}

/// The records' data: stdin lines, or generated payloads.
fn records(args: &Args) -> Box<dyn Iterator<Item = std::io::Result<Vec<u8>>>> {
    match args.generate {
        Some(n) => {
            let size = args.size;
            Box::new((0..n).map(move |i| {
                let mut data = format!("{i:012}").into_bytes();
                data.resize(size.max(1), b'.');
                Ok(data)
            }))
        }
        None => Box::new(
            std::io::stdin()
                .lock()
                .lines()
                .map(|l| l.map(String::into_bytes)),
        ),
    }
}

async fn collect_acks(mut acks: mpsc::Receiver<PutHandle>, counts: Arc<Counts>) -> usize {
    let mut kinesis_records = HashSet::new();
    while let Some(handle) = acks.recv().await {
        match handle.await {
            Ok(r) => {
                counts.written.fetch_add(1, Ordering::Relaxed);
                kinesis_records.insert((r.shard_id, r.sequence_number));
            }
            Err(e) => {
                if counts.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                    eprintln!("producer: {e}");
                }
            }
        }
    }
    kinesis_records.len()
}

async fn progress(counts: Arc<Counts>) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let written = counts.written.load(Ordering::Relaxed);
        eprintln!(
            "producer: put {} written {} failed {} ({} records/s)",
            counts.put.load(Ordering::Relaxed),
            written,
            counts.failed.load(Ordering::Relaxed),
            written - last
        );
        last = written;
    }
}

/// A well-spread partition key for record `n`.
fn random_key(n: u64) -> String {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016x}", z ^ (z >> 31))
}

async fn ensure_stream(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: i32,
) -> Result<(), Error> {
    let exists = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await;
    match exists {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            client
                .create_stream()
                .stream_name(stream)
                .shard_count(shards)
                .send()
                .await?;
            eprintln!("producer: created stream {stream} with {shards} shards");
        }
        Err(e) => return Err(e.into()),
    }
    for _ in 0..600 {
        let s = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await?;
        if s.stream_description_summary()
            .is_some_and(|d| d.stream_status().as_str() == "ACTIVE")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("stream {stream} did not become ACTIVE").into())
}
