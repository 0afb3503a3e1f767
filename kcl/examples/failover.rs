//! Failover benchmark, with the default lease settings (failover time 10 s, renewal every
//! 3.3 s, taker pass every 20 - 24 s, hand-over index queried every second) and a producer writing
//! to every shard all the time:
//!
//! - graceful: a worker shuts down gracefully (final checkpoint, leases assigned to the
//!   other worker); the time from the end of its shutdown to the first record of each of its shards
//!   processed by the other worker (target < 1 s);
//! - abrupt: a worker's task is dropped (no release), once per round; the time to the
//!   first record of each of its shards processed by the other worker (target <= failover
//!   time + 3 s), reached through the other worker's liveness watch (a read of one lease
//!   every 2 s).
//!
//! Guarantee demonstrated: at-least-once across owners; no shard is left unprocessed
//! after either kind of departure.
//!
//! ```text
//! cargo run --release -p kinesis-kcl --example failover -- [--rounds 3] [--failover-secs 10] [--taker-millis 20000]
//! ```

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use clap::Parser;
use kcl::{
    Checkpointer, Config, InitialPosition, ProcessRecordsInput, ShardProcessor, StreamId, Worker,
    WorkerHandle,
};
use testkit::{LocalAws, streams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
struct Args {
    /// Graceful handovers, and then crashes, to measure.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Failover time in seconds (the KCL default is 10).
    #[arg(long, default_value_t = 10)]
    failover_secs: u64,
    /// Taker pass interval in milliseconds (the default is 20 s, the Java KCL's). A crashed
    /// worker's leases do not wait for a pass: the liveness watch sees one of them stand
    /// still for the failover time and takes them all.
    #[arg(long, default_value_t = 20_000)]
    taker_millis: u64,
}

/// Last delivery time per (worker, shard).
type Deliveries = Arc<Mutex<HashMap<(String, String), Instant>>>;

struct Stamp {
    worker: String,
    shard: String,
    seen: Deliveries,
    changed: watch::Sender<u64>,
}

impl ShardProcessor for Stamp {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        self.seen
            .lock()
            .map(|mut s| s.insert((self.worker.clone(), self.shard.clone()), Instant::now()))
            .ok();
        let _ = input.checkpointer.checkpoint().await;
        self.changed.send_modify(|n| *n += 1);
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

struct Bench {
    aws: LocalAws,
    seen: Deliveries,
    changed: watch::Sender<u64>,
    failover: Duration,
    taker: Duration,
}

impl Bench {
    fn start(
        &self,
        id: &str,
    ) -> Result<(WorkerHandle, JoinHandle<Result<(), kcl::WorkerError>>), Error> {
        let mut config = Config::new("failover-app", StreamId::Name("fo".into()))
            .with_failover_time(self.failover);
        config.worker_identifier = id.into();
        config.initial_position = InitialPosition::TrimHorizon;
        config.idle_time_between_reads = Duration::from_millis(200);
        config.lease_taker_interval = self.taker;
        let (seen, changed, worker) = (self.seen.clone(), self.changed.clone(), id.to_owned());
        let factory = move |shard: &str| Stamp {
            worker: worker.clone(),
            shard: shard.to_owned(),
            seen: seen.clone(),
            changed: changed.clone(),
        };
        let w = Worker::new(
            config,
            self.aws.kinesis_client(),
            self.aws.dynamodb_client(),
            factory,
        )?;
        let h = w.handle();
        Ok((h, tokio::spawn(w.run())))
    }

    /// Waits until `worker` processed a record of every shard in `shards` after `since`.
    async fn taken_over(
        &self,
        worker: &str,
        shards: &BTreeSet<String>,
        since: Instant,
    ) -> Duration {
        let mut rx = self.changed.subscribe();
        loop {
            let latest = {
                let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
                shards
                    .iter()
                    .map(|s| {
                        seen.get(&(worker.to_owned(), s.clone()))
                            .copied()
                            .filter(|t| *t > since)
                    })
                    .collect::<Option<Vec<Instant>>>()
            };
            if let Some(times) = latest {
                return times
                    .into_iter()
                    .max()
                    .map_or(Duration::ZERO, |t| t - since);
            }
            if rx.changed().await.is_err() {
                return Duration::MAX;
            }
        }
    }
}

async fn balanced(handles: &[&WorkerHandle], per_worker: usize) {
    loop {
        if handles
            .iter()
            .all(|h| h.status().held_leases.len() == per_worker)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // RUST_LOG=kcl=info shows the lease moves with their times.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failover: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let aws = LocalAws::start().await?;
    let kinesis = aws.kinesis_client();
    streams::create_stream(&kinesis, "fo", 4).await?;
    let producer = tokio::spawn(produce(kinesis.clone()));
    let bench = Bench {
        aws,
        seen: Arc::default(),
        changed: watch::channel(0).0,
        failover: Duration::from_secs(args.failover_secs),
        taker: Duration::from_millis(args.taker_millis),
    };
    let (stay, stay_task) = bench.start("stayer")?;
    let mut graceful = Vec::new();
    for round in 0..args.rounds {
        let id = format!("leaver-{round}");
        let (leaver, task) = bench.start(&id)?;
        tokio::time::timeout(Duration::from_secs(120), balanced(&[&stay, &leaver], 2)).await?;
        let shards = leaver.status().held_leases;
        leaver.graceful_shutdown().await;
        let released = Instant::now();
        task.await??;
        let took = bench.taken_over("stayer", &shards, released).await;
        println!(
            "graceful round {round}: {shards:?} processed by the other worker {:.0} ms after release",
            took.as_secs_f64() * 1e3
        );
        graceful.push(took);
    }
    let mut abrupt = Vec::new();
    for round in 0..args.rounds {
        let id = format!("crasher-{round}");
        let (crasher, task) = bench.start(&id)?;
        tokio::time::timeout(Duration::from_secs(120), balanced(&[&stay, &crasher], 2)).await?;
        let shards = crasher.status().held_leases;
        task.abort();
        let crashed = Instant::now();
        let took = bench.taken_over("stayer", &shards, crashed).await;
        println!(
            "abrupt round {round}: {shards:?} processed by the other worker {:.2} s after the stop",
            took.as_secs_f64(),
        );
        abrupt.push(took);
    }
    let worst_abrupt = abrupt.iter().max().copied().unwrap_or_default();
    println!(
        "abrupt stop: worst {:.2} s over {} rounds (failover time {} s, target <= {} s)",
        worst_abrupt.as_secs_f64(),
        abrupt.len(),
        args.failover_secs,
        args.failover_secs + 3
    );
    let worst = graceful.iter().max().copied().unwrap_or_default();
    println!(
        "graceful handover: worst {:.0} ms over {} rounds (target < 1000 ms)",
        worst.as_secs_f64() * 1e3,
        graceful.len()
    );
    stay.graceful_shutdown().await;
    stay_task.await??;
    producer.abort();
    Ok(())
}

/// Writes a few records to every shard every 20 ms.
async fn produce(kinesis: aws_sdk_kinesis::Client) {
    let mut i = 0u64;
    loop {
        let entries: Vec<_> = (0..16)
            .filter_map(|k| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("key-{k}"))
                    .data(Blob::new(format!("r{i}")))
                    .build()
                    .ok()
            })
            .collect();
        let _ = kinesis
            .put_records()
            .stream_name("fo")
            .set_records(Some(entries))
            .send()
            .await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
