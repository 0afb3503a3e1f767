//! `stream list`, `create`, `describe` and `delete`.

use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails};
use clap::Args;

use super::{WaitArgs, table, wait};
use crate::aws::{Aws, FailureKind};
use crate::error::CliError;
use crate::shards;
use crate::table::Table;

/// `stream create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The stream's name.
    stream: String,
    /// Open shards of a provisioned stream.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    shards: i32,
    /// On-demand capacity instead of provisioned shards.
    #[arg(long, conflicts_with = "shards")]
    on_demand: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

/// `stream describe`.
#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    /// The stream's name.
    pub(crate) stream: String,
}

/// `stream delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The stream's name.
    stream: String,
    /// Delete it even if enhanced fan-out consumers are registered (they are deregistered).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

/// Prints every stream name, one per line.
pub(crate) async fn list(aws: &Aws, client: &aws_sdk_kinesis::Client) -> Result<(), CliError> {
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .retry
            .call("ListStreams", || {
                let request = client.list_streams();
                match &next {
                    Some(token) => request.next_token(token),
                    None => request,
                }
                .send()
            })
            .await
            .map_err(|f| aws.error(crate::aws::Service::Kinesis, None, f))?;
        for name in page.stream_names() {
            println!("{name}");
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() || !page.has_more_streams() {
            return Ok(());
        }
    }
}

/// Creates the stream; with `--wait`, waits until it is ACTIVE and describes it.
pub(crate) async fn create(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    args: CreateArgs,
) -> Result<(), CliError> {
    let stream = args.stream.as_str();
    let on_demand = StreamModeDetails::builder()
        .stream_mode(StreamMode::OnDemand)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let result = aws
        .retry
        .not_idempotent()
        .call("CreateStream", || {
            let request = client.create_stream().stream_name(stream);
            let request = if args.on_demand {
                request.stream_mode_details(on_demand.clone())
            } else {
                request.shard_count(args.shards)
            };
            request.send()
        })
        .await;
    match result {
        Ok(_) => {}
        Err(f) if f.kind == FailureKind::InUse => {
            return Err(CliError::InUse {
                operation: "CreateStream",
                resource: stream.to_owned(),
                message: format!("stream {stream:?} already exists"),
            });
        }
        Err(f) => return Err(aws.kinesis_error(stream, f)),
    }
    if !args.wait.wait {
        println!("creating stream {stream}; `kinesis stream describe {stream}` shows its status");
        return Ok(());
    }
    wait::active(aws, client, stream, args.wait.wait_timeout).await?;
    describe(aws, client, stream).await
}

/// Prints the stream's summary, then its shard table.
pub(crate) async fn describe(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<(), CliError> {
    let summary = aws
        .retry
        .call("DescribeStreamSummary", || {
            client.describe_stream_summary().stream_name(stream).send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    let shards = shards::list(aws, client, stream).await?;
    let mut about = Table::new(&["STREAM", stream]);
    if let Some(d) = summary.stream_description_summary() {
        let open = shards.iter().filter(|s| !s.closed).count();
        let mode = d
            .stream_mode_details()
            .map_or("PROVISIONED", |m| m.stream_mode().as_str());
        let encryption = d.encryption_type().map_or("NONE", |e| e.as_str());
        for (name, value) in [
            ("arn", d.stream_arn().to_owned()),
            ("status", d.stream_status().as_str().to_owned()),
            ("mode", mode.to_owned()),
            ("retention", format!("{} h", d.retention_period_hours())),
            (
                "shards",
                format!("{open} open, {} closed", shards.len() - open),
            ),
            ("encryption", encryption.to_owned()),
            (
                "consumers",
                d.consumer_count().map_or("-".to_owned(), |c| c.to_string()),
            ),
        ] {
            about.row(vec![name.to_owned(), value]);
        }
    }
    print!("{}\n{}", about.render(), table::shard_table(&shards));
    Ok(())
}

/// Deletes the stream; with `--wait`, waits until it is gone.
pub(crate) async fn delete(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    args: DeleteArgs,
) -> Result<(), CliError> {
    let stream = args.stream.as_str();
    aws.retry
        .not_idempotent()
        .call("DeleteStream", || {
            client
                .delete_stream()
                .stream_name(stream)
                .enforce_consumer_deletion(args.force)
                .send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    if args.wait.wait {
        wait::gone(aws, client, stream, args.wait.wait_timeout).await?;
        println!("deleted stream {stream}");
    } else {
        println!("deleting stream {stream}");
    }
    Ok(())
}
