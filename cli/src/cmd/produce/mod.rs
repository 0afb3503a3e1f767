//! `kinesis produce STREAM [FILE...]`: records from stdin or files through the `kpl`
//! producer (aggregation, per-shard limits, retries, backpressure). Every record is
//! acknowledged or counted as failed (and written to `--failed`); the exit status is 1
//! if any failed.

mod failed;
mod input;
mod json;
mod keys;
mod pacer;
mod progress;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use kpl::{Producer, ProducerConfig, PutHandle, Record};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::args::parse_duration;
use crate::aws::Aws;
use crate::error::CliError;
use failed::Failed;
use input::{Input, Item, Mode, Origin};
use keys::Keys;
use pacer::{Pacer, parse_rate};
use progress::Counts;

const EXAMPLES: &str = "\
Examples:
  seq 100 | kinesis produce orders                       # one record per line, random keys
  kinesis produce orders --key customer-17 < lines.txt   # one key: one shard, in order
  kinesis produce orders --json --key-field customer.id < orders.jsonl
  kinesis produce orders --file-per-record photo1.jpg photo2.jpg
  kinesis produce orders --rate 100 --failed failed.txt < big.txt
  kinesis produce orders --failed again.txt < failed.txt # retry what failed

Producer settings come from KPL_* variables with the KPL's names (KPL_RECORD_MAX_BUFFERED_TIME=50,
KPL_RECORD_TTL=30000, KPL_RATE_LIMIT=150, ...). The exit status is 1 if any record was not written.";

/// `kinesis produce`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ProduceArgs {
    /// The stream's name.
    stream: String,
    /// Read these files (in order) instead of stdin; `-` is stdin.
    files: Vec<PathBuf>,
    /// Input is JSON objects (one per line, pretty-printed or back to back), each one record.
    #[arg(long)]
    json: bool,
    /// Each file is one record (with --json, one JSON object).
    #[arg(long)]
    file_per_record: bool,
    /// The partition key of every record (default: a random key per record).
    #[arg(long, value_name = "KEY", conflicts_with = "key_field")]
    key: Option<String>,
    /// Take each record's partition key from this field of its JSON object (a.b for nested).
    #[arg(long, value_name = "FIELD", requires = "json")]
    key_field: Option<String>,
    /// Route every record by this explicit hash key (decimal, 0 to 2^128-1) instead of its key.
    #[arg(long, value_name = "HASH_KEY", value_parser = parse_hash_key)]
    explicit_hash_key: Option<String>,
    /// Pack records into KPL aggregates (the default).
    #[arg(long, overrides_with = "no_aggregate")]
    aggregate: bool,
    /// Send each record as its own Kinesis record.
    #[arg(long)]
    no_aggregate: bool,
    /// At most this many records a second.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Write the records that were not written to FILE, one per line.
    #[arg(long, value_name = "FILE")]
    failed: Option<PathBuf>,
    /// No progress line (the summary is still printed).
    #[arg(short, long)]
    quiet: bool,
    /// How often the progress line is printed.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    progress_interval: Duration,
}

fn parse_hash_key(s: &str) -> Result<String, String> {
    kinesis_agg::HashKey::from_decimal(s)
        .map(|k| k.to_string())
        .map_err(|e| format!("{s:?}: {e}"))
}

/// Runs `kinesis produce`.
pub(crate) async fn run(aws: &Aws, args: ProduceArgs) -> Result<(), CliError> {
    let producer = producer(aws, &args).await?;
    let counts = Arc::new(Counts::default());
    let failed = Arc::new(Failed::create(args.failed.as_deref(), counts.clone())?);
    let started = Instant::now();
    let progress = (!args.quiet).then(|| {
        let (counts, producer) = (counts.clone(), producer.clone());
        tokio::spawn(progress::report(counts, producer, args.progress_interval))
    });
    let (acks_tx, acks_rx) = mpsc::unbounded_channel();
    let acks = tokio::spawn(acknowledge(acks_rx, counts.clone(), failed.clone()));
    let mut feeder = Feeder {
        producer: producer.clone(),
        stream: Arc::from(args.stream.as_str()),
        keys: keys(&args),
        explicit_hash_key: args.explicit_hash_key.clone(),
        pacer: Pacer::new(args.rate),
        acks: acks_tx,
        failed: failed.clone(),
        counts: counts.clone(),
    };
    let end = feeder.feed(input::spawn(input_of(&args))).await;
    drop(feeder);
    // Interrupted: what was read gets 10 s to go out; otherwise everything is awaited.
    let deadline = match end {
        End::Interrupted => Duration::from_secs(10),
        End::Input | End::Error(_) => {
            producer.flush().await;
            Duration::from_secs(1)
        }
    };
    producer.shutdown(deadline).await;
    let _ = acks.await;
    if let Some(p) = progress {
        p.abort();
    }
    progress::clear_line();
    failed.finish()?;
    let summary = progress::summary(&counts, &args.stream, started.elapsed(), failed.path());
    eprintln!("{summary}");
    outcome(end, &counts, &failed)
}

/// A producer for `args` (`KPL_*` settings, then the aggregation flags), once the stream
/// is known to exist (so a missing stream is said before any input is read).
async fn producer(aws: &Aws, args: &ProduceArgs) -> Result<Producer, CliError> {
    let client = aws.kinesis();
    let stream = args.stream.as_str();
    aws.retry
        .call("DescribeStreamSummary", || {
            client.describe_stream_summary().stream_name(stream).send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    let mut config = ProducerConfig::from_env()?;
    if args.no_aggregate {
        config.aggregation_enabled = false;
    } else if args.aggregate {
        config.aggregation_enabled = true;
    }
    Ok(Producer::new(config, client)?)
}

/// The exit: the input's error, else failed records, else success.
fn outcome(end: End, counts: &Counts, failed: &Failed) -> Result<(), CliError> {
    if let End::Error(e) = end {
        return Err(e);
    }
    let n_failed = counts.failed.load(Ordering::Relaxed);
    if n_failed > 0 {
        return Err(CliError::RecordsFailed {
            failed: n_failed,
            total: counts.read.load(Ordering::Relaxed),
            where_: failed
                .path()
                .map(|p| format!(" (written to {p})"))
                .unwrap_or_default(),
        });
    }
    Ok(())
}

fn keys(args: &ProduceArgs) -> Keys {
    match (&args.key, &args.key_field) {
        (Some(k), _) => Keys::Fixed(k.clone()),
        (None, Some(_)) => Keys::Field,
        (None, None) => Keys::Random,
    }
}

fn input_of(args: &ProduceArgs) -> Input {
    let mode = match (args.file_per_record, args.json) {
        (true, _) => Mode::WholeFile,
        (false, true) => Mode::Json,
        (false, false) => Mode::Lines,
    };
    Input {
        files: args.files.clone(),
        mode,
        key_field: args.key_field.clone(),
    }
}

/// How the input ended.
enum End {
    /// All of it was read.
    Input,
    /// SIGINT or SIGTERM: stop reading, send what was read.
    Interrupted,
    /// It could not be read further.
    Error(CliError),
}

/// Puts each item read.
struct Feeder {
    producer: Producer,
    stream: Arc<str>,
    keys: Keys,
    explicit_hash_key: Option<String>,
    pacer: Pacer,
    acks: mpsc::UnboundedSender<(PutHandle, Origin)>,
    failed: Arc<Failed>,
    counts: Arc<Counts>,
}

impl Feeder {
    async fn feed(&mut self, mut items: mpsc::Receiver<Result<Item, CliError>>) -> End {
        let stop = crate::signal::shutdown();
        tokio::pin!(stop);
        loop {
            let next = tokio::select! {
                next = items.recv() => next,
                () = &mut stop => return End::Interrupted,
            };
            let item = match next {
                None => return End::Input,
                Some(Err(e)) => return End::Error(e),
                Some(Ok(item)) => item,
            };
            self.counts.read.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                () = self.put(item) => {}
                () = &mut stop => return End::Interrupted,
            }
        }
    }

    async fn put(&mut self, mut item: Item) {
        // Should this future be dropped (a signal while waiting for room), the guard counts
        // the record as failed: it was read and will not be written.
        let mut unsent = Unsent(Some((
            item.data.clone(),
            item.origin.clone(),
            self.failed.clone(),
        )));
        if let Some(why) = item.invalid.take() {
            return unsent.fail(&why);
        }
        let key = match self.keys.key_for(&mut item) {
            Ok(key) => key,
            Err(why) => return unsent.fail(&why),
        };
        self.pacer.wait().await;
        let mut record = Record::new(self.stream.clone(), key, item.data);
        if let Some(ehk) = &self.explicit_hash_key {
            record = record.with_explicit_hash_key(ehk.clone());
        }
        match self.producer.put(record).await {
            Ok(handle) => {
                unsent.0 = None;
                let _ = self.acks.send((handle, item.origin));
            }
            Err(e) => unsent.fail(&e.kind),
        }
    }
}

/// A record read and not yet handed to the producer: failed if dropped so.
struct Unsent(Option<(Bytes, Origin, Arc<Failed>)>);

impl Unsent {
    fn fail(&mut self, why: &dyn std::fmt::Display) {
        if let Some((data, origin, failed)) = self.0.take() {
            failed.record(&data, &origin, why);
        }
    }
}

impl Drop for Unsent {
    fn drop(&mut self) {
        self.fail(&"interrupted before it was sent");
    }
}

/// Awaits each record's result.
async fn acknowledge(
    mut acks: mpsc::UnboundedReceiver<(PutHandle, Origin)>,
    counts: Arc<Counts>,
    failed: Arc<Failed>,
) {
    while let Some((handle, origin)) = acks.recv().await {
        match handle.await {
            Ok(r) => {
                counts.written.fetch_add(1, Ordering::Relaxed);
                if r.sub_sequence_number == 0 {
                    counts.kinesis_records.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => failed.record(&e.record.data, &origin, &e.kind),
        }
    }
}
