//! Where a record's outcome goes: its own channel (`put`) or its place in a batch's slot
//! (`put_batch`), delivered a run at a time.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::batch::BatchSlot;
use crate::error::PutError;
use crate::record::PutResult;

/// What a record's channel carries: the error boxed, so the slot allocated per record is
/// the size of a [`PutResult`].
pub(crate) type Outcome = Result<PutResult, Box<PutError>>;

/// Where a record's outcome goes: its own channel (`put`), or its place in a batch's slot
/// (`put_batch`).
#[derive(Debug)]
pub(crate) enum Completion {
    One(oneshot::Sender<Outcome>),
    /// The batch's slot and the record's place in it (32 bits: with the tag in the spare
    /// bytes, an `Option<Completion>` is two words).
    Batch(Arc<BatchSlot>, u32),
}

impl Completion {
    /// Delivers the outcome (dropped if the caller is no longer waiting).
    pub(crate) fn send(self, outcome: Outcome) {
        match self {
            Completion::One(tx) => {
                let _ = tx.send(outcome);
            }
            Completion::Batch(slot, index) => slot.complete(index as usize, outcome),
        }
    }
}

/// Delivers the outcomes of records completed together (the user records of one Kinesis
/// record), taking a batch's lock once per run of its records rather than once per record.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    slot: Option<Arc<BatchSlot>>,
    run: Vec<(usize, Outcome)>,
    /// The partition keys of the run's records, for its batch to free (see `BatchSlot`).
    spent: Vec<String>,
}

impl Deliveries {
    /// Delivers `outcome` to `done` now, or with the rest of its batch's run; a batch also
    /// takes the record's `key` to free on its caller's thread.
    pub(crate) fn send(&mut self, done: Completion, outcome: Outcome, key: String) {
        match done {
            Completion::One(tx) => {
                let _ = tx.send(outcome);
                drop(key);
            }
            Completion::Batch(slot, index) => {
                if !self.slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    self.finish();
                    self.slot = Some(slot);
                }
                self.run.push((index as usize, outcome));
                self.spent.push(key);
            }
        }
    }

    /// Delivers the run held.
    pub(crate) fn finish(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.complete_many(&mut self.run, &mut self.spent);
        }
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a broken expectation panics
mod tests {
    use super::*;
    use crate::batch::BatchHandle;
    use crate::record::Attempts;
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
        deliveries.send(Completion::Batch(one.clone(), 1), written(0), "k0".into());
        deliveries.send(Completion::Batch(one.clone(), 0), written(1), "k1".into());
        deliveries.send(Completion::One(tx), written(2), "k2".into());
        deliveries.send(Completion::Batch(two.clone(), 0), written(3), "k3".into());
        assert_eq!(rx.try_recv().unwrap().unwrap().sub_sequence_number, 2);
        deliveries.send(Completion::Batch(one.clone(), 1), written(9), "k9".into()); // a second outcome: ignored
        deliveries.send(Completion::Batch(two.clone(), 1), written(4), "k4".into());
        assert!(
            BatchHandle::new(two.clone()).now_or_never().is_none(),
            "a run is delivered when the next one starts or at finish"
        );
        drop(deliveries); // finishes the run held
        assert_eq!(
            one.spent(),
            ["k0", "k1", "k9"],
            "keys kept for the batch's caller"
        );
        assert_eq!(two.spent(), ["k3", "k4"]);
        let subs = |slot| -> Vec<u64> {
            BatchHandle::new(slot)
                .now_or_never()
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap().sub_sequence_number)
                .collect()
        };
        assert_eq!(subs(one.clone()), [1, 0]);
        assert_eq!(subs(two), [3, 4]);
        assert!(one.spent().is_empty(), "freed where the batch was awaited");
    }
}
