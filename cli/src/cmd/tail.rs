//! `kinesis tail`: the Kinesis Agent's job, by the `kinesis-tail` library: flows from a
//! TOML or JSON file (`--config`), or one flow from flags (`kinesis tail --stream S
//! 'logs/*.log'`); SIGINT / SIGTERM stop it gracefully (records in flight are waited for,
//! then the checkpoints are written). A summary per file goes to stderr at the end.

use kinesis_tail::{Summary, TailArgs, TailError};

use crate::aws::{Aws, Service};
use crate::error::CliError;

/// Runs `kinesis tail`.
pub(crate) async fn run(aws: &Aws, args: TailArgs) -> Result<(), CliError> {
    let config = args
        .to_config()
        .map_err(|e| CliError::Usage(format!("tail: {e}")))?;
    // The producer (kpl) retries itself; the stream check is one call.
    let client = aws.kinesis();
    eprintln!("kinesis tail: running; SIGINT or SIGTERM stops it (checkpoints are kept)");
    let summary = kinesis_tail::run(config, client, crate::signal::shutdown())
        .await
        .map_err(|e| tail_error(aws, e))?;
    eprint!("{}", summary_text(&summary));
    Ok(())
}

fn tail_error(aws: &Aws, e: TailError) -> CliError {
    match e {
        TailError::StreamNotFound { stream } => CliError::StreamNotFound {
            stream,
            region: aws.region().to_owned(),
            endpoint: aws.endpoint(Service::Kinesis),
        },
        TailError::Config(e) => CliError::Usage(format!("tail: {e}")),
        other => CliError::Tail(other.to_string()),
    }
}

/// One line per file, then the totals.
fn summary_text(summary: &Summary) -> String {
    let mut out = String::new();
    for flow in &summary.flows {
        for f in &flow.files {
            out.push_str(&format!(
                "kinesis tail: {}: {} lines read, {} records sent, {} failed, {} truncated\n",
                f.path.display(),
                f.lines_read,
                f.records_sent,
                f.records_failed,
                f.records_truncated
            ));
        }
    }
    out.push_str(&format!(
        "kinesis tail: lines read: {}; records sent: {}\n",
        summary.lines_read(),
        summary.records_sent()
    ));
    out
}
