//! A stream's shards as ListShards reports them (every page), in the shape the tool
//! uses: id, parents, hash range, open or closed.

use aws_sdk_kinesis::types::Shard;
use kinesis_agg::HashRange;

use crate::aws::Aws;
use crate::error::CliError;

/// One shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    /// `shardId-000000000000`.
    pub(crate) id: String,
    /// The shard it was split from, or the first of the two it was merged from.
    pub(crate) parent: Option<String>,
    /// The second parent of a merge.
    pub(crate) adjacent_parent: Option<String>,
    /// Its hash keys.
    pub(crate) range: HashRange,
    /// Whether it is closed (has an ending sequence number).
    pub(crate) closed: bool,
}

impl ShardInfo {
    /// The parents, first then adjacent.
    pub(crate) fn parents(&self) -> impl Iterator<Item = &str> {
        self.parent
            .iter()
            .chain(self.adjacent_parent.iter())
            .map(String::as_str)
    }

    /// From ListShards' description; `None` when the hash range is not a valid range.
    pub(crate) fn from_sdk(shard: &Shard) -> Option<ShardInfo> {
        let keys = shard.hash_key_range()?;
        let range =
            HashRange::from_decimal(keys.starting_hash_key(), keys.ending_hash_key()).ok()?;
        Some(ShardInfo {
            id: shard.shard_id().to_owned(),
            parent: shard.parent_shard_id().map(str::to_owned),
            adjacent_parent: shard.adjacent_parent_shard_id().map(str::to_owned),
            range,
            closed: shard
                .sequence_number_range()
                .is_some_and(|r| r.ending_sequence_number().is_some()),
        })
    }
}

/// Every shard of `stream`, open and closed, following ListShards pages.
pub(crate) async fn list(
    aws: &Aws,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<Vec<ShardInfo>, CliError> {
    let mut shards = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .retry
            .call("ListShards", || {
                let request = client.list_shards();
                match &next {
                    Some(token) => request.next_token(token),
                    None => request.stream_name(stream),
                }
                .send()
            })
            .await
            .map_err(|f| aws.kinesis_error(stream, f))?;
        for shard in page.shards() {
            match ShardInfo::from_sdk(shard) {
                Some(info) => shards.push(info),
                None => tracing::warn!(
                    shard = shard.shard_id(),
                    "shard without a valid hash range; skipped"
                ),
            }
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return Ok(shards);
        }
    }
}
