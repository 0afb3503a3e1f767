//! Fleet benchmark: what the lease table costs and what a lease move costs, with each
//! worker's DynamoDB client behind its own metering proxy (`testkit::MeteringProxy`).
//!
//! - `idle`: W workers hold S leases of an idle stream for a while; per worker per minute:
//!   calls, items read, items written per held lease, read and write capacity units, per
//!   operation.
//! - `join`: one worker has a backlog of R records on 4 shards, processed downstream at
//!   `--lines-per-sec`; a second worker joins; duplicates counted, with the graceful
//!   hand-off (the old owner checkpoints in `shutdown_requested`) and with the hand-off
//!   timeout at zero (a steal without hand-off, as before).
//!
//! Guarantee demonstrated: a lease moved by a hand-off is resumed at the old owner's final
//! checkpoint (no duplicates when the processor checkpoints in `shutdown_requested`).
//!
//! ```text
//! cargo run --release -p kinesis-kcl --example fleet -- idle [--workers 2] [--shards 16] [--secs 120]
//! cargo run --release -p kinesis-kcl --example fleet -- join [--records 200000] [--lines-per-sec 20000]
//! ```

mod join;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kcl::{
    Checkpointer, Config, InitialPosition, ProcessRecordsInput, ShardProcessor, StreamId, Worker,
};
use testkit::{LocalAws, MeteringProxy, streams};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// The DynamoDB cost of idle workers.
    Idle {
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long, default_value_t = 16)]
        shards: i32,
        /// How long to measure, after the leases were balanced.
        #[arg(long, default_value_t = 120)]
        secs: u64,
    },
    /// Duplicates when a worker joins a backlog.
    Join {
        #[arg(long, default_value_t = 200_000)]
        records: usize,
        #[arg(long, default_value_t = 20_000)]
        lines_per_sec: u64,
    },
}

struct Idle;

impl ShardProcessor for Idle {
    async fn process_records(&mut self, input: ProcessRecordsInput) {
        let _ = input.checkpointer.checkpoint().await;
    }

    async fn shard_ended(&mut self, checkpointer: Checkpointer) {
        let _ = checkpointer.checkpoint().await;
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                match args.scenario {
                    Scenario::Idle {
                        workers,
                        shards,
                        secs,
                    } => idle(workers, shards, Duration::from_secs(secs)).await,
                    Scenario::Join {
                        records,
                        lines_per_sec,
                    } => join::run(records, lines_per_sec).await,
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A worker of application `app` with the default lease settings, its DynamoDB client
/// behind `meter`.
fn worker<F: kcl::ShardProcessorFactory>(
    aws: &LocalAws,
    meter: &MeteringProxy,
    app: &str,
    stream: &str,
    id: &str,
    factory: F,
    tune: impl FnOnce(&mut Config),
) -> Result<Worker<F>, Error> {
    let mut config = Config::new(app, StreamId::Name(stream.into()));
    config.worker_identifier = id.into();
    config.initial_position = InitialPosition::TrimHorizon;
    tune(&mut config);
    let dynamodb = testkit::dynamodb_client(&meter.endpoint());
    Ok(Worker::new(
        config,
        aws.kinesis_client(),
        dynamodb,
        factory,
    )?)
}

async fn idle(workers: usize, shards: i32, measure: Duration) -> Result<(), Error> {
    let aws = LocalAws::start().await?;
    streams::create_stream(&aws.kinesis_client(), "idle", shards).await?;
    let mut running = Vec::new();
    for i in 0..workers {
        let meter = MeteringProxy::start(aws.dynamodb_addr()).await?;
        let w = worker(
            &aws,
            &meter,
            "idle-app",
            "idle",
            &format!("w{i}"),
            |_: &str| Idle,
            |_| {},
        )?;
        let h = w.handle();
        running.push((meter, h, tokio::spawn(w.run())));
    }
    let per_worker = (shards as usize).div_ceil(workers);
    let balanced = tokio::time::timeout(Duration::from_secs(300), async {
        while running.iter().any(|(_, h, _)| {
            h.status().held_leases.len() > per_worker || h.status().held_leases.is_empty()
        }) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    balanced.await?;
    for (meter, _, _) in &running {
        meter.reset();
    }
    tokio::time::sleep(measure).await;
    let minutes = measure.as_secs_f64() / 60.0;
    println!(
        "{workers} idle workers, {shards} leases, measured for {measure:?} (default lease settings)"
    );
    for (meter, handle, _) in &running {
        let held = handle.status().held_leases.len().max(1);
        let total = meter.total();
        println!(
            "  {}: {held} leases; per minute: {:.0} calls, {:.0} items read ({:.1} x leases in the table), {:.1} writes per held lease, {:.1} RCU, {:.1} WCU",
            handle.status().worker_id,
            total.calls as f64 / minutes,
            total.items_read as f64 / minutes,
            total.items_read as f64 / minutes / f64::from(shards),
            total.items_written as f64 / minutes / held as f64,
            total.read_units / minutes,
            total.write_units / minutes,
        );
        for (op, cost) in meter.costs() {
            println!(
                "      {op:<12} {:>7.1} calls {:>8.1} items read {:>7.1} items written {:>6.1} RCU {:>6.1} WCU",
                cost.calls as f64 / minutes,
                cost.items_read as f64 / minutes,
                cost.items_written as f64 / minutes,
                cost.read_units / minutes,
                cost.write_units / minutes,
            );
        }
    }
    for (_, handle, task) in running {
        handle.graceful_shutdown().await;
        task.await??;
    }
    Ok(())
}
