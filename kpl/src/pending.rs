//! A user record inside the pipeline, from the put to its result.
//!
//! It owns its completion channel; whatever happens, it completes exactly once: with a
//! result, with an error carrying the record back, or (if it is ever dropped uncompleted)
//! with [`PutErrorKind::ShutDown`]. Its share of the backpressure budget travels beside it
//! (with the command that carries it, then in the driver's share) and is returned by the
//! driver when it completes: [`charge`](crate::budget::charge) tells how much.

use std::sync::Arc;

use kinesis_agg::{HashKey, UserRecord};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::batch::BatchSlot;
use crate::error::{PutError, PutErrorKind};
use crate::record::{Attempt, Attempts, PutResult, Record};

/// What a record's channel carries: the error boxed, so the slot allocated per record is
/// the size of a [`PutResult`].
pub(crate) type Outcome = Result<PutResult, Box<PutError>>;

/// Where a record's outcome goes: its own channel (`put`), or its place in a batch's slot
/// (`put_batch`).
#[derive(Debug)]
pub(crate) enum Completion {
    One(oneshot::Sender<Outcome>),
    Batch(Arc<BatchSlot>, usize),
}

impl Completion {
    /// Delivers the outcome (dropped if the caller is no longer waiting).
    pub(crate) fn send(self, outcome: Outcome) {
        match self {
            Completion::One(tx) => {
                let _ = tx.send(outcome);
            }
            Completion::Batch(slot, index) => slot.complete(index, outcome),
        }
    }
}

/// Delivers the outcomes of records completed together (the user records of one Kinesis
/// record), taking a batch's lock once per run of its records rather than once per record.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    slot: Option<Arc<BatchSlot>>,
    run: Vec<(usize, Outcome)>,
}

impl Deliveries {
    /// Delivers `outcome` to `done` now, or with the rest of its batch's run.
    pub(crate) fn send(&mut self, done: Completion, outcome: Outcome) {
        match done {
            Completion::One(tx) => {
                let _ = tx.send(outcome);
            }
            Completion::Batch(slot, index) => {
                if !self.slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    self.finish();
                    self.slot = Some(slot);
                }
                self.run.push((index, outcome));
            }
        }
    }

    /// Delivers the run held.
    pub(crate) fn finish(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.complete_many(&mut self.run);
        }
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A validated record on its way into a stream's driver. Dropped before it reaches the
/// driver (the driver is gone), it fails with [`PutErrorKind::ShutDown`].
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) stream: Arc<str>,
    pub(crate) arrived: Instant,
    parts: Option<Parts>,
}

#[derive(Debug)]
struct Parts {
    record: UserRecord,
    done: Completion,
}

impl Incoming {
    /// A record put at `arrived`.
    pub(crate) fn new(
        record: UserRecord,
        stream: Arc<str>,
        done: Completion,
        arrived: Instant,
    ) -> Incoming {
        Incoming {
            stream,
            arrived,
            parts: Some(Parts { record, done }),
        }
    }

    /// The record (always there until the driver takes it).
    pub(crate) fn record(&self) -> Option<&UserRecord> {
        self.parts.as_ref().map(|p| &p.record)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(Parts { record, done }) = self.parts.take() {
            let record = to_record(&self.stream, &record);
            done.send(Err(Box::new(PutError::new(
                PutErrorKind::ShutDown,
                record,
                Attempts::default(),
            ))));
        }
    }
}

/// The record as the caller put it, from its validated form.
pub(crate) fn to_record(stream: &Arc<str>, record: &UserRecord) -> Record {
    Record {
        stream: stream.clone(),
        partition_key: record.partition_key().to_owned(),
        explicit_hash_key: record.explicit_hash_key().map(|k| k.to_string()),
        data: record.data().clone(),
    }
}

/// A record the driver holds: routed by `hash_key`, due by `deadline`, failed at `expiry`.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) record: UserRecord,
    pub(crate) stream: Arc<str>,
    pub(crate) hash_key: HashKey,
    pub(crate) arrived: Instant,
    pub(crate) deadline: Instant,
    pub(crate) expiry: Instant,
    /// Failed attempts so far (empty, without an allocation, until one fails; the
    /// successful attempt is added when the record completes).
    pub(crate) attempts: Vec<Attempt>,
    done: Option<Completion>,
}

impl Pending {
    /// The driver's record for `incoming`; `None` if it was already taken (never).
    pub(crate) fn new(
        mut incoming: Incoming,
        seq: u64,
        hash_key: HashKey,
        deadline: Instant,
        expiry: Instant,
    ) -> Option<Pending> {
        let Parts { record, done } = incoming.parts.take()?;
        let arrived = incoming.arrived;
        Some(Pending {
            seq,
            record,
            stream: incoming.stream.clone(),
            hash_key,
            arrived,
            deadline,
            expiry,
            attempts: Vec::new(),
            done: Some(done),
        })
    }

    /// When the last attempt ended (or the put), to compute the next attempt's delay.
    pub(crate) fn idle_since(&self) -> Instant {
        self.attempts
            .iter()
            .fold(self.arrived, |t, a| t + a.delay + a.duration)
    }

    /// What it counts against the backpressure budget.
    pub(crate) fn charge(&self) -> usize {
        crate::budget::charge(&self.record)
    }

    /// Data + partition key bytes.
    pub(crate) fn size(&self) -> usize {
        self.record.size()
    }

    /// The record as the caller put it.
    pub(crate) fn to_record(&self) -> Record {
        to_record(&self.stream, &self.record)
    }

    /// Completes with where it landed after its `last` attempt, through `deliveries`.
    pub(crate) fn succeed(
        mut self,
        shard_id: Arc<str>,
        sequence_number: Arc<str>,
        sub_sequence_number: u64,
        last: Attempt,
        deliveries: &mut Deliveries,
    ) {
        let attempts = Attempts::then(std::mem::take(&mut self.attempts), last);
        if let Some(done) = self.done.take() {
            deliveries.send(
                done,
                Ok(PutResult {
                    shard_id,
                    sequence_number,
                    sub_sequence_number,
                    attempts,
                }),
            );
        }
    }

    /// Completes with an error, handing the record back.
    pub(crate) fn fail(mut self, kind: PutErrorKind) -> Record {
        let record = self.to_record();
        let attempts = Attempts::from_vec(std::mem::take(&mut self.attempts));
        if let Some(done) = self.done.take() {
            done.send(Err(Box::new(PutError::new(kind, record.clone(), attempts))));
        }
        record
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let attempts = Attempts::from_vec(std::mem::take(&mut self.attempts));
            done.send(Err(Box::new(PutError::new(
                PutErrorKind::ShutDown,
                self.to_record(),
                attempts,
            ))));
        }
    }
}

/// One Kinesis record ready to send: an aggregate (or a record alone) and its user records
/// in order (the index is the sub-sequence number).
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The shard it was aggregated for; `None` when the shard map was unknown.
    pub(crate) shard: Option<Arc<str>>,
    pub(crate) record: kinesis_agg::Unsealed,
    pub(crate) users: Vec<Pending>,
    pub(crate) deadline: Instant,
    pub(crate) expiry: Instant,
    /// When the oldest of its user records was put.
    pub(crate) oldest: Instant,
}

impl Outgoing {
    pub(crate) fn new(
        shard: Option<Arc<str>>,
        record: kinesis_agg::Unsealed,
        users: Vec<Pending>,
    ) -> Outgoing {
        let now = Instant::now();
        let (mut deadline, mut expiry, mut oldest) =
            (None::<Instant>, None::<Instant>, None::<Instant>);
        for u in &users {
            deadline = Some(deadline.map_or(u.deadline, |d| d.min(u.deadline)));
            expiry = Some(expiry.map_or(u.expiry, |e| e.min(u.expiry)));
            oldest = Some(oldest.map_or(u.arrived, |o| o.min(u.arrived)));
        }
        Outgoing {
            shard,
            record,
            users,
            deadline: deadline.unwrap_or(now),
            expiry: expiry.unwrap_or(now),
            oldest: oldest.unwrap_or(now),
        }
    }

    /// Bytes it counts against request limits (data + partition key).
    pub(crate) fn size(&self) -> usize {
        self.record.size()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a broken expectation panics
mod tests {
    use super::*;
    use crate::batch::BatchHandle;
    use futures::FutureExt;

    fn written(sub: u64) -> Outcome {
        Ok(PutResult {
            shard_id: "shardId-000000000001".into(),
            sequence_number: "7".into(),
            sub_sequence_number: sub,
            attempts: Attempts::default(),
        })
    }

    #[test]
    fn runs_of_interleaved_batches_reach_their_own_slots_and_places() {
        let (one, two) = (BatchSlot::new(2), BatchSlot::new(2));
        let (tx, mut rx) = oneshot::channel();
        let mut deliveries = Deliveries::default();
        deliveries.send(Completion::Batch(one.clone(), 1), written(0));
        deliveries.send(Completion::Batch(one.clone(), 0), written(1));
        deliveries.send(Completion::One(tx), written(2));
        deliveries.send(Completion::Batch(two.clone(), 0), written(3));
        assert_eq!(rx.try_recv().unwrap().unwrap().sub_sequence_number, 2);
        deliveries.send(Completion::Batch(one.clone(), 1), written(9)); // a second outcome: ignored
        deliveries.send(Completion::Batch(two.clone(), 1), written(4));
        assert!(
            BatchHandle::new(two.clone()).now_or_never().is_none(),
            "a run is delivered when the next one starts or at finish"
        );
        drop(deliveries); // finishes the run held
        let subs = |slot| -> Vec<u64> {
            BatchHandle::new(slot)
                .now_or_never()
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap().sub_sequence_number)
                .collect()
        };
        assert_eq!(subs(one), [1, 0]);
        assert_eq!(subs(two), [3, 4]);
    }
}
