//! What happens at the end of a closed shard: child leases are created, the parent's
//! `childShardIds` is written, then the processor must checkpoint `SHARD_END`.
//!
//! The children are created before the parent is marked finished (as the Java KCL does),
//! so a finished lease always has its children in the table. A shard that no longer
//! exists ends the same way; when it has no children either, its finished lease is
//! garbage and is deleted at once (the Java KCL's cleanup of such leases).

use std::time::Duration;

use super::ConsumerError;
use crate::lease::sync_plan::ShardInfo;
use crate::lease::{HeldLeases, Lease, LeaseStoreError};
use crate::retrieval::ShardEnding;
use crate::{CheckpointError, Checkpointer, Position, ShardProcessor};

/// Attempts at creating a child lease when DynamoDB throttles or fails transiently.
const CREATE_ATTEMPTS: u32 = 5;

pub(crate) async fn finish<P: ShardProcessor>(
    leases: &HeldLeases,
    lease: &Lease,
    ending: &ShardEnding,
    checkpointer: &Checkpointer,
    processor: &mut P,
) -> Result<(), ConsumerError> {
    let children = &ending.children;
    for child in children {
        create_child(leases, child)
            .await
            .map_err(|source| ConsumerError::ChildLeases {
                shard_id: lease.key.clone(),
                source,
            })?;
    }
    let ids: Vec<String> = children.iter().map(|c| c.id.clone()).collect();
    if !ids.is_empty() {
        checkpointer
            .write_child_shard_ids(&ids)
            .await
            .map_err(|e| match e {
                CheckpointError::LeaseLost { shard_id } => ConsumerError::LeaseLost { shard_id },
                other => ConsumerError::Checkpoint {
                    shard_id: lease.key.clone(),
                    source: other,
                },
            })?;
    }
    checkpointer.shard_ended();
    processor.shard_ended(checkpointer.clone()).await;
    if checkpointer.last_checkpoint() != Position::ShardEnd {
        return Err(ConsumerError::ShardEndNotCheckpointed {
            shard_id: lease.key.clone(),
        });
    }
    tracing::info!(shard = %lease.key, children = ?ids, gone = ending.gone, "shard finished");
    if ending.gone && ids.is_empty() {
        delete_garbage(leases, checkpointer).await;
    }
    Ok(())
}

/// Deletes the finished lease of a shard that no longer exists and has no children (a
/// failure only leaves it for the cleanup of finished leases to find).
async fn delete_garbage(leases: &HeldLeases, checkpointer: &Checkpointer) {
    let key = checkpointer.shard_id();
    let Some(held) = leases.get(key, checkpointer.token()) else {
        return;
    };
    if let Err(e) = leases.delete_finished(&held).await {
        tracing::warn!(shard = key, error = %e, "could not delete the lease of a gone shard");
    }
}

async fn create_child(leases: &HeldLeases, child: &ShardInfo) -> Result<(), LeaseStoreError> {
    let lease = child.lease_at(Position::TrimHorizon);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match leases.store().create_if_absent(&lease).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < CREATE_ATTEMPTS => {
                tokio::time::sleep(crate::backoff::delay(attempt, Duration::from_millis(50))).await;
            }
            Err(e) => return Err(e),
        }
    }
}
