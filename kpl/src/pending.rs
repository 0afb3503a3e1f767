//! A user record inside the pipeline, from the put to its result.
//!
//! It owns its completion channel; whatever happens, it completes exactly once: with a
//! result, with an error carrying the record back, or (if it is ever dropped uncompleted)
//! with [`PutErrorKind::ShutDown`]. Its share of the backpressure budget travels beside it
//! (with the command that carries it, then in the driver's share) and is returned by the
//! driver when it completes: [`charge`](crate::budget::charge) tells how much.

use std::sync::Arc;

use kinesis_agg::{HashKey, UserRecord};
use tokio::time::{Duration, Instant};

pub(crate) use crate::completion::{Completion, Deliveries, Outcome};
use crate::error::{PutError, PutErrorKind};
use crate::record::{Attempt, Attempts, PutResult, Record};

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

/// A record the driver holds: due by its deadline, failed at its expiry. Kept small (it is
/// moved into its shard's aggregate, tens of thousands are outstanding): times after the
/// put as nanosecond offsets, failed attempts boxed, the hash key recomputed on the rare
/// paths that route a record again.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) record: UserRecord,
    pub(crate) stream: Arc<str>,
    arrived: Instant,
    deadline_after: u64,
    expiry_after: u64,
    failures: Failures,
    done: Option<Completion>,
}

/// The failed attempts of a record in the pipeline: nothing allocated until one fails.
#[derive(Debug, Default)]
#[allow(clippy::box_collection)] // one pointer in the record instead of a vector's three words
struct Failures(Option<Box<Vec<Attempt>>>);

impl Failures {
    fn as_slice(&self) -> &[Attempt] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    fn take(&mut self) -> Vec<Attempt> {
        self.0.take().map_or_else(Vec::new, |v| *v)
    }
}

/// Nanoseconds from `from` to `to` (0 if `to` is earlier).
fn nanos_after(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_nanos()).unwrap_or(u64::MAX)
}

impl Pending {
    /// The driver's record for `incoming`; `None` if it was already taken (never).
    pub(crate) fn new(
        mut incoming: Incoming,
        seq: u64,
        deadline: Instant,
        expiry: Instant,
    ) -> Option<Pending> {
        let Parts { record, done } = incoming.parts.take()?;
        let arrived = incoming.arrived;
        Some(Pending {
            seq,
            record,
            stream: incoming.stream.clone(),
            arrived,
            deadline_after: nanos_after(arrived, deadline),
            expiry_after: nanos_after(arrived, expiry),
            failures: Failures::default(),
            done: Some(done),
        })
    }

    /// When it was put.
    pub(crate) fn arrived(&self) -> Instant {
        self.arrived
    }

    /// When it is due to be sent.
    pub(crate) fn deadline(&self) -> Instant {
        self.arrived + Duration::from_nanos(self.deadline_after)
    }

    /// Makes it due at `deadline`.
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline_after = nanos_after(self.arrived, deadline);
    }

    /// When it fails as expired.
    pub(crate) fn expiry(&self) -> Instant {
        self.arrived + Duration::from_nanos(self.expiry_after)
    }

    /// Where it routes: its explicit hash key, else the MD5 of its partition key (computed
    /// again: only records routed a second time need it).
    pub(crate) fn hash_key(&self) -> HashKey {
        self.record.hash_key()
    }

    /// Its failed attempts, in order.
    pub(crate) fn attempts(&self) -> &[Attempt] {
        self.failures.as_slice()
    }

    /// Records a failed attempt.
    pub(crate) fn push_attempt(&mut self, attempt: Attempt) {
        self.failures
            .0
            .get_or_insert_with(Box::default)
            .push(attempt);
    }

    /// When the last attempt ended (or the put), to compute the next attempt's delay.
    pub(crate) fn idle_since(&self) -> Instant {
        self.attempts()
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
        let attempts = Attempts::then(self.failures.take(), last);
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
        let attempts = Attempts::from_vec(self.failures.take());
        if let Some(done) = self.done.take() {
            done.send(Err(Box::new(PutError::new(kind, record.clone(), attempts))));
        }
        record
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let attempts = Attempts::from_vec(self.failures.take());
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
            let (d, e) = (u.deadline(), u.expiry());
            deadline = Some(deadline.map_or(d, |x| x.min(d)));
            expiry = Some(expiry.map_or(e, |x| x.min(e)));
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

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    #[test]
    fn a_pending_record_stays_within_three_cache_lines() {
        // Tens of thousands are outstanding and each is moved into its shard's aggregate:
        // its size is memory traffic per record (it was 240 bytes before the times became
        // offsets and the hash key and attempts left it).
        assert!(size_of::<super::Pending>() <= 168);
    }
}
