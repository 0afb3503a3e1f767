//! The quickstart's whole story: create a stream, write records with the `kpl` producer,
//! read them with two `kcl` workers sharing one lease table, and check that every record
//! arrived exactly as sent.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kinesis_examples::story::Error> {
//! let aws = kinesis_examples::connect().await?;
//! let polling = kcl::RetrievalMode::Polling;
//! let report = kinesis_examples::story::run(&aws, "demo", 4, 10_000, polling).await?;
//! assert_eq!(report.received, 10_000);
//! # Ok(()) }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kcl::{
    Checkpointer, InitialPosition, ProcessRecordsInput, RetrievalMode, ShardProcessor, StreamId,
    Worker,
};
use kpl::{Producer, ProducerConfig};
use testkit::streams;
use testkit::workload::{Shape, generate};
use tokio::sync::watch;

use crate::Aws;

/// Any failure of the story, with its reason.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long the consumers may take to deliver everything.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(300);

/// What the story did.
#[derive(Clone, Debug)]
pub struct Report {
    /// User records written by the producer (each one acknowledged).
    pub sent: usize,
    /// Distinct user records read back, each one equal to what was sent.
    pub received: usize,
    /// Deliveries beyond the first of a record (at-least-once allows them).
    pub duplicates: u64,
    /// Kinesis records (aggregates) the producer wrote.
    pub kinesis_records: usize,
    /// User records per second through the producer, put to last acknowledgement.
    pub produce_per_s: f64,
    /// User records per second through the consumers, first delivery to last.
    pub consume_per_s: f64,
    /// Per worker: its id, the user records it processed and the leases it held at the end.
    pub workers: Vec<(String, u64, BTreeSet<String>)>,
}

/// Creates `stream` with `shards` shards, writes `count` W1-shaped records (100 bytes,
/// distinct keys) through a [`Producer`] (at the KPL's default rate limit, 150 % of each
/// shard's 1 MiB/s), then consumes them with two [`Worker`]s of one application (lease
/// table `<stream>-app`, at most half the shards each) reading by `retrieval` (polling, or
/// enhanced fan-out through one stream consumer named after the application), checks every
/// record, and shuts the workers down gracefully (final checkpoints, leases released).
pub async fn run(
    aws: &Aws,
    stream: &str,
    shards: i32,
    count: usize,
    retrieval: RetrievalMode,
) -> Result<Report, Error> {
    streams::create_stream(&aws.kinesis, stream, shards).await?;
    let workload = generate(Shape::W1, count, 42);
    let (kinesis_records, produce_s) = produce(aws, stream, &workload.records).await?;

    let tally = Arc::new(Tally::default());
    let (done_tx, mut done_rx) = watch::channel(0usize);
    let done_tx = Arc::new(done_tx);
    let app = format!("{stream}-app");
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for worker_id in ["worker-a", "worker-b"] {
        let mut config = kcl::Config::new(app.clone(), StreamId::Name(stream.into()));
        config.worker_identifier = worker_id.into();
        config.initial_position = InitialPosition::TrimHorizon;
        config.retrieval_mode = retrieval.clone();
        // A registered stream consumer is billed per shard-hour: the last worker to leave
        // deregisters it (the stream and the lease table stay, as with polling).
        config.fan_out.deregister_on_shutdown = true;
        // Half the shards each, whichever worker starts first (the KCL's maxLeasesForWorker).
        config.max_leases_for_worker = usize::try_from(shards).unwrap_or(1).div_ceil(2);
        let (tally, done_tx) = (tally.clone(), done_tx.clone());
        let factory = move |_: &str| Collect {
            tally: tally.clone(),
            done: done_tx.clone(),
        };
        let worker = Worker::new(config, aws.kinesis.clone(), aws.dynamodb.clone(), factory)?;
        handles.push(worker.handle());
        tasks.push(tokio::spawn(worker.run()));
    }
    let waited = tokio::time::timeout(CONSUME_TIMEOUT, done_rx.wait_for(|n| *n >= count)).await;
    let held: Vec<BTreeSet<String>> = handles.iter().map(|h| h.status().held_leases).collect();
    for h in &handles {
        h.graceful_shutdown().await;
    }
    for t in tasks {
        t.await??;
    }
    // Counted once the processors have returned (a batch counts when it is processed).
    let workers = handles
        .iter()
        .zip(held)
        .map(|(h, held)| {
            let s = h.status();
            (s.worker_id, s.records_processed, held)
        })
        .collect();
    if waited.is_err() {
        return Err(format!(
            "only {} of {count} records consumed within {CONSUME_TIMEOUT:?}",
            tally.distinct()
        )
        .into());
    }
    let received = tally.verify(&workload.records)?;
    Ok(Report {
        sent: count,
        received,
        duplicates: tally.duplicates(),
        kinesis_records,
        produce_per_s: count as f64 / produce_s,
        consume_per_s: count as f64 / tally.span_s(),
        workers,
    })
}

/// Puts every record and waits for each acknowledgement; returns the number of Kinesis
/// records they went out in and the seconds it took.
async fn produce(
    aws: &Aws,
    stream: &str,
    records: &[(String, Bytes)],
) -> Result<(usize, f64), Error> {
    let producer = Producer::new(ProducerConfig::default(), aws.kinesis.clone())?;
    let stream: Arc<str> = stream.into();
    let started = Instant::now();
    let mut acks = Vec::with_capacity(records.len());
    for (key, data) in records {
        let record = kpl::Record::new(stream.clone(), key.clone(), data.clone());
        acks.push(producer.put(record).await?);
    }
    let mut kinesis_records = std::collections::HashSet::new();
    for ack in acks {
        let written = ack.await?;
        kinesis_records.insert(written.sequence_number);
    }
    let elapsed = started.elapsed().as_secs_f64();
    producer.shutdown(Duration::from_secs(5)).await;
    Ok((kinesis_records.len(), elapsed))
}

/// What the processors of both workers saw.
#[derive(Debug, Default)]
struct Tally {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    records: HashMap<String, Bytes>,
    duplicates: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one batch; returns the distinct records seen so far.
    fn add(&self, records: &[kcl::Record]) -> usize {
        let mut seen = self.lock();
        let now = Instant::now();
        seen.first.get_or_insert(now);
        for r in records {
            let key = r.partition_key.to_string();
            if seen.records.insert(key, r.data.clone()).is_some() {
                seen.duplicates += 1;
            } else {
                seen.last = Some(now);
            }
        }
        seen.records.len()
    }

    fn distinct(&self) -> usize {
        self.lock().records.len()
    }

    fn duplicates(&self) -> u64 {
        self.lock().duplicates
    }

    /// Seconds from the first delivery to the last new record.
    fn span_s(&self) -> f64 {
        let seen = self.lock();
        match (seen.first, seen.last) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64().max(1e-3),
            _ => f64::INFINITY,
        }
    }

    /// Checks that every sent record arrived with its data; returns how many did.
    fn verify(&self, sent: &[(String, Bytes)]) -> Result<usize, Error> {
        let seen = self.lock();
        for (key, data) in sent {
            match seen.records.get(key) {
                Some(got) if got == data => {}
                Some(_) => return Err(format!("record {key} arrived with other data").into()),
                None => return Err(format!("record {key} never arrived").into()),
            }
        }
        if seen.records.len() != sent.len() {
            return Err(format!(
                "{} records arrived, {} sent",
                seen.records.len(),
                sent.len()
            )
            .into());
        }
        Ok(sent.len())
    }
}

/// The processor: tallies each batch, then checkpoints it (at-least-once).
struct Collect {
    tally: Arc<Tally>,
    done: Arc<watch::Sender<usize>>,
}

impl ShardProcessor for Collect {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let distinct = self.tally.add(&input.records);
        self.done.send_if_modified(|seen| {
            let more = distinct > *seen;
            *seen = (*seen).max(distinct);
            more
        });
        if let Err(e) = input.checkpointer.checkpoint().await {
            eprintln!("checkpoint failed (the records will be delivered again): {e}");
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        if let Err(e) = checkpointer.checkpoint().await {
            eprintln!("shard-end checkpoint failed: {e}");
        }
    }
}
