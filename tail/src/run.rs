//! The entry point: checks the configuration, the checkpoint file and the streams, runs
//! every flow until the shutdown signal, and returns the summary.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::board::{Board, write_loop};
use crate::checkpoint::{Checkpoints, Store};
use crate::config::TailConfig;
use crate::error::TailError;
use crate::flow::run_flow;
use crate::stats::{FlowSummary, Summary};

/// How long the check that a stream exists may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Ships the configured files to Kinesis until `shutdown` resolves, then waits for what is
/// in flight (up to `shutdownTimeoutMillis`), writes the checkpoints a last time and returns
/// what it did. Returns early with an error if a stream does not exist, the checkpoint file
/// is held by another agent, or Kinesis refuses records for good.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Guarantee shown: every line read is sent, and a restart after any stop (kill -9
/// // included) resumes from the checkpoint: no line lost, duplicates only after it.
/// let mut config = kinesis_tail::TailConfig::new(vec![kinesis_tail::FlowConfig::new("logs/*.log", "logs")]);
/// config.checkpoint_file = Some("/var/lib/kinesis-tail/checkpoints.json".into());
/// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let client = aws_sdk_kinesis::Client::new(&sdk);
/// let summary = kinesis_tail::run(config, client, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// println!("{} lines read, {} records sent", summary.lines_read(), summary.records_sent());
/// # Ok(()) }
/// ```
pub async fn run(
    config: TailConfig,
    client: Client,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<Summary, TailError> {
    for key in config.ignored.keys() {
        tracing::info!(setting = %key, "Kinesis Agent setting not used by this agent");
    }
    let prepared = config.prepare()?;
    let (store, mut saved) = Store::open(&prepared.checkpoint_file)?;
    for flow in &prepared.flows {
        check_stream(&client, &flow.stream).await?;
    }
    let mut kept = Checkpoints::new();
    for flow in &prepared.flows {
        if let Some(entries) = saved.get(&flow.key) {
            kept.insert(flow.key.clone(), entries.clone());
        }
    }
    let board = Arc::new(Board::new(kept));
    let (stop_tx, stop_rx) = watch::channel(false);
    let writer = tokio::spawn(write_loop(
        store,
        board.clone(),
        prepared.checkpoint_interval,
        stop_rx.clone(),
    ));
    let mut flows = JoinSet::new();
    for (index, flow) in prepared.flows.into_iter().enumerate() {
        let producer = kpl::Producer::new(flow.producer.clone(), client.clone())?;
        let resume = saved.remove(&flow.key);
        let task = run_flow(
            flow,
            producer,
            resume,
            board.clone(),
            prepared.shutdown_timeout,
            stop_rx.clone(),
        );
        flows.spawn(async move { (index, task.await) });
    }
    let mut results = Vec::new();
    tokio::select! {
        _ = shutdown => {}
        Some(joined) = flows.join_next() => results.push(joined),
    }
    let _ = stop_tx.send(true);
    while let Some(joined) = flows.join_next().await {
        results.push(joined);
    }
    let _ = writer.await;
    summarize(results)
}

type Joined = Result<(usize, Result<FlowSummary, TailError>), tokio::task::JoinError>;

fn summarize(results: Vec<Joined>) -> Result<Summary, TailError> {
    let mut flows = Vec::new();
    for joined in results {
        match joined {
            Ok((index, Ok(summary))) => flows.push((index, summary)),
            Ok((_, Err(e))) => return Err(e),
            Err(e) => tracing::error!(error = %e, "a flow's task failed"),
        }
    }
    flows.sort_by_key(|(index, _)| *index);
    Ok(Summary {
        flows: flows.into_iter().map(|(_, f)| f).collect(),
    })
}

/// The stream exists (DescribeStreamSummary), or a typed error says why it cannot be used.
async fn check_stream(client: &Client, stream: &str) -> Result<(), TailError> {
    let call = client.describe_stream_summary().stream_name(stream).send();
    let kinesis = |message: String, retryable| TailError::Kinesis {
        stream: stream.to_owned(),
        message,
        retryable,
    };
    match tokio::time::timeout(DESCRIBE_TIMEOUT, call).await {
        Err(_) => Err(kinesis("no answer within 10 s".into(), true)),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                return Err(TailError::StreamNotFound {
                    stream: stream.to_owned(),
                });
            }
            // No response (connection, timeout), a 5xx, or the control plane's throttling.
            let retryable = e
                .raw_response()
                .is_none_or(|r| r.status().is_server_error())
                || e.as_service_error()
                    .is_some_and(|s| s.is_limit_exceeded_exception());
            Err(kinesis(
                aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
                retryable,
            ))
        }
    }
}
