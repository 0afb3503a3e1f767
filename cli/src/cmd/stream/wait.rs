//! `--wait`: until a stream is ACTIVE (after create and resharding) or gone (after delete).

use std::time::Duration;

use aws_sdk_kinesis::types::StreamStatus;
use tokio::time::Instant;

use crate::aws::{Aws, FailureKind};
use crate::error::CliError;

/// How often the status is asked (DescribeStreamSummary allows 20 calls a second).
const POLL: Duration = Duration::from_millis(250);

/// The stream's status, `None` once it does not exist.
async fn status(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<Option<StreamStatus>, CliError> {
    let summary = aws
        .retry
        .call("DescribeStreamSummary", || {
            client.describe_stream_summary().stream_name(stream).send()
        })
        .await;
    match summary {
        Ok(s) => Ok(s
            .stream_description_summary()
            .map(|d| d.stream_status().clone())),
        Err(f) if f.kind == FailureKind::NotFound => Ok(None),
        Err(f) => Err(aws.kinesis_error(stream, f)),
    }
}

/// Waits until `stream` is ACTIVE, at most `limit`.
pub(crate) async fn active(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    limit: Duration,
) -> Result<(), CliError> {
    match until(aws, client, stream, limit, |s| {
        s == Some(&StreamStatus::Active)
    })
    .await?
    {
        Some(_) => Ok(()),
        None => Err(CliError::StreamNotFound {
            stream: stream.to_owned(),
            region: aws.region().to_owned(),
            endpoint: aws.endpoint(crate::aws::Service::Kinesis),
        }),
    }
}

/// Waits until `stream` no longer exists, at most `limit`.
pub(crate) async fn gone(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    limit: Duration,
) -> Result<(), CliError> {
    until(aws, client, stream, limit, |s| s.is_none()).await?;
    Ok(())
}

/// Polls the status until `done` says so (returning it), or the stream is gone, or
/// `limit` has passed.
async fn until(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    limit: Duration,
    done: impl Fn(Option<&StreamStatus>) -> bool,
) -> Result<Option<StreamStatus>, CliError> {
    let started = Instant::now();
    loop {
        let now = status(aws, client, stream).await?;
        if done(now.as_ref()) || now.is_none() {
            return Ok(now);
        }
        if started.elapsed() >= limit {
            return Err(CliError::WaitTimedOut {
                stream: stream.to_owned(),
                status: now.map_or_else(String::new, |s| s.as_str().to_owned()),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
