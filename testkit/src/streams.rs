//! Small helpers around the real Kinesis SDK for tests and examples.

use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::{
    ConsumerStatus, Record, Shard, ShardIteratorType, StreamDescriptionSummary, StreamStatus,
};

/// A Kinesis call failed, or a stream did not become active in time.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The SDK call failed.
    #[error("{operation} failed: {message}")]
    Sdk {
        /// Which API operation.
        operation: &'static str,
        /// The SDK error with its context.
        message: String,
    },
    /// The stream did not reach ACTIVE in time.
    #[error("stream {0} did not become ACTIVE within 30 s")]
    NotActive(String),
}

fn sdk<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> StreamsError {
    move |e| StreamsError::Sdk {
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

/// `base` as a stream name for this test process: unchanged on the embedded server (fresh
/// for every [`LocalAws`](crate::LocalAws)), made unique (`base-<pid>-<n>`) when the tests
/// share an external server named by [`KINESIS_ENDPOINT_ENV`](crate::KINESIS_ENDPOINT_ENV).
///
/// ```
/// let name = testkit::streams::name_for_this_run("orders");
/// assert!(name.starts_with("orders"));
/// ```
pub fn name_for_this_run(base: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if std::env::var_os(crate::KINESIS_ENDPOINT_ENV).is_none_or(|v| v.is_empty()) {
        return base.to_owned();
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{base}-{}-{n}", std::process::id())
}

/// Creates a stream with `shards` shards and waits until it is ACTIVE.
pub async fn create_stream(client: &Client, name: &str, shards: i32) -> Result<(), StreamsError> {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .map_err(sdk("CreateStream"))?;
    wait_active(client, name).await
}

/// The stream's registered enhanced fan-out consumers, by name, with their status (one
/// ListStreamConsumers page: enough for tests).
///
/// ```no_run
/// # async fn demo(kinesis: aws_sdk_kinesis::Client) -> Result<(), testkit::streams::StreamsError> {
/// // Nothing registered until a fan-out consumer asks for it.
/// assert!(testkit::streams::stream_consumers(&kinesis, "orders").await?.is_empty());
/// # Ok(()) }
/// ```
pub async fn stream_consumers(
    client: &Client,
    name: &str,
) -> Result<Vec<(String, ConsumerStatus)>, StreamsError> {
    let arn = summary(client, name)
        .await?
        .map(|d| d.stream_arn)
        .unwrap_or_default();
    let listed = client
        .list_stream_consumers()
        .stream_arn(arn)
        .send()
        .await
        .map_err(sdk("ListStreamConsumers"))?;
    Ok(listed
        .consumers()
        .iter()
        .map(|c| (c.consumer_name().to_owned(), c.consumer_status().clone()))
        .collect())
}

/// DescribeStreamSummary's description of the stream.
async fn summary(
    client: &Client,
    name: &str,
) -> Result<Option<StreamDescriptionSummary>, StreamsError> {
    let out = client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .map_err(sdk("DescribeStreamSummary"))?;
    Ok(out.stream_description_summary)
}

/// Waits until the stream is ACTIVE (polling DescribeStreamSummary every 10 ms, up to 30 s).
pub async fn wait_active(client: &Client, name: &str) -> Result<(), StreamsError> {
    for _ in 0..3000 {
        let status = summary(client, name).await?.map(|d| d.stream_status);
        if status == Some(StreamStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(StreamsError::NotActive(name.to_owned()))
}

/// Every shard of the stream (open and closed), following ListShards pagination.
pub async fn list_shards(client: &Client, name: &str) -> Result<Vec<Shard>, StreamsError> {
    let mut shards = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let request = match &next {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_name(name),
        };
        let page = request.send().await.map_err(sdk("ListShards"))?;
        shards.extend(page.shards().iter().cloned());
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return Ok(shards);
        }
    }
}

/// Every record of one shard from TRIM_HORIZON up to the latest one.
pub async fn read_shard(
    client: &Client,
    name: &str,
    shard_id: &str,
) -> Result<Vec<Record>, StreamsError> {
    let mut iterator = client
        .get_shard_iterator()
        .stream_name(name)
        .shard_id(shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(sdk("GetShardIterator"))?
        .shard_iterator;
    let mut records = Vec::new();
    while let Some(it) = iterator {
        let page = client
            .get_records()
            .shard_iterator(it)
            .send()
            .await
            .map_err(sdk("GetRecords"))?;
        let caught_up = page.records().is_empty() && page.millis_behind_latest() == Some(0);
        records.extend(page.records().iter().cloned());
        iterator = if caught_up {
            None
        } else {
            page.next_shard_iterator().map(str::to_owned)
        };
    }
    Ok(records)
}

/// Every record of every shard of the stream, with its shard id.
pub async fn read_stream(
    client: &Client,
    name: &str,
) -> Result<Vec<(String, Record)>, StreamsError> {
    let mut out = Vec::new();
    for shard in list_shards(client, name).await? {
        let id = shard.shard_id().to_owned();
        for record in read_shard(client, name, &id).await? {
            out.push((id.clone(), record));
        }
    }
    Ok(out)
}
