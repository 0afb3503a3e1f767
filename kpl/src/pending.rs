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

    /// Completes it with `kind` (it was never taken in) and hands the record back.
    pub(crate) fn fail(mut self, kind: PutErrorKind) -> Option<Record> {
        let Parts { record, done } = self.parts.take()?;
        let record = to_record(&self.stream, &record);
        let error = PutError::new(kind, record.clone(), Attempts::default());
        done.send(Err(Box::new(error)));
        Some(record)
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

/// A stream's name as its records hold it: one pointer to the driver's name, not the two
/// words of an `Arc<str>`.
pub(crate) type StreamName = Arc<Arc<str>>;

/// A record the driver holds: due by its deadline, failed at its expiry. Kept to two cache
/// lines (each record is written into its shard's aggregate, where that write is mostly
/// cache misses, and tens of thousands are outstanding): times after the put in 25 µs
/// ticks, failed attempts boxed, the hash key recomputed on the rare paths that route a
/// record again, the stream's name shared.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) record: UserRecord,
    stream: StreamName,
    arrived: Instant,
    deadline_after: Ticks,
    expiry_after: Ticks,
    failures: Failures,
    done: Option<Completion>,
}

/// A time after the put, in ticks of 25 µs: whole milliseconds are exact, and 32 bits
/// cover 29 hours, past the longest TTL (one day) and so past every deadline. Rounded
/// down: a record is due or expires at most 25 µs early.
#[derive(Clone, Copy, Debug)]
struct Ticks(u32);

impl Ticks {
    const NANOS: u64 = 25_000;

    /// From `from` to `to` (0 if `to` is earlier; the most a `u32` holds past 29 hours).
    fn between(from: Instant, to: Instant) -> Ticks {
        let ticks = to.saturating_duration_since(from).as_nanos() / u128::from(Ticks::NANOS);
        Ticks(u32::try_from(ticks).unwrap_or(u32::MAX))
    }

    /// `from` plus these ticks.
    fn after(self, from: Instant) -> Instant {
        from + Duration::from_nanos(u64::from(self.0) * Ticks::NANOS)
    }
}

/// The failed attempts of a record in the pipeline: nothing allocated until one fails,
/// and at most [`Attempts::KEPT`] kept however many it makes (the first, and the last ones).
#[derive(Debug, Default)]
struct Failures(Option<Box<FailureLog>>);

#[derive(Debug)]
struct FailureLog {
    kept: Vec<Attempt>,
    /// Attempts dropped between the first and the last ones.
    omitted: u32,
    /// When the last attempt ended (the next attempt's delay counts from it).
    last_end: Instant,
}

impl Failures {
    fn as_slice(&self) -> &[Attempt] {
        self.0.as_deref().map_or(&[], |log| log.kept.as_slice())
    }

    fn push(&mut self, attempt: Attempt, ended: Instant) {
        let log = self.0.get_or_insert_with(|| {
            Box::new(FailureLog {
                kept: Vec::with_capacity(Attempts::KEPT),
                omitted: 0,
                last_end: ended,
            })
        });
        if log.kept.len() >= Attempts::KEPT {
            // Keep the first; drop the oldest of the last ones.
            log.kept.remove(1);
            log.omitted = log.omitted.saturating_add(1);
        }
        log.kept.push(attempt);
        log.last_end = ended;
    }

    /// The attempts, then `last` (kept within the bound).
    fn finish(&mut self, last: Option<Attempt>) -> Attempts {
        let Some(mut log) = self.0.take() else {
            return Attempts::from_kept(last.into_iter().collect(), 0);
        };
        if let Some(last) = last {
            if log.kept.len() >= Attempts::KEPT {
                log.kept.remove(1);
                log.omitted = log.omitted.saturating_add(1);
            }
            log.kept.push(last);
        }
        Attempts::from_kept(log.kept, log.omitted)
    }
}

impl Pending {
    /// The driver's record for `incoming` (of the stream `stream`); `None` if it was
    /// already taken (never).
    pub(crate) fn new(
        mut incoming: Incoming,
        stream: &StreamName,
        seq: u64,
        deadline: Instant,
        expiry: Instant,
    ) -> Option<Pending> {
        let Parts { record, done } = incoming.parts.take()?;
        let arrived = incoming.arrived;
        Some(Pending {
            seq,
            record,
            stream: stream.clone(),
            arrived,
            deadline_after: Ticks::between(arrived, deadline),
            expiry_after: Ticks::between(arrived, expiry),
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
        self.deadline_after.after(self.arrived)
    }

    /// Makes it due at `deadline`.
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline_after = Ticks::between(self.arrived, deadline);
    }

    /// When it fails as expired.
    pub(crate) fn expiry(&self) -> Instant {
        self.expiry_after.after(self.arrived)
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
        let ended = self.idle_since() + attempt.delay + attempt.duration;
        self.failures.push(attempt, ended);
    }

    /// When the last attempt ended (or the put), to compute the next attempt's delay.
    pub(crate) fn idle_since(&self) -> Instant {
        self.failures
            .0
            .as_deref()
            .map_or(self.arrived, |log| log.last_end)
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
        let attempts = self.failures.finish(Some(last));
        if let Some(done) = self.done.take() {
            let result = PutResult {
                shard_id,
                sequence_number,
                sub_sequence_number,
                attempts,
            };
            let key = self.record.take_partition_key();
            deliveries.send(done, Ok(result), key);
        }
    }

    /// Completes with an error, handing the record back.
    pub(crate) fn fail(mut self, kind: PutErrorKind) -> Record {
        let record = self.to_record();
        let attempts = self.failures.finish(None);
        if let Some(done) = self.done.take() {
            done.send(Err(Box::new(PutError::new(kind, record.clone(), attempts))));
        }
        record
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let attempts = self.failures.finish(None);
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
    #[tokio::test(start_paused = true)]
    async fn a_record_failing_for_hours_keeps_a_bounded_history() {
        // 6: one attempt every 50 ms for an hour of throttling.
        let (mut p, mut rx) = crate::testing::pending(0, "k", "v", 100, 86_400_000);
        let failed = |ms: u64| super::Attempt {
            delay: tokio::time::Duration::from_millis(ms),
            duration: tokio::time::Duration::from_millis(1),
            error: None,
        };
        for i in 0..72_000 {
            p.push_attempt(failed(i));
        }
        assert!(
            p.attempts().len() <= 4,
            "{} attempts kept",
            p.attempts().len()
        );
        let kept: Vec<u128> = p.attempts().iter().map(|a| a.delay.as_millis()).collect();
        assert_eq!(
            kept,
            [0, 71_997, 71_998, 71_999],
            "the first and the last ones"
        );
        // The delays still count from the end of the last attempt.
        let since = p.idle_since() - p.arrived();
        let made: u64 = (0..72_000u64).map(|i| i + 1).sum();
        assert_eq!(since, tokio::time::Duration::from_millis(made));
        p.fail(crate::PutErrorKind::Expired);
        let Ok(Err(error)) = rx.try_recv() else {
            panic!("failed")
        };
        assert_eq!(error.attempts.len(), 4);
        assert_eq!(
            (error.attempts.omitted(), error.attempts.total()),
            (71_996, 72_000)
        );
    }

    #[test]
    fn a_pending_record_stays_within_two_cache_lines() {
        // Tens of thousands are outstanding and each is written into its shard's aggregate:
        // its size is memory traffic per record (240 bytes at first, then 168).
        assert!(size_of::<super::Pending>() <= 128);
    }

    #[test]
    fn ticks_keep_whole_milliseconds_round_down_and_cover_a_day() {
        use super::Ticks;
        use tokio::time::{Duration, Instant};
        let t0 = Instant::now();
        let at = |d: Duration| Ticks::between(t0, t0 + d).after(t0) - t0;
        for ms in [0, 1, 7, 100, 150, 30_000, 86_400_000] {
            assert_eq!(at(Duration::from_millis(ms)), Duration::from_millis(ms));
        }
        assert_eq!(
            at(Duration::from_micros(1_049)),
            Duration::from_micros(1_025)
        );
        assert_eq!(
            Ticks::between(t0 + Duration::from_secs(1), t0).after(t0),
            t0
        );
        let far = Ticks::between(t0, t0 + Duration::from_secs(200_000)).after(t0) - t0;
        assert!(far > Duration::from_secs(29 * 3600) && far < Duration::from_secs(30 * 3600));
    }
}
