//! The checkpointer a processor records its progress with.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use crate::lease::{ConcurrencyToken, HeldLeases, LeaseStoreError};
use crate::{Position, SequenceNumber};

/// A checkpoint was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The position is not between the last checkpoint and the last delivered record.
    #[error(
        "checkpoint {requested} is outside [{last_checkpoint}, {last_delivered}] (last checkpoint, last record delivered)"
    )]
    OutOfRange {
        /// The position asked for.
        requested: Position,
        /// The last checkpoint written.
        last_checkpoint: Position,
        /// The last record delivered (`SHARD_END` once the shard ended).
        last_delivered: Position,
    },
    /// Only a record position or `SHARD_END` can be checkpointed.
    #[error("cannot checkpoint at {0}: only a record position or SHARD_END")]
    NotARecordPosition(Position),
    /// The lease of this shard was lost (possibly taken again since, under another
    /// acquisition): this processor may no longer checkpoint.
    #[error("the lease of shard {shard_id} was lost; this processor can no longer checkpoint")]
    LeaseLost {
        /// The shard.
        shard_id: String,
    },
    /// The lease table write failed.
    #[error("checkpoint of shard {shard_id} failed: {source}")]
    Store {
        /// The shard.
        shard_id: String,
        /// The table error.
        source: LeaseStoreError,
    },
}

impl CheckpointError {
    /// Whether trying again may succeed (throttling, a transient DynamoDB failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CheckpointError::Store { source, .. } if source.is_retryable())
    }
}

/// Checks that `requested` lies in `[last_checkpoint, last_delivered]` and is a record
/// position or `SHARD_END`.
pub(crate) fn check_range(
    requested: &Position,
    last_checkpoint: &Position,
    last_delivered: &Position,
) -> Result<(), CheckpointError> {
    if !matches!(requested, Position::At { .. } | Position::ShardEnd) {
        return Err(CheckpointError::NotARecordPosition(requested.clone()));
    }
    if requested < last_checkpoint || requested > last_delivered {
        return Err(CheckpointError::OutOfRange {
            requested: requested.clone(),
            last_checkpoint: last_checkpoint.clone(),
            last_delivered: last_delivered.clone(),
        });
    }
    Ok(())
}

/// Records a shard's progress in the lease table, fenced on the lease this processor
/// was given: once that lease is lost, every checkpoint fails with
/// [`CheckpointError::LeaseLost`], even if this worker takes the lease again.
///
/// A checkpoint must lie between the last checkpoint and the last record delivered. At
/// shard end the last delivered position becomes `SHARD_END`, and checkpointing the
/// last record (or calling [`checkpoint`](Self::checkpoint)) records `SHARD_END`.
/// Cheap to clone; clones share state.
///
/// ```no_run
/// # async fn demo(input: kcl::ProcessRecordsInput) -> Result<(), kcl::CheckpointError> {
/// for record in &input.records { /* process */ }
/// input.checkpointer.checkpoint().await?; // everything delivered so far
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Checkpointer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shard_id: String,
    token: ConcurrencyToken,
    leases: Arc<HeldLeases>,
    range: Mutex<Range>,
    /// Serializes writes so the table never goes backwards.
    write: tokio::sync::Mutex<()>,
    last: watch::Sender<Position>,
}

#[derive(Debug, Clone)]
struct Range {
    last_checkpoint: Position,
    last_delivered: Position,
    /// The last record before `SHARD_END`, once the shard ended.
    last_record_at_end: Option<Position>,
}

/// A checkpoint written as pending (two-phase): commit it with
/// [`checkpoint`](Self::checkpoint).
///
/// ```no_run
/// # async fn demo(c: kcl::Checkpointer) -> Result<(), kcl::CheckpointError> {
/// let prepared = c.prepare_checkpoint(Some(bytes::Bytes::from_static(b"offsets=42"))).await?;
/// // ... make the side effects durable ...
/// prepared.checkpoint().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PreparedCheckpoint {
    checkpointer: Checkpointer,
    position: Position,
}

impl PreparedCheckpoint {
    /// The prepared position.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Commits the prepared position as the checkpoint (clearing the pending fields).
    pub async fn checkpoint(self) -> Result<(), CheckpointError> {
        self.checkpointer.checkpoint_to(self.position).await
    }
}

impl Checkpointer {
    pub(crate) fn new(
        shard_id: String,
        token: ConcurrencyToken,
        leases: Arc<HeldLeases>,
        checkpoint: Position,
    ) -> Checkpointer {
        Checkpointer {
            inner: Arc::new(Inner {
                shard_id,
                token,
                leases,
                range: Mutex::new(Range {
                    last_checkpoint: checkpoint.clone(),
                    last_delivered: checkpoint.clone(),
                    last_record_at_end: None,
                }),
                write: tokio::sync::Mutex::new(()),
                last: watch::channel(checkpoint).0,
            }),
        }
    }

    fn range(&self) -> std::sync::MutexGuard<'_, Range> {
        self.inner.range.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shard.
    pub fn shard_id(&self) -> &str {
        &self.inner.shard_id
    }

    /// The acquisition of the lease this checkpointer writes to.
    pub(crate) fn token(&self) -> ConcurrencyToken {
        self.inner.token
    }

    /// The last checkpoint written (or the lease's checkpoint when none was yet).
    pub fn last_checkpoint(&self) -> Position {
        self.range().last_checkpoint.clone()
    }

    /// The last record delivered to the processor (`SHARD_END` once the shard ended).
    pub fn last_delivered(&self) -> Position {
        self.range().last_delivered.clone()
    }

    /// Watches the last checkpoint.
    pub fn watch(&self) -> watch::Receiver<Position> {
        self.inner.last.subscribe()
    }

    pub(crate) fn delivered(&self, position: Position) {
        let mut range = self.range();
        if position > range.last_delivered {
            range.last_delivered = position;
        }
    }

    /// Whether the checkpoint covers every record of the ended shard (so `SHARD_END` may be
    /// written without covering anything the processor has not checkpointed).
    pub(crate) fn end_covered(&self) -> bool {
        let range = self.range();
        range.last_checkpoint == Position::ShardEnd
            || range.last_record_at_end.as_ref() == Some(&range.last_checkpoint)
    }

    /// Whether the lease this checkpointer writes to is still held and valid.
    pub(crate) fn lease_valid(&self) -> bool {
        self.inner
            .leases
            .get(&self.inner.shard_id, self.inner.token)
            .is_some_and(|held| held.validity.check(tokio::time::Instant::now()).is_ok())
    }

    pub(crate) fn shard_ended(&self) {
        let mut range = self.range();
        range.last_record_at_end = Some(range.last_delivered.clone());
        range.last_delivered = Position::ShardEnd;
    }

    /// Checkpoints everything delivered so far (a no-op when nothing was delivered
    /// since the last checkpoint).
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        let position = self.last_delivered();
        self.checkpoint_to(position).await
    }

    /// Checkpoints at a record: its sequence number and sub-sequence number.
    pub async fn checkpoint_at(
        &self,
        sequence_number: &SequenceNumber,
        sub_sequence_number: u64,
    ) -> Result<(), CheckpointError> {
        self.checkpoint_to(Position::At {
            seq: sequence_number.clone(),
            sub_seq: sub_sequence_number,
        })
        .await
    }

    /// Checkpoints at `position` (a record position, or `SHARD_END` after the shard ended).
    pub async fn checkpoint_to(&self, position: Position) -> Result<(), CheckpointError> {
        let _write = self.inner.write.lock().await;
        let position = {
            let range = self.range();
            if position == range.last_checkpoint {
                // Nothing new (also when nothing was delivered yet): no write, as in the KCL.
                return Ok(());
            }
            check_range(&position, &range.last_checkpoint, &range.last_delivered)?;
            if range.last_record_at_end.as_ref() == Some(&position) {
                Position::ShardEnd
            } else {
                position
            }
        };
        if position == self.last_checkpoint() {
            return Ok(());
        }
        let (store, me) = (self.inner.leases.store(), self.inner.leases.worker_id());
        self.fenced(|counter| store.checkpoint(&self.inner.shard_id, counter, me, &position))
            .await?;
        self.range().last_checkpoint = position.clone();
        self.inner.last.send_replace(position);
        Ok(())
    }

    /// Prepares a checkpoint at everything delivered so far, with optional application state.
    pub async fn prepare_checkpoint(
        &self,
        application_state: Option<Bytes>,
    ) -> Result<PreparedCheckpoint, CheckpointError> {
        let position = self.last_delivered();
        self.prepare_checkpoint_to(position, application_state)
            .await
    }

    /// Prepares a checkpoint at `position`, with optional application state: written to
    /// the lease as `pendingCheckpoint*` without moving the checkpoint.
    pub async fn prepare_checkpoint_to(
        &self,
        position: Position,
        application_state: Option<Bytes>,
    ) -> Result<PreparedCheckpoint, CheckpointError> {
        let _write = self.inner.write.lock().await;
        {
            let range = self.range();
            check_range(&position, &range.last_checkpoint, &range.last_delivered)?;
        }
        let (store, me) = (self.inner.leases.store(), self.inner.leases.worker_id());
        let state = application_state.as_ref();
        self.fenced(|counter| {
            store.prepare_checkpoint(&self.inner.shard_id, counter, me, &position, state)
        })
        .await?;
        Ok(PreparedCheckpoint {
            checkpointer: self.clone(),
            position,
        })
    }

    /// Writes child shard ids at shard end (fenced like a checkpoint).
    pub(crate) async fn write_child_shard_ids(
        &self,
        children: &[String],
    ) -> Result<(), CheckpointError> {
        let (store, me) = (self.inner.leases.store(), self.inner.leases.worker_id());
        self.fenced(|counter| {
            store.set_child_shard_ids(&self.inner.shard_id, counter, me, children)
        })
        .await
    }

    async fn fenced<F, Fut>(&self, op: F) -> Result<(), CheckpointError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<u64, LeaseStoreError>>,
    {
        let lost = || CheckpointError::LeaseLost {
            shard_id: self.inner.shard_id.clone(),
        };
        let held = self
            .inner
            .leases
            .get(&self.inner.shard_id, self.inner.token)
            .ok_or_else(lost)?;
        match self.inner.leases.write(&held, op).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_condition_failed() => Err(lost()),
            Err(source) => Err(CheckpointError::Store {
                shard_id: self.inner.shard_id.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str, sub: u64) -> Position {
        Position::at(s, sub).unwrap()
    }

    #[test]
    fn a_checkpoint_must_lie_between_the_last_checkpoint_and_the_last_delivered() {
        let (last, delivered) = (at("10", 2), at("20", 0));
        assert!(check_range(&at("10", 2), &last, &delivered).is_ok());
        assert!(check_range(&at("15", 0), &last, &delivered).is_ok());
        assert!(check_range(&at("20", 0), &last, &delivered).is_ok());
        assert!(matches!(
            check_range(&at("10", 1), &last, &delivered),
            Err(CheckpointError::OutOfRange { .. })
        ));
        assert!(matches!(
            check_range(&at("20", 1), &last, &delivered),
            Err(CheckpointError::OutOfRange { .. })
        ));
        assert!(matches!(
            check_range(&Position::ShardEnd, &last, &delivered),
            Err(CheckpointError::OutOfRange { .. })
        ));
        assert!(check_range(&Position::ShardEnd, &last, &Position::ShardEnd).is_ok());
        assert_eq!(
            check_range(&Position::TrimHorizon, &Position::TrimHorizon, &delivered),
            Err(CheckpointError::NotARecordPosition(Position::TrimHorizon))
        );
        // From a sentinel start, any delivered record is in range.
        assert!(check_range(&at("1", 0), &Position::Latest, &delivered).is_ok());
        let msg = check_range(&at("99", 0), &last, &delivered)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("99/0") && msg.contains("10/2") && msg.contains("20/0"),
            "{msg}"
        );
    }
}
