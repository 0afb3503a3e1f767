//! `kinesis consume STREAM --app APP`: one KCL worker of application APP (lease table
//! APP in DynamoDB), sharing the shards with every other worker of the application; each
//! batch is written to stdout, then checkpointed. SIGINT / SIGTERM shut down gracefully:
//! final checkpoints, then the leases are released so other workers take over at once.

mod printer;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use kcl::{Config, InitialPosition, RetrievalError, RetrievalMode, StreamId, Worker, WorkerError};

use crate::args::parse_duration;
use crate::aws::{Aws, Service};
use crate::error::CliError;
use crate::output::Format;
use crate::position::StartFrom;
use printer::{Printer, Shared, Stop};

const EXAMPLES: &str = "\
Examples:
  kinesis consume orders --app billing                      # new records (LATEST) as they come
  kinesis consume orders --app billing --from trim_horizon --format json
  kinesis consume orders --app billing --limit 100          # 100 records, checkpointed, then stop
  kinesis consume orders --app billing --idle-exit 30s      # stop once caught up and idle
  kinesis consume orders --app billing --fan-out            # enhanced fan-out, stream consumer billing
  kinesis consume orders --app billing --consumer-name b2 --deregister-on-exit

Run it several times (different --worker-id) to share the shards; a checkpoint is written after
each batch is written to stdout, so a restart repeats at most the batch in flight.";

/// `kinesis consume`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ConsumeArgs {
    /// The stream's name (or ARN).
    stream: String,
    /// The application: names the DynamoDB lease table, shared by its workers.
    #[arg(long, value_name = "APP")]
    app: String,
    /// This worker's identifier (default: host name and a random suffix).
    #[arg(long, value_name = "ID")]
    worker_id: Option<String>,
    /// Where leases created now start: latest, trim_horizon or timestamp:T. Shards that
    /// have a checkpoint resume after it.
    #[arg(long, value_name = "POSITION", default_value = "latest")]
    from: StartFrom,
    /// Output: raw (the data, one record a line) or json (one object a line).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Checkpoint once this many records of a shard were written (default: every batch).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: u64,
    /// Stop (gracefully) after this many records.
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Stop (gracefully) once no record came for this long and no lease is left to take.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_exit: Option<Duration>,
    /// Read with enhanced fan-out (SubscribeToShard: 2 MiB/s per shard of its own, records
    /// pushed) instead of polling GetRecords. The stream consumer is registered if missing
    /// (named after --app unless --consumer-name says otherwise); it is billed per shard-hour
    /// while registered.
    #[arg(long)]
    fan_out: bool,
    /// The enhanced fan-out consumer's name (implies --fan-out).
    #[arg(long, value_name = "NAME")]
    consumer_name: Option<String>,
    /// With enhanced fan-out: deregister the stream consumer when this worker is the last
    /// of the application to stop gracefully.
    #[arg(long)]
    deregister_on_exit: bool,
    /// Pause after a GetRecords call that returned nothing (polling).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    poll_interval: Duration,
    /// A lease not renewed for this long is taken over by another worker.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    failover_time: Duration,
    /// DynamoDB endpoint of the lease table (default: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then AWS's).
    #[arg(long, value_name = "URL")]
    dynamodb_endpoint_url: Option<String>,
    /// Longest graceful shutdown before the worker is stopped at once.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
}

/// How records are fetched: polling (GetRecords), or enhanced fan-out (SubscribeToShard)
/// with `--fan-out` or `--consumer-name`.
fn retrieval_mode(args: &ConsumeArgs) -> Result<RetrievalMode, CliError> {
    if args.fan_out || args.consumer_name.is_some() {
        return Ok(RetrievalMode::FanOut {
            consumer_name: args.consumer_name.clone(),
            consumer_arn: None,
        });
    }
    if args.deregister_on_exit {
        return Err(CliError::Usage(
            "--deregister-on-exit needs --fan-out (or --consumer-name): polling registers no stream consumer".to_owned(),
        ));
    }
    Ok(RetrievalMode::Polling)
}

/// Runs `kinesis consume`.
pub(crate) async fn run(aws: Aws, args: ConsumeArgs) -> Result<(), CliError> {
    let aws = aws.with_dynamodb_endpoint(args.dynamodb_endpoint_url.clone());
    let config = config(&args)?;
    precheck(&aws, &args).await?;
    let shared = Arc::new(Shared::new(args.format, args.limit, args.checkpoint_every));
    let factory = {
        let shared = shared.clone();
        move |shard: &str| Printer::new(shard, shared.clone())
    };
    let kinesis = aws.kinesis_with_sdk_retries();
    let worker = Worker::new(config, kinesis, aws.dynamodb(), factory)?;
    let handle = worker.handle();
    eprintln!(
        "kinesis consume: worker {} of application {} on stream {}",
        worker.config().worker_identifier,
        args.app,
        args.stream
    );
    let mut task = tokio::spawn(worker.run());
    let stop = tokio::select! {
        ended = &mut task => return worker_ended(&aws, &args, ended),
        stop = wait_for_stop(&handle, &shared, args.idle_exit) => stop,
    };
    if tokio::time::timeout(args.shutdown_timeout, handle.graceful_shutdown())
        .await
        .is_err()
    {
        eprintln!("kinesis consume: graceful shutdown took too long; stopping now");
        handle.shutdown();
    }
    let ended = task.await;
    eprintln!(
        "kinesis consume: records written: {}; leases released: {}",
        shared.written.load(Ordering::Relaxed),
        handle.status().leases_released
    );
    worker_ended(&aws, &args, ended)?;
    match stop {
        Some(Stop::OutputFailed(message)) => Err(CliError::Io {
            what: "writing to stdout".to_owned(),
            source: std::io::Error::other(message),
        }),
        _ => Ok(()),
    }
}

fn config(args: &ConsumeArgs) -> Result<Config, CliError> {
    let stream = if args.stream.starts_with("arn:") {
        StreamId::Arn(args.stream.clone())
    } else {
        StreamId::Name(args.stream.clone())
    };
    let mut config = Config::new(&args.app, stream).with_failover_time(args.failover_time);
    if let Some(id) = &args.worker_id {
        config.worker_identifier = id.clone();
    }
    config.initial_position = match &args.from {
        StartFrom::Latest => InitialPosition::Latest,
        StartFrom::TrimHorizon => InitialPosition::TrimHorizon,
        StartFrom::Timestamp(t) => InitialPosition::AtTimestamp(*t),
        StartFrom::Sequence(_) => {
            return Err(CliError::Usage(
                "consume --from takes latest, trim_horizon or timestamp:T (a new lease starts there); `kinesis read --shard ID --from sequence:S` reads from a sequence number".to_owned(),
            ));
        }
    };
    config.idle_time_between_reads = args.poll_interval;
    config.retrieval_mode = retrieval_mode(args)?;
    config.fan_out.deregister_on_shutdown = args.deregister_on_exit;
    config.validate()?;
    Ok(config)
}

/// Checks the stream and the lease table's service answer before the worker starts (the
/// worker retries connection failures at start-up for ever).
async fn precheck(aws: &Aws, args: &ConsumeArgs) -> Result<(), CliError> {
    let kinesis = aws.kinesis();
    let stream = args.stream.as_str();
    aws.retry
        .call("DescribeStreamSummary", || {
            let request = kinesis.describe_stream_summary();
            if stream.starts_with("arn:") {
                request.stream_arn(stream)
            } else {
                request.stream_name(stream)
            }
            .send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    let dynamodb = aws.dynamodb_without_retries();
    aws.retry
        .call("ListTables", || dynamodb.list_tables().limit(1).send())
        .await
        .map_err(|f| aws.error(Service::DynamoDb, Some(&args.app), f))?;
    Ok(())
}

/// Resolves when the consumer should stop: a signal, a processor's reason, or idleness.
async fn wait_for_stop(
    handle: &kcl::WorkerHandle,
    shared: &Shared,
    idle_exit: Option<Duration>,
) -> Option<Stop> {
    let mut stopped = shared.stopped();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let signal = crate::signal::shutdown();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => return None,
            changed = stopped.changed() => {
                let why = stopped.borrow().clone();
                if changed.is_err() || why.is_some() {
                    return why;
                }
            }
            _ = tick.tick() => {
                let status = handle.status();
                let idle = idle_exit.is_some_and(|limit| {
                    shared.idle_for() >= limit && status.taker_passes > 0 && status.available_leases == 0
                });
                if idle {
                    return None;
                }
            }
        }
    }
}

/// The worker's own result as the tool's.
fn worker_ended(
    aws: &Aws,
    args: &ConsumeArgs,
    ended: Result<Result<(), WorkerError>, tokio::task::JoinError>,
) -> Result<(), CliError> {
    match ended {
        Ok(Ok(())) => Ok(()),
        Ok(Err(WorkerError::Stream(RetrievalError::NotFound { .. }))) => {
            Err(CliError::StreamNotFound {
                stream: args.stream.clone(),
                region: aws.region().to_owned(),
                endpoint: aws.endpoint(Service::Kinesis),
            })
        }
        Ok(Err(e)) => Err(CliError::Worker(e)),
        Err(e) => Err(CliError::Aws {
            operation: "the consumer",
            message: e.to_string(),
        }),
    }
}
