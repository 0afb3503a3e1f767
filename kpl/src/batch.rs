//! The results of a batch put: one shared slot for all its records instead of a channel
//! and a future per record.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::PutError;
use crate::pending::Outcome;
use crate::record::PutResult;

/// Where the records of one batch put their outcomes, by index.
#[derive(Debug)]
pub(crate) struct BatchSlot {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
    waker: Option<Waker>,
    /// The partition keys of the records written, freed where the batch is awaited (the
    /// caller's thread, which allocated them) rather than on the stream's driver: glibc's
    /// malloc pays dearly for freeing on another thread what one thread allocated.
    spent: Vec<String>,
}

impl BatchSlot {
    /// A slot for `len` records.
    pub(crate) fn new(len: usize) -> Arc<BatchSlot> {
        Arc::new(BatchSlot {
            state: Mutex::new(State {
                outcomes: std::iter::repeat_with(|| None).take(len).collect(),
                remaining: len,
                waker: None,
                spent: Vec::with_capacity(len),
            }),
        })
    }

    /// The keys held for the caller to free.
    #[cfg(test)]
    pub(crate) fn spent(&self) -> Vec<String> {
        self.lock().spent.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the outcome of record `index` (the first outcome of an index counts).
    pub(crate) fn complete(&self, index: usize, outcome: Outcome) {
        self.complete_many(&mut vec![(index, outcome)], &mut Vec::new());
    }

    /// Records several outcomes under one lock, draining `outcomes`, and keeps the
    /// partition keys in `spent` (drained) until the batch is awaited.
    pub(crate) fn complete_many(
        &self,
        outcomes: &mut Vec<(usize, Outcome)>,
        spent: &mut Vec<String>,
    ) {
        let waker = {
            let mut state = self.lock();
            state.spent.append(spent);
            for (index, outcome) in outcomes.drain(..) {
                if let Some(slot) = state.outcomes.get_mut(index).filter(|s| s.is_none()) {
                    *slot = Some(outcome);
                    state.remaining -= 1;
                }
            }
            if state.remaining > 0 {
                return;
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Resolves when every record of a [`Producer::put_batch`](crate::Producer::put_batch) is
/// written or has failed, with one result per record in the order they were given (errors
/// boxed). Dropping it does not cancel the records.
///
/// ```no_run
/// # async fn demo(producer: kpl::Producer) {
/// let records = (0..500).map(|i| kpl::Record::new("orders", format!("k{i}"), "v"));
/// let results = producer.put_batch(records).await.await;
/// assert_eq!(results.len(), 500);
/// let failed = results.iter().filter(|r| r.is_err()).count();
/// # }
/// ```
#[derive(Debug)]
pub struct BatchHandle {
    slot: Arc<BatchSlot>,
}

impl BatchHandle {
    pub(crate) fn new(slot: Arc<BatchSlot>) -> BatchHandle {
        BatchHandle { slot }
    }
}

impl Future for BatchHandle {
    /// One result per record, in order; errors boxed (a result is the size of a
    /// [`PutResult`], not of the record an error hands back).
    type Output = Vec<Result<PutResult, Box<PutError>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        if state.remaining > 0 {
            state.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let outcomes = std::mem::take(&mut state.outcomes);
        let spent = std::mem::take(&mut state.spent);
        drop(state);
        drop(spent); // here, on the caller's thread
        // Every index was filled (remaining reached 0), so nothing is skipped. `filter_map`
        // (not `flatten`) collects in place, in the slot's own allocation.
        #[allow(clippy::filter_map_identity)]
        Poll::Ready(outcomes.into_iter().filter_map(|o| o).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a broken expectation panics
mod tests {
    use super::*;
    use crate::error::PutErrorKind;
    use crate::record::{Attempts, Record};
    use futures::FutureExt;

    fn written(n: u64) -> Outcome {
        Ok(PutResult {
            shard_id: "shardId-000000000000".into(),
            sequence_number: "1".into(),
            sub_sequence_number: n,
            attempts: Attempts::default(),
        })
    }

    #[test]
    fn resolves_once_every_index_is_in_with_results_in_order() {
        let slot = BatchSlot::new(3);
        let mut handle = BatchHandle::new(slot.clone());
        slot.complete(2, written(2));
        let failed = PutError::new(
            PutErrorKind::Expired,
            Record::new("s", "k", "v"),
            Attempts::default(),
        );
        slot.complete(0, Err(Box::new(failed)));
        assert!((&mut handle).now_or_never().is_none(), "one is missing");
        slot.complete(2, written(9)); // a second outcome of an index is ignored
        assert!((&mut handle).now_or_never().is_none());
        slot.complete(1, written(1));
        let results = handle.now_or_never().unwrap();
        assert_eq!(results.len(), 3);
        assert!(matches!(
            results[0].as_ref().unwrap_err().kind,
            PutErrorKind::Expired
        ));
        assert_eq!(results[1].as_ref().unwrap().sub_sequence_number, 1);
        assert_eq!(results[2].as_ref().unwrap().sub_sequence_number, 2);
    }

    #[test]
    fn an_empty_batch_is_ready_at_once() {
        let results = BatchHandle::new(BatchSlot::new(0)).now_or_never().unwrap();
        assert!(results.is_empty());
    }
}
