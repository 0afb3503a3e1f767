//! `kinesis stream list|create|describe|delete|split|merge|scale`.

mod manage;
mod reshard;
mod table;
mod wait;

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::args::parse_duration;
use crate::aws::Aws;
use crate::error::CliError;

const EXAMPLES: &str = "\
Examples:
  kinesis stream list
  kinesis stream create orders --shards 4 --wait
  kinesis stream create clicks --on-demand --wait
  kinesis stream describe orders                 # status, then one row per shard (open and closed)
  kinesis stream split orders shardId-000000000000 --wait
  kinesis stream merge orders shardId-000000000001 shardId-000000000002 --wait
  kinesis stream scale orders --shards 8 --wait
  kinesis stream delete orders --wait";

/// `kinesis stream ...`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct StreamArgs {
    #[command(subcommand)]
    command: StreamCommand,
}

/// `--wait` and how long.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct WaitArgs {
    /// Wait until the stream is ACTIVE again (gone, for delete), then show it.
    #[arg(long)]
    wait: bool,
    /// Longest wait for --wait.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    wait_timeout: Duration,
}

#[derive(Debug, Subcommand)]
enum StreamCommand {
    /// The streams of the account and region, one name per line.
    List,
    /// Create a stream (provisioned with --shards, or on demand).
    #[command(
        after_help = "Examples:\n  kinesis stream create orders --shards 4 --wait\n  kinesis stream create clicks --on-demand"
    )]
    Create(manage::CreateArgs),
    /// Status, retention and mode, then the shards: id, state, parents, hash range.
    #[command(after_help = "Example:\n  kinesis stream describe orders")]
    Describe(manage::DescribeArgs),
    /// Delete a stream and its records.
    #[command(after_help = "Example:\n  kinesis stream delete orders --wait")]
    Delete(manage::DeleteArgs),
    /// Split a shard in two (in the middle of its hash range unless --at says where).
    #[command(
        after_help = "Examples:\n  kinesis stream split orders shardId-000000000000 --wait\n  kinesis stream split orders shardId-000000000000 --at 85070591730234615865843651857942052864"
    )]
    Split(reshard::SplitArgs),
    /// Merge two shards with adjacent hash ranges into one.
    #[command(
        after_help = "Example:\n  kinesis stream merge orders shardId-000000000001 shardId-000000000002 --wait"
    )]
    Merge(reshard::MergeArgs),
    /// Change the number of open shards (uniform scaling).
    #[command(after_help = "Example:\n  kinesis stream scale orders --shards 8 --wait")]
    Scale(reshard::ScaleArgs),
}

/// Runs `kinesis stream ...`.
pub(crate) async fn run(aws: &Aws, args: StreamArgs) -> Result<(), CliError> {
    let client = aws.kinesis();
    match args.command {
        StreamCommand::List => manage::list(aws, &client).await,
        StreamCommand::Create(a) => manage::create(aws, &client, a).await,
        StreamCommand::Describe(a) => manage::describe(aws, &client, &a.stream).await,
        StreamCommand::Delete(a) => manage::delete(aws, &client, a).await,
        StreamCommand::Split(a) => reshard::split(aws, &client, a).await,
        StreamCommand::Merge(a) => reshard::merge(aws, &client, a).await,
        StreamCommand::Scale(a) => reshard::scale(aws, &client, a).await,
    }
}
