//! What a subscription cannot say by itself, asked of the polling API: whether a shard
//! that answered ResourceNotFound is gone (GetShardIterator answers the same), whether an
//! idle shard is closed and fully read on a server that never signals shard end on a
//! subscription (kinesis-mock: GetRecords then answers without a next iterator, the
//! signal polling ends a shard on), and a closed shard's children when the event did
//! not name them all (from ListShards, as polling does when the service says nothing).

use std::time::Duration;

use aws_sdk_kinesis::types::ChildShard;

use super::event::trusted_children;
use crate::lease::sync_plan::ShardInfo;
use crate::retrieval::{IteratorStart, RetrievalError, ShardSpec, StreamClient};

type Result<T> = std::result::Result<T, RetrievalError>;

/// Whether `shard` no longer exists.
pub(crate) async fn is_gone(client: &StreamClient, shard: &str) -> Result<bool> {
    match client
        .shard_iterator(shard, &IteratorStart::TrimHorizon)
        .await
    {
        Ok(_) => Ok(false),
        Err(RetrievalError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// `Some(children reported)` when `shard` is closed and holds nothing after `from`.
pub(crate) async fn closed_and_read(
    client: &StreamClient,
    shard: &str,
    from: &IteratorStart,
) -> Result<Option<Vec<ChildShard>>> {
    let iterator = client.shard_iterator(shard, from).await?;
    let out = client.get_records(&iterator, 1).await?;
    if out.next_shard_iterator.is_some() || !out.records.is_empty() {
        return Ok(None);
    }
    Ok(Some(out.child_shards.unwrap_or_default()))
}

/// The children of the closed `shard`: those reported, when they can be trusted,
/// otherwise ListShards' (retrying what can be retried; none when the stream is gone).
pub(crate) async fn children(
    client: &StreamClient,
    shard: &ShardSpec,
    reported: &[ChildShard],
) -> Result<Vec<ShardInfo>> {
    if !reported.is_empty() {
        match trusted_children(reported, shard) {
            Some(children) => return Ok(children),
            None => {
                tracing::debug!(shard = %shard.id, "reported children name too few parents; asking ListShards");
            }
        }
    }
    let mut failures = 0;
    loop {
        match client.list_shards(None).await {
            Ok(shards) => {
                return Ok(shards
                    .into_iter()
                    .filter(|s| s.parents.contains(&shard.id))
                    .collect());
            }
            Err(RetrievalError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) if e.is_retryable() => {
                failures += 1;
                tracing::debug!(shard = %shard.id, error = %e, failures, "ListShards failed; retrying");
                let wait = crate::backoff::delay(failures, Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}
