//! What the reader of a [`RecordStream`](super::RecordStream) has taken of each shard: the
//! one fact every stream checkpoint is bounded by. A record counts as taken once the
//! stream has handed it out; records still buffered in the stream, or still in the worker,
//! are never covered by a checkpoint made through the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::{CheckpointError, Checkpointer, Position};

/// One acquisition of a shard's lease, as the stream sees it.
#[derive(Debug)]
pub(crate) struct TakenShard {
    pub(crate) checkpointer: Checkpointer,
    /// The last record handed to the reader.
    taken: Mutex<Option<Position>>,
}

impl TakenShard {
    pub(crate) fn new(checkpointer: Checkpointer) -> Self {
        TakenShard {
            checkpointer,
            taken: Mutex::new(None),
        }
    }

    fn taken(&self) -> std::sync::MutexGuard<'_, Option<Position>> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reader was handed the record at `position`.
    pub(crate) fn take(&self, position: Position) {
        let mut taken = self.taken();
        if taken.as_ref().is_none_or(|t| position > *t) {
            *taken = Some(position);
        }
    }

    /// Checkpoints at the last record taken; `false` when there was nothing new.
    pub(crate) async fn checkpoint_taken(&self) -> Result<bool, CheckpointError> {
        let Some(position) = self.taken().clone() else {
            return Ok(false);
        };
        if position <= self.checkpointer.last_checkpoint() {
            return Ok(false);
        }
        self.checkpointer.checkpoint_to(position).await?;
        Ok(true)
    }
}

/// The shards the stream's worker holds now, for checkpointing everything taken.
#[derive(Debug, Default)]
pub(crate) struct TakenShards {
    shards: Mutex<HashMap<String, Arc<TakenShard>>>,
}

impl TakenShards {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TakenShard>>> {
        self.shards.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A shard acquired: its records come through `shard` from now on.
    pub(crate) fn register(&self, shard: Arc<TakenShard>) {
        let key = shard.checkpointer.shard_id().to_owned();
        self.lock().insert(key, shard);
    }

    /// A shard's consumer ended.
    pub(crate) fn unregister(&self, shard: &Arc<TakenShard>) {
        let mut shards = self.lock();
        let key = shard.checkpointer.shard_id();
        if shards.get(key).is_some_and(|s| Arc::ptr_eq(s, shard)) {
            shards.remove(key);
        }
    }

    /// Checkpoints every shard still held at the last record taken from it; returns how
    /// many were checkpointed. Shards whose lease was lost are skipped (their records are
    /// delivered again by the next owner).
    pub(crate) async fn checkpoint_all(&self) -> Result<usize, CheckpointError> {
        let shards: Vec<Arc<TakenShard>> = self.lock().values().cloned().collect();
        let mut done = 0;
        let mut first_error = None;
        for shard in shards.iter().filter(|s| s.checkpointer.lease_valid()) {
            match shard.checkpoint_taken().await {
                Ok(true) => done += 1,
                Ok(false) | Err(CheckpointError::LeaseLost { .. }) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(done), Err)
    }
}
