//! The conditional writes to a lease, with the Java KCL's attributes and conditions, and
//! the graceful hand-off of the Java KCL 3.x (`checkpointOwner`):
//!
//! - *initiate* (by the worker taking the lease over, or by a Java 3.x leader):
//!   `leaseOwner := new, checkpointOwner := old`, the counter untouched, on condition that
//!   the old owner holds it and no hand-off is in progress;
//! - the old owner goes on holding it: its renewals and checkpoints are accepted while it is
//!   the `checkpointOwner`, and every write returns the item, so the old owner learns of the
//!   hand-off at its next write and asks its processor to shut down (a final checkpoint);
//! - *complete* (by the old owner, after that): `REMOVE checkpointOwner`, counter + 1; the new
//!   owner, which waited while `checkpointOwner` was set, takes the lease at that checkpoint;
//! - a new owner that waited longer than the hand-off timeout, or saw the lease expire,
//!   *takes* it (`REMOVE checkpointOwner`, counter + 1): a worker that does not answer (a
//!   crash, a Java 2.x worker) loses it as it would to a steal.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use bytes::Bytes;

use super::LeaseStoreError;
use super::codec::{self, attr, n, s};
use super::store::LeaseStore;
use crate::Position;

type Result<T> = std::result::Result<T, LeaseStoreError>;

/// What a write to a held lease left in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    /// The counter the write set.
    pub(crate) counter: u64,
    /// `Some(new owner)` when a hand-off of this lease to another worker is in progress
    /// (`checkpointOwner` is this worker, `leaseOwner` the new owner).
    pub(crate) handoff_to: Option<String>,
}

/// The condition of every write by the holder `:me` at counter `:held`: the counter is the
/// one held, and the lease is ours or being handed off by us.
const HELD: &str = "leaseCounter = :held AND (leaseOwner = :me OR checkpointOwner = :me)";

impl LeaseStore {
    /// Renews a held lease: counter + 1, fenced on the counter held and on the lease being
    /// ours (or handed off by us).
    pub(crate) async fn renew(&self, key: &str, held: u64, me: &str) -> Result<Written> {
        let update = self
            .held_update(key, held, me)
            .update_expression("SET leaseCounter = :next");
        self.written("UpdateItem (renew)", update, held, me).await
    }

    /// Writes a checkpoint (and clears a prepared one), fenced like a renewal.
    pub(crate) async fn checkpoint(
        &self,
        key: &str,
        held: u64,
        me: &str,
        position: &Position,
    ) -> Result<Written> {
        let (checkpoint, sub) = position.to_table();
        let update = self
            .held_update(key, held, me)
            .update_expression(
                "SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, \
                 ownerSwitchesSinceCheckpoint = :zero, leaseCounter = :next \
                 REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber, pendingCheckpointState",
            )
            .expression_attribute_values(":cp", AttributeValue::S(checkpoint))
            .expression_attribute_values(":sub", n(sub))
            .expression_attribute_values(":zero", n(0));
        self.written("UpdateItem (checkpoint)", update, held, me)
            .await
    }

    /// Writes a prepared checkpoint with optional application state, fenced like a
    /// renewal; the checkpoint itself is unchanged.
    pub(crate) async fn prepare_checkpoint(
        &self,
        key: &str,
        held: u64,
        me: &str,
        position: &Position,
        state: Option<&Bytes>,
    ) -> Result<Written> {
        let (pending, sub) = position.to_table();
        let mut update = self
            .held_update(key, held, me)
            .expression_attribute_values(":pcp", AttributeValue::S(pending))
            .expression_attribute_values(":psub", n(sub));
        update = match state {
            Some(state) => update
                .update_expression(
                    "SET pendingCheckpoint = :pcp, pendingCheckpointSubSequenceNumber = :psub, \
                     pendingCheckpointState = :pst, leaseCounter = :next",
                )
                .expression_attribute_values(":pst", codec::b(state)),
            None => update.update_expression(
                "SET pendingCheckpoint = :pcp, pendingCheckpointSubSequenceNumber = :psub, \
                 leaseCounter = :next REMOVE pendingCheckpointState",
            ),
        };
        self.written("UpdateItem (prepare checkpoint)", update, held, me)
            .await
    }

    /// Writes `childShardIds` at shard end, fenced like a renewal.
    pub(crate) async fn set_child_shard_ids(
        &self,
        key: &str,
        held: u64,
        me: &str,
        children: &[String],
    ) -> Result<Written> {
        let Some(set) = codec::string_set(children) else {
            return Ok(Written {
                counter: held,
                handoff_to: None,
            });
        };
        let update = self
            .held_update(key, held, me)
            .update_expression("SET childShardIds = :children, leaseCounter = :next")
            .expression_attribute_values(":children", set);
        self.written("UpdateItem (child shard ids)", update, held, me)
            .await
    }

    /// Completes a hand-off this worker is the `checkpointOwner` of: `REMOVE
    /// checkpointOwner`, counter + 1, the new owner's switch counted.
    pub(crate) async fn complete_handoff(
        &self,
        key: &str,
        held: u64,
        me: &str,
        to: &str,
    ) -> Result<u64> {
        let update = self
            .update(key)
            .update_expression(
                "SET leaseCounter = :next ADD ownerSwitchesSinceCheckpoint :one REMOVE checkpointOwner",
            )
            .condition_expression("leaseCounter = :held AND checkpointOwner = :me AND leaseOwner = :to")
            .expression_attribute_values(":held", n(held))
            .expression_attribute_values(":next", n(held + 1))
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":one", n(1));
        self.call(
            self.timeouts.lease,
            "UpdateItem (complete hand-off)",
            update.send(),
        )
        .await?;
        Ok(held + 1)
    }

    /// Hands a held lease straight to `to` (after the processor's final checkpoint, on a
    /// graceful shutdown): `leaseOwner := to`, counter + 1, the switch counted; `to` finds
    /// it through the hand-over index (`kclHandoverTo := to`).
    pub(crate) async fn assign(&self, key: &str, held: u64, me: &str, to: &str) -> Result<u64> {
        let update = self
            .update(key)
            .update_expression(
                "SET leaseOwner = :to, kclHandoverTo = :to, leaseCounter = :next \
                 ADD ownerSwitchesSinceCheckpoint :one REMOVE checkpointOwner",
            )
            .condition_expression("leaseCounter = :held AND leaseOwner = :me")
            .expression_attribute_values(":held", n(held))
            .expression_attribute_values(":next", n(held + 1))
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":one", n(1));
        self.call(self.timeouts.lease, "UpdateItem (assign)", update.send())
            .await?;
        Ok(held + 1)
    }

    /// Starts a hand-off of a lease `from` its owner to `to`: `leaseOwner := to,
    /// checkpointOwner := from`, the counter untouched. Asked for by `to` (a steal), or
    /// offered by `from` (a leaver), which also marks the lease for `to` to find
    /// (`kclHandoverTo := to`).
    pub(crate) async fn initiate_handoff(
        &self,
        key: &str,
        from: &str,
        to: &str,
        offered: bool,
    ) -> Result<()> {
        let expression = if offered {
            "SET leaseOwner = :to, checkpointOwner = :from, kclHandoverTo = :to"
        } else {
            "SET leaseOwner = :to, checkpointOwner = :from"
        };
        let update = self
            .update(key)
            .update_expression(expression)
            .condition_expression(
                "attribute_exists(leaseKey) AND leaseOwner = :from AND attribute_not_exists(checkpointOwner)",
            )
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to));
        self.call(
            self.timeouts.lease,
            "UpdateItem (initiate hand-off)",
            update.send(),
        )
        .await?;
        Ok(())
    }

    /// Takes (or steals, or ends a hand-off that timed out) a lease seen with `seen` counter
    /// and `previous` actual owner: owner := me, `kclHolder` := me, counter + 1, `checkpointOwner` and
    /// `kclHandoverTo` removed, ownerSwitchesSinceCheckpoint + 1 when the owner changes.
    pub(crate) async fn take(
        &self,
        key: &str,
        seen: u64,
        previous: Option<&str>,
        me: &str,
    ) -> Result<u64> {
        let switches = previous.is_some_and(|p| p != me);
        let expression = if switches {
            "SET leaseOwner = :me, kclHolder = :me, leaseCounter = :next \
             ADD ownerSwitchesSinceCheckpoint :one REMOVE checkpointOwner, kclHandoverTo"
        } else {
            "SET leaseOwner = :me, kclHolder = :me, leaseCounter = :next \
             REMOVE checkpointOwner, kclHandoverTo"
        };
        let mut update = self
            .update(key)
            .update_expression(expression)
            .condition_expression("attribute_exists(leaseKey) AND leaseCounter = :seen")
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":next", n(seen + 1))
            .expression_attribute_values(":seen", n(seen));
        if switches {
            update = update.expression_attribute_values(":one", n(1));
        }
        self.call(self.timeouts.lease, "UpdateItem (take)", update.send())
            .await?;
        Ok(seen + 1)
    }

    /// Releases a lease on graceful shutdown when no other worker is known: owner removed,
    /// counter + 1, fenced on the owner being me.
    pub(crate) async fn release(&self, key: &str, me: &str) -> Result<()> {
        let update = self
            .update(key)
            .update_expression(
                "SET leaseCounter = leaseCounter + :one REMOVE leaseOwner, checkpointOwner, kclHandoverTo",
            )
            .condition_expression("leaseOwner = :me")
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":one", n(1));
        self.call(self.timeouts.lease, "UpdateItem (release)", update.send())
            .await?;
        Ok(())
    }

    /// Removes a stale `kclHandoverTo` naming `me` from a lease `me` does not own (taken by
    /// a worker that does not know the mark, such as a Java one) or that is finished, so
    /// the hand-over index stops listing it. The counter is untouched: no owner's write is disturbed.
    pub(crate) async fn clear_handover_mark(&self, key: &str, me: &str) -> Result<()> {
        let update = self
            .update(key)
            .update_expression("REMOVE kclHandoverTo")
            .condition_expression(
                "kclHandoverTo = :me AND \
                 (attribute_not_exists(leaseOwner) OR leaseOwner <> :me OR checkpoint = :end)",
            )
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":end", s(crate::position::SHARD_END));
        self.call(
            self.timeouts.lease,
            "UpdateItem (clear hand-over mark)",
            update.send(),
        )
        .await
        .map(drop)
    }

    fn update(&self, key: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::LEASE_KEY, s(key))
    }

    /// An update of a held lease: fenced on [`HELD`], returning the item as written.
    fn held_update(&self, key: &str, held: u64, me: &str) -> UpdateItemFluentBuilder {
        self.update(key)
            .condition_expression(HELD)
            .expression_attribute_values(":held", n(held))
            .expression_attribute_values(":next", n(held + 1))
            .expression_attribute_values(":me", s(me))
            .return_values(ReturnValue::AllNew)
    }

    async fn written(
        &self,
        operation: &'static str,
        update: UpdateItemFluentBuilder,
        held: u64,
        me: &str,
    ) -> Result<Written> {
        let out = self
            .call(self.timeouts.lease, operation, update.send())
            .await?;
        let text = |name: &str| match out.attributes().and_then(|a| a.get(name)) {
            Some(AttributeValue::S(v)) => Some(v.as_str()),
            _ => None,
        };
        let handoff_to = match (text(attr::CHECKPOINT_OWNER), text(attr::LEASE_OWNER)) {
            (Some(from), Some(to)) if from == me && to != me => Some(to.to_owned()),
            _ => None,
        };
        Ok(Written {
            counter: held + 1,
            handoff_to,
        })
    }
}
