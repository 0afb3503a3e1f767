//! Why a shard consumer gave its lease up.

use crate::CheckpointError;
use crate::lease::LeaseStoreError;
use crate::retrieval::RetrievalError;

/// A shard consumer could not finish its work; its lease is released so the shard is
/// tried again from its last checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerError {
    /// The processor returned from `shard_ended` without checkpointing.
    #[error(
        "the processor of shard {shard_id} did not checkpoint at shard end: ShardProcessor::shard_ended \
         must call checkpointer.checkpoint() (which records SHARD_END); until it does, the shard is \
         retried and its child shards wait"
    )]
    ShardEndNotCheckpointed {
        /// The shard.
        shard_id: String,
    },
    /// Reading the shard failed for good.
    #[error("reading shard {shard_id} failed: {source}")]
    Retrieval {
        /// The shard.
        shard_id: String,
        /// The Kinesis error.
        source: RetrievalError,
    },
    /// The child leases could not be created at shard end.
    #[error("creating the child leases of shard {shard_id} failed: {source}")]
    ChildLeases {
        /// The shard.
        shard_id: String,
        /// The table error.
        source: LeaseStoreError,
    },
    /// Writing the parent's child shard ids failed.
    #[error("recording the children of shard {shard_id} failed: {source}")]
    Checkpoint {
        /// The shard.
        shard_id: String,
        /// The checkpoint error.
        source: CheckpointError,
    },
    /// The lease was lost during the shard end work.
    #[error("the lease of shard {shard_id} was lost at shard end")]
    LeaseLost {
        /// The shard.
        shard_id: String,
    },
    /// The processor panicked.
    #[error("the processor of shard {shard_id} panicked")]
    Panicked {
        /// The shard.
        shard_id: String,
    },
}

impl ConsumerError {
    /// Whether the same work may succeed when tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConsumerError::Retrieval { source, .. } => source.is_retryable(),
            ConsumerError::ChildLeases { source, .. } => source.is_retryable(),
            ConsumerError::Checkpoint { source, .. } => source.is_retryable(),
            ConsumerError::ShardEndNotCheckpointed { .. }
            | ConsumerError::LeaseLost { .. }
            | ConsumerError::Panicked { .. } => false,
        }
    }
}
