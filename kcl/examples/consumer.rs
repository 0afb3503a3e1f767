//! A kcat-style consumer: one worker of application APP (lease table APP) writes each
//! record's data, de-aggregated, as one line on stdout.
//!
//! Guarantee demonstrated: at-least-once. A checkpoint is written only after the lines
//! it covers were written and flushed (every `--checkpoint-every` records, at shard end,
//! and at shutdown), so a crash repeats lines but never skips one. Ctrl-C or SIGTERM
//! shuts down gracefully: final checkpoints, then the leases are released so other
//! workers take over at once. Several processes with different `--worker-id`s share
//! the shards.
//!
//! ```text
//! cargo run --release -p kinesis-kcl --example consumer -- --stream NAME --app APP \
//!     [--worker-id ID] [--from latest|trim_horizon] [--idle-exit SECS] [--checkpoint-every N]
//!     [--fan-out]
//! ```
//!
//! It uses the standard AWS configuration from the environment (`AWS_ENDPOINT_URL_KINESIS`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`, credentials, profiles).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use kcl::{
    Checkpointer, Config, InitialPosition, ProcessRecordsInput, RetrievalMode, ShardProcessor,
    StreamId, Worker, WorkerHandle,
};

#[derive(Parser, Debug)]
#[command(about = "Consume a Kinesis stream as one worker of an application; one line per record")]
struct Args {
    /// Stream name (or ARN).
    #[arg(long)]
    stream: String,
    /// Application name: the lease table.
    #[arg(long)]
    app: String,
    /// Worker identifier (default: a random one).
    #[arg(long)]
    worker_id: Option<String>,
    /// Where new leases start.
    #[arg(long, value_enum, default_value_t = From::Latest)]
    from: From,
    /// Shut down gracefully once no record arrived for this long and no lease is left to take.
    #[arg(long)]
    idle_exit: Option<u64>,
    /// Checkpoint after this many records of a shard.
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    /// Enhanced fan-out (SubscribeToShard) instead of polling; the stream consumer is
    /// named after the application and registered when missing.
    #[arg(long)]
    fan_out: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum From {
    Latest,
    /// As the issue and the KCL spell it; `trim-horizon` is accepted too.
    #[value(name = "trim_horizon", alias = "trim-horizon")]
    TrimHorizon,
}

/// Shared between the processors and the status loop.
#[derive(Default)]
struct Progress {
    records: AtomicU64,
    /// Milliseconds since `started` of the last record.
    last_record_ms: AtomicU64,
}

struct LinePrinter {
    shard: String,
    since_checkpoint: u64,
    every: u64,
    progress: Arc<Progress>,
    started: Instant,
}

impl LinePrinter {
    fn write_lines(records: &[kcl::Record]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        for r in records {
            out.write_all(&r.data)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    async fn checkpoint(&mut self, checkpointer: &Checkpointer) {
        match checkpointer.checkpoint().await {
            Ok(()) => self.since_checkpoint = 0,
            Err(e) => eprintln!("consumer: checkpoint of {} failed: {e}", self.shard),
        }
    }
}

impl ShardProcessor for LinePrinter {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        if let Err(e) = Self::write_lines(&input.records) {
            // stdout is gone (a closed pipe): nothing more can be delivered, and
            // nothing unwritten may be checkpointed.
            eprintln!("consumer: cannot write to stdout: {e}");
            std::process::exit(1);
        }
        let n = input.records.len() as u64;
        self.progress.records.fetch_add(n, Ordering::Relaxed);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.progress.last_record_ms.store(now, Ordering::Relaxed);
        self.since_checkpoint += n;
        if self.since_checkpoint >= self.every {
            self.checkpoint(&input.checkpointer).await;
        }
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        self.checkpoint(&checkpointer).await;
    }

    async fn shutdown_requested(&mut self, checkpointer: Checkpointer) {
        if self.since_checkpoint > 0 {
            self.checkpoint(&checkpointer).await;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("consumer: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consumer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let aws = aws_config::load_from_env().await;
    let stream = if args.stream.starts_with("arn:") {
        StreamId::Arn(args.stream.clone())
    } else {
        StreamId::Name(args.stream.clone())
    };
    let mut config = Config::new(&args.app, stream);
    if let Some(id) = &args.worker_id {
        config.worker_identifier = id.clone();
    }
    config.initial_position = match args.from {
        From::Latest => InitialPosition::Latest,
        From::TrimHorizon => InitialPosition::TrimHorizon,
    };
    config.idle_time_between_reads = Duration::from_millis(500);
    if args.fan_out {
        config.retrieval_mode = RetrievalMode::fan_out();
    }
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let factory = {
        let (progress, every) = (progress.clone(), args.checkpoint_every.max(1));
        move |shard: &str| LinePrinter {
            shard: shard.to_owned(),
            since_checkpoint: 0,
            every,
            progress: progress.clone(),
            started,
        }
    };
    let worker = Worker::new(
        config,
        aws_sdk_kinesis::Client::new(&aws),
        aws_sdk_dynamodb::Client::new(&aws),
        factory,
    )?;
    let handle = worker.handle();
    eprintln!(
        "consumer: worker {} of application {} on stream {}",
        worker.config().worker_identifier,
        args.app,
        args.stream
    );
    tokio::spawn(watch(handle.clone(), progress, started, args.idle_exit));
    worker.run().await?;
    let status = handle.status();
    eprintln!(
        "consumer: stopped after {} records ({} leases released)",
        status.records_processed, status.leases_released
    );
    Ok(())
}

/// Status on stderr every 5 s; graceful shutdown on Ctrl-C, SIGTERM or idleness.
async fn watch(
    handle: WorkerHandle,
    progress: Arc<Progress>,
    started: Instant,
    idle_exit: Option<u64>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut seconds = 0u64;
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => {
                eprintln!("consumer: shutting down gracefully");
                break;
            }
            _ = tick.tick() => {
                seconds += 1;
                let status = handle.status();
                if seconds.is_multiple_of(5) {
                    eprintln!(
                        "consumer: {} records, holding {} leases {:?}",
                        progress.records.load(Ordering::Relaxed),
                        status.held_leases.len(),
                        status.held_leases
                    );
                }
                if let Some(limit) = idle_exit {
                    let last = progress.last_record_ms.load(Ordering::Relaxed);
                    let idle_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_sub(last);
                    if idle_ms >= limit.saturating_mul(1000) && status.taker_passes > 0 && status.available_leases == 0 {
                        eprintln!("consumer: idle for {limit} s with no lease left to take; shutting down");
                        break;
                    }
                }
            }
        }
    }
    handle.graceful_shutdown().await;
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
