//! A lease as the table holds it.

use bytes::Bytes;
use kinesis_agg::HashRange;

use crate::Position;

/// One item of the lease table: the lease of one shard.
///
/// ```
/// use kcl::{Lease, Position};
/// let lease = Lease::new("shardId-000000000000", Position::TrimHorizon);
/// assert_eq!(lease.counter, 0);
/// assert!(lease.owner.is_none());
/// assert!(!lease.is_finished());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// `leaseKey`: the shard id.
    pub key: String,
    /// `leaseOwner`: the worker holding it, if any; during a graceful hand-off, the worker
    /// it is being handed to.
    pub owner: Option<String>,
    /// `checkpointOwner`: during a graceful hand-off (the Java KCL 3.x protocol), the
    /// worker handing it over, which still holds it until its final checkpoint.
    pub checkpoint_owner: Option<String>,
    /// `leaseCounter`: the fencing counter, +1 on every write.
    pub counter: u64,
    /// `checkpoint` and `checkpointSubSequenceNumber`.
    pub checkpoint: Position,
    /// `pendingCheckpoint` and `pendingCheckpointSubSequenceNumber`: a prepared checkpoint.
    pub pending_checkpoint: Option<Position>,
    /// `pendingCheckpointState`: application state stored with the prepared checkpoint.
    pub pending_checkpoint_state: Option<Bytes>,
    /// `ownerSwitchesSinceCheckpoint`.
    pub owner_switches_since_checkpoint: u64,
    /// `parentShardId` (a string set).
    pub parent_shard_ids: Vec<String>,
    /// `childShardIds` (a string set), written at shard end.
    pub child_shard_ids: Vec<String>,
    /// `startingHashKey` and `endingHashKey`.
    pub hash_range: Option<HashRange>,
    /// `kclHolder` (kcl's own attribute): the kcl worker that last took the lease. It
    /// names the owner only while a kcl worker holds it (a Java worker's take leaves it
    /// as it was); such an owner gives up all its leases together when one of them
    /// expires, so another worker may watch one of them for all.
    pub kcl_holder: Option<String>,
}

impl Lease {
    /// A new, unowned lease at `checkpoint`.
    pub fn new(key: impl Into<String>, checkpoint: Position) -> Lease {
        Lease {
            key: key.into(),
            owner: None,
            checkpoint_owner: None,
            counter: 0,
            checkpoint,
            pending_checkpoint: None,
            pending_checkpoint_state: None,
            owner_switches_since_checkpoint: 0,
            parent_shard_ids: Vec::new(),
            child_shard_ids: Vec::new(),
            hash_range: None,
            kcl_holder: None,
        }
    }

    /// The worker that holds it now: the one handing it over during a hand-off, else the
    /// owner.
    ///
    /// ```
    /// let mut lease = kcl::Lease::new("shardId-000000000000", kcl::Position::TrimHorizon);
    /// lease.owner = Some("new".into());
    /// assert_eq!(lease.actual_owner(), Some("new"));
    /// lease.checkpoint_owner = Some("old".into()); // a hand-off from "old" to "new"
    /// assert_eq!(lease.actual_owner(), Some("old"));
    /// ```
    pub fn actual_owner(&self) -> Option<&str> {
        self.checkpoint_owner.as_deref().or(self.owner.as_deref())
    }

    /// Whether a graceful hand-off of it is in progress.
    pub fn is_handing_off(&self) -> bool {
        self.checkpoint_owner.is_some()
    }

    /// Whether the shard was fully processed (`checkpoint` is `SHARD_END`).
    pub fn is_finished(&self) -> bool {
        self.checkpoint == Position::ShardEnd
    }

    /// Whether its consumer has made progress past the start (a sequence checkpoint or
    /// `SHARD_END`), which is what lets a finished parent be deleted.
    pub fn has_started(&self) -> bool {
        matches!(self.checkpoint, Position::At { .. } | Position::ShardEnd)
    }

    /// Whether a kcl worker holds it now (`kclHolder` is its owner) and it is neither
    /// finished nor in a hand-off: a lease whose counter shows whether its holder is alive.
    ///
    /// ```
    /// let mut lease = kcl::Lease::new("shardId-000000000000", kcl::Position::TrimHorizon);
    /// lease.owner = Some("w".into());
    /// assert!(!lease.is_held_by_kcl()); // taken by a Java worker, or not yet marked
    /// lease.kcl_holder = Some("w".into());
    /// assert!(lease.is_held_by_kcl());
    /// ```
    pub fn is_held_by_kcl(&self) -> bool {
        self.owner.is_some()
            && self.owner == self.kcl_holder
            && self.checkpoint_owner.is_none()
            && !self.is_finished()
    }
}
