//! `stream split`, `merge` and `scale`: the three ways to reshard.

use aws_sdk_kinesis::types::ScalingType;
use clap::Args;
use kinesis_agg::{HashKey, HashRange};

use super::{WaitArgs, table, wait};
use crate::aws::Aws;
use crate::error::CliError;
use crate::shards::{self, ShardInfo};

/// `stream split`.
#[derive(Debug, Args)]
pub(crate) struct SplitArgs {
    /// The stream's name.
    stream: String,
    /// The open shard to split.
    shard: String,
    /// The first hash key of the second child (decimal); default the middle of the range.
    #[arg(long, value_name = "HASH_KEY")]
    at: Option<String>,
    #[command(flatten)]
    wait: WaitArgs,
}

/// `stream merge`.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The stream's name.
    stream: String,
    /// One open shard.
    shard: String,
    /// The open shard whose hash range is adjacent to it.
    adjacent: String,
    #[command(flatten)]
    wait: WaitArgs,
}

/// `stream scale`.
#[derive(Debug, Args)]
pub(crate) struct ScaleArgs {
    /// The stream's name.
    stream: String,
    /// The number of open shards wanted.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    shards: i32,
    #[command(flatten)]
    wait: WaitArgs,
}

/// Splits `shard` at `--at` or in the middle of its range.
pub(crate) async fn split(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    args: SplitArgs,
) -> Result<(), CliError> {
    let stream = args.stream.as_str();
    let given = match &args.at {
        Some(key) => Some(
            HashKey::from_decimal(key).map_err(|e| CliError::Usage(format!("--at {key}: {e}")))?,
        ),
        None => None,
    };
    let all = shards::list(aws, client, stream).await?;
    let shard = find_open(&all, stream, &args.shard)?;
    let at = match given {
        Some(at) => at,
        None => middle(shard.range).ok_or_else(|| {
            CliError::Usage(format!(
                "shard {} holds one hash key: it cannot be split",
                shard.id
            ))
        })?,
    };
    aws.retry
        .not_idempotent()
        .call("SplitShard", || {
            client
                .split_shard()
                .stream_name(stream)
                .shard_to_split(&args.shard)
                .new_starting_hash_key(at.to_string())
                .send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    finish(
        aws,
        client,
        stream,
        args.wait,
        &format!("splitting {} at {at}", args.shard),
    )
    .await
}

/// Merges `shard` with `adjacent`.
pub(crate) async fn merge(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    args: MergeArgs,
) -> Result<(), CliError> {
    let stream = args.stream.as_str();
    let all = shards::list(aws, client, stream).await?;
    find_open(&all, stream, &args.shard)?;
    find_open(&all, stream, &args.adjacent)?;
    aws.retry
        .not_idempotent()
        .call("MergeShards", || {
            client
                .merge_shards()
                .stream_name(stream)
                .shard_to_merge(&args.shard)
                .adjacent_shard_to_merge(&args.adjacent)
                .send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    let what = format!("merging {} and {}", args.shard, args.adjacent);
    finish(aws, client, stream, args.wait, &what).await
}

/// Scales to `--shards` open shards.
pub(crate) async fn scale(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    args: ScaleArgs,
) -> Result<(), CliError> {
    let stream = args.stream.as_str();
    aws.retry
        .not_idempotent()
        .call("UpdateShardCount", || {
            client
                .update_shard_count()
                .stream_name(stream)
                .target_shard_count(args.shards)
                .scaling_type(ScalingType::UniformScaling)
                .send()
        })
        .await
        .map_err(|f| aws.kinesis_error(stream, f))?;
    let what = format!("scaling to {} open shards", args.shards);
    finish(aws, client, stream, args.wait, &what).await
}

/// Says what was started; with `--wait`, waits for ACTIVE and prints the shard table.
async fn finish(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    wait: WaitArgs,
    what: &str,
) -> Result<(), CliError> {
    if !wait.wait {
        println!("{stream}: {what}; `kinesis stream describe {stream}` shows the shards");
        return Ok(());
    }
    wait::active(aws, client, stream, wait.wait_timeout).await?;
    let all = shards::list(aws, client, stream).await?;
    print!("{}", table::shard_table(&all));
    Ok(())
}

/// The shard `id` of `all`, which must be open to be split or merged.
fn find_open<'a>(all: &'a [ShardInfo], stream: &str, id: &str) -> Result<&'a ShardInfo, CliError> {
    let shard = all
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| CliError::ShardNotFound {
            stream: stream.to_owned(),
            shard: id.to_owned(),
        })?;
    if shard.closed {
        return Err(CliError::Usage(format!(
            "shard {id} of stream {stream:?} is closed: only open shards can be split or merged"
        )));
    }
    Ok(shard)
}

/// The first key of the upper half of `range`; `None` for a range of one key.
fn middle(range: HashRange) -> Option<HashKey> {
    let (start, end) = (range.start().get(), range.end().get());
    let half = (end - start) / 2;
    (end > start).then(|| HashKey::new(start + half + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_middle_splits_a_range_in_two_non_empty_halves() {
        let full = HashRange::FULL;
        assert_eq!(middle(full), Some(HashKey::new(1u128 << 127)));
        let two = HashRange::new(HashKey::new(4), HashKey::new(5)).unwrap();
        assert_eq!(middle(two), Some(HashKey::new(5)));
        let three = HashRange::new(HashKey::new(4), HashKey::new(6)).unwrap();
        assert_eq!(middle(three), Some(HashKey::new(6)));
        let one = HashRange::new(HashKey::new(4), HashKey::new(4)).unwrap();
        assert_eq!(middle(one), None);
    }
}
